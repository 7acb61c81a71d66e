from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.caches, deploy=True)
def rate_limits_need_a_shared_cache(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        return [
            checks.Info(
                "Signup rate limits are counted per web process (no REDIS_URL).",
                hint="Set REDIS_URL so that every gunicorn worker shares one count.",
                id="subscribers.I001",
            )
        ]
    return []
