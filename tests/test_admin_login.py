"""The admin login is throttled: password guessing gets a few tries per window (issue 11, point 19)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_counters(settings):
    """Counters of this test only (the suite's Redis cache outlives a test)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "login"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def editor():
    return get_user_model().objects.create_superuser("editor", "editor@example.org", "the-right-password")


def log_in(client, password: str, username: str = "editor", ip: str = "192.0.2.1"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_wrong_passwords_in_a_row_are_not_followed_by_a_free_try(client, editor, settings):
    settings.ADMIN_LOGIN_RATE_PER_USERNAME = "5/5m"
    for _ in range(5):
        assert log_in(client, "guess").status_code == 200  # the form again, with its error
    throttled = log_in(client, "the-right-password")
    assert throttled.status_code == 429
    assert "_auth_user_id" not in client.session, "the right password does not get through while throttled"


def test_one_address_trying_many_usernames_is_throttled_too(client, editor, settings):
    settings.ADMIN_LOGIN_RATE_PER_IP = "3/h"
    for n in range(3):
        assert log_in(client, "guess", username=f"user{n}").status_code == 200
    assert log_in(client, "the-right-password").status_code == 429


def test_a_login_within_the_limits_works(client, editor):
    log_in(client, "one typo")
    response = log_in(client, "the-right-password")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.session["_auth_user_id"] == str(editor.pk)


def test_successful_logins_do_not_use_up_the_limit(client, editor, settings):
    """An editor signing in on several devices is never refused: only failures count."""
    settings.ADMIN_LOGIN_RATE_PER_USERNAME = "3/5m"
    for _ in range(6):
        assert log_in(client, "the-right-password").status_code == 302
        client.logout()
    for _ in range(3):
        assert log_in(client, "guess").status_code == 200
    assert log_in(client, "the-right-password").status_code == 429
