from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "newsletter"

    def ready(self) -> None:
        from anymail import signals

        from newsletter import tracking  # also registers the system check newsletter.E001

        signals.tracking.connect(tracking.handle_tracking_event, dispatch_uid="newsletter.tracking")
