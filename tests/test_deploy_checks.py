"""Deploy-time warnings (``manage.py check --deploy``)."""

from __future__ import annotations

from django.core import checks

from newsletter.checks import digests_carry_a_postal_address


def test_an_empty_postal_address_is_warned_about_at_deploy(settings):
    settings.POSTAL_ADDRESS = "  "
    (warning,) = digests_carry_a_postal_address(None)
    assert warning.id == "newsletter.W001" and warning.level == checks.WARNING
    settings.POSTAL_ADDRESS = "Paperboy, 1 Example Street, 12345 City"
    assert digests_carry_a_postal_address(None) == []


def test_the_warning_is_registered_for_deploy_checks_only(settings):
    settings.POSTAL_ADDRESS = ""
    deploy = {message.id for message in checks.run_checks(include_deployment_checks=True)}
    plain = {message.id for message in checks.run_checks()}
    assert "newsletter.W001" in deploy and "newsletter.W001" not in plain
