from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"

    def ready(self) -> None:
        from subscribers import checks  # noqa: F401 (registers the system checks)
