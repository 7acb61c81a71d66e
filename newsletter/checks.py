"""System checks of the newsletter app that only ``check --deploy`` runs."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


@checks.register(deploy=True)
def digests_carry_a_postal_address(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Anti-spam laws (CAN-SPAM, and most ESPs' terms) want the sender's postal address in every
    commercial email: the digest footer shows POSTAL_ADDRESS."""
    if settings.POSTAL_ADDRESS.strip():
        return []
    return [
        checks.Warning(
            "Digests go out without a postal address in their footer (POSTAL_ADDRESS is empty).",
            hint="Set POSTAL_ADDRESS to the sender's postal address, e.g. "
            '"Paperboy, 1 Example Street, 12345 City, Country"; anti-spam laws and ESPs ask for one.',
            id="newsletter.W001",
        )
    ]
