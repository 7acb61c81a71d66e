from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "newsletter"

    def ready(self) -> None:
        from anymail import signals

        from newsletter import checks, tracking  # noqa: F401 (registers newsletter.W001 and E001)

        signals.tracking.connect(tracking.handle_tracking_event, dispatch_uid="newsletter.tracking")
