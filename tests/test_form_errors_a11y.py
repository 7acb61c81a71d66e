"""A form's error and help text are tied to their field (``aria-describedby``), so a screen reader
reads them with the field: the signup form, the preferences and the search page, with errors."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from subscribers.tokens import Purpose
from tests.factories import SubscriberFactory
from tests.subscribers.test_links import url

pytestmark = pytest.mark.django_db


def described(html: bytes, field_id: str) -> str:
    """The text that ``field_id``'s aria-describedby names; every id it names must exist."""
    soup = BeautifulSoup(html, "html.parser")
    field = soup.find(id=field_id)
    assert field is not None, field_id
    ids = str(field.get("aria-describedby", "")).split()
    named = {name: soup.find(id=name) for name in ids}
    missing = [name for name, element in named.items() if element is None]
    assert not missing, f"{field_id} is described by ids the page lacks: {missing}"
    return " ".join(element.get_text(" ", strip=True) for element in named.values() if element is not None)


def test_signup_errors_and_help_belong_to_their_fields(client):
    response = client.post(reverse("subscribers:subscribe"), {"email": "not-an-email", "interests": "x" * 501})
    assert response.status_code == 400
    assert "Enter a valid email address." in described(response.content, "id_email")
    interests = described(response.content, "id_interests")
    assert "at most 500 characters" in interests and "comma-separated" in interests


def test_preference_errors_belong_to_their_fields(client):
    subscriber = SubscriberFactory()
    data = {"frequency": "daily", "weekly_day": "0", "send_hour": "8", "time_zone": "UTC", "email_format": "html"}
    data["papers_per_digest"] = "51"
    response = client.post(url("preferences", subscriber, Purpose.PREFERENCES), data)
    assert response.status_code == 400
    assert "less than or equal to 50" in described(response.content, "id_papers_per_digest")


def test_search_errors_belong_to_their_fields(client):
    response = client.get(reverse("search"), {"q": "x", "since": "2026-09-01", "until": "2026-08-01"})
    assert "must not be before its start" in described(response.content, "id_until")
    assert "Searches titles" in described(response.content, "id_q")
