"""Signup: same answer whatever the address's state, double opt-in, and abuse limits."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from subscribers.models import Subscriber, Suppression
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
SUBSCRIBE = reverse("subscribers:subscribe")
CHECK_INBOX = reverse("subscribers:check_inbox")


@pytest.fixture(autouse=True)
def fresh_limits(settings):
    settings.SIGNUP_RATE_PER_IP = "1000/h"
    settings.SIGNUP_RATE_PER_EMAIL = "1000/h"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def signup(client, django_capture_on_commit_callbacks):
    def post(email: str, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(SUBSCRIBE, {"email": email, "time_zone": "Asia/Tokyo", **extra})

    return post


def link_in(message, name: str) -> str:
    found = re.search(rf"http://\S+/{name}/\S+/", message.body)
    assert found, f"no {name} link in the email"
    return found.group(0)


def test_new_address_gets_one_confirmation_email(signup):
    response = signup("  New.Reader@EXAMPLE.org ", interests="protein folding, <b>RLHF</b>")

    assert response.status_code == 302 and response["Location"] == CHECK_INBOX
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "New.Reader@example.org"
    assert (subscriber.status, subscriber.time_zone) == ("pending", "Asia/Tokyo")
    assert subscriber.interests == "protein folding, <b>RLHF</b>"
    assert subscriber.signup_ip_hash and "127.0.0.1" not in subscriber.signup_ip_hash
    (message,) = mail.outbox
    assert message.to == ["New.Reader@example.org"]
    assert message.subject == "Confirm your Paperboy subscription"
    assert "/confirm/" in message.body
    html = message.alternatives[0][0]
    assert 'href="http://127.0.0.1:8000/confirm/' in html
    assert "style=" in html, "CSS is inlined for mail clients"
    assert "New.Reader" not in link_in(message, "confirm"), "the token carries no email address"


@pytest.mark.parametrize("status", ["pending", "active", "paused", "unsubscribed", "bounced"])
def test_the_answer_reveals_nothing(client, signup, status):
    SubscriberFactory(email="known@example.org", status=status)
    fresh = signup("stranger@example.org")
    known = signup("KNOWN@example.org")
    assert known.status_code == fresh.status_code == 302
    assert known["Location"] == fresh["Location"] == CHECK_INBOX
    assert Subscriber.objects.filter(email__iexact="known@example.org").count() == 1


@pytest.mark.parametrize(
    ("status", "subject"),
    [
        ("pending", "Confirm your Paperboy subscription"),
        ("unsubscribed", "Confirm your Paperboy subscription"),
        ("active", "You're already subscribed to Paperboy"),
        ("paused", "You're already subscribed to Paperboy"),
        ("bounced", None),
        ("complained", None),
    ],
)
def test_what_each_status_receives(signup, status, subject):
    subscriber = SubscriberFactory(email="known@example.org", status=status)
    signup("known@example.org")
    assert [message.subject for message in mail.outbox] == ([subject] if subject else [])
    subscriber.refresh_from_db()
    assert subscriber.status == status, "a signup never changes a subscriber's status by itself"


def test_active_subscriber_preferences_are_not_changed_by_a_stranger(signup):
    subscriber = SubscriberFactory(email="known@example.org", interests="robotics", time_zone="Europe/Paris")
    signup("known@example.org", interests="spam spam spam")
    subscriber.refresh_from_db()
    assert (subscriber.interests, subscriber.time_zone) == ("robotics", "Europe/Paris")


def test_suppressed_address_is_not_re_added(signup):
    Suppression.add("bounced@example.org", Suppression.Reason.BOUNCED)
    response = signup("Bounced@example.org")
    assert response["Location"] == CHECK_INBOX
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


def test_daily_cap_on_confirmation_emails(signup, settings):
    settings.SIGNUP_CONFIRMATIONS_PER_DAY = 3
    for _ in range(5):
        assert signup("target@example.org")["Location"] == CHECK_INBOX
    assert len(mail.outbox) == 3
    assert Subscriber.objects.get().confirmations_sent == 3


def test_honeypot_drops_bots_silently(signup):
    response = signup("bot@example.org", website="http://spam.example")
    assert response["Location"] == CHECK_INBOX
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "Enter a valid email address."),
        ("victim@example.org\r\nBcc: everyone@example.org", "cannot contain line breaks"),
        ("victim@example.org\n", "cannot contain line breaks"),
        ("", "This field is required."),
        ("x" * 250 + "@example.org", "at most 254 characters"),
    ],
)
def test_invalid_addresses_get_a_clear_error(signup, email, message):
    response = signup(email)
    assert response.status_code == 400
    assert message in response.text
    assert not Subscriber.objects.exists()


def test_interests_are_length_limited(signup):
    response = signup("long@example.org", interests="x" * 501)
    assert response.status_code == 400
    assert "at most 500 characters" in response.text


def test_unknown_time_zone_falls_back_to_utc(signup):
    signup("tz@example.org", time_zone="Mars/Olympus_Mons")
    assert Subscriber.objects.get().time_zone == "UTC"


def test_rate_limit_per_ip(signup, settings):
    settings.SIGNUP_RATE_PER_IP = "3/h"
    answers = [signup(f"person{n}@example.org").status_code for n in range(5)]
    assert answers == [302, 302, 302, 429, 429]
    assert Subscriber.objects.count() == 3
    assert "try again later" in signup("late@example.org").text


def test_rate_limit_per_address(signup, settings, client):
    settings.SIGNUP_RATE_PER_EMAIL = "2/h"
    answers = []
    for n in range(4):
        # a different IP each time: the limit follows the address
        client.defaults["REMOTE_ADDR"] = f"10.0.0.{n}"
        answers.append(signup("target@example.org").status_code)
    assert answers == [302, 302, 429, 429]


def test_rate_limits_use_the_shared_redis_cache(redis_url, settings, signup):
    """With REDIS_URL the counts live in Redis, so every web process sees the same limit."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache

    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}}
    assert isinstance(caches["default"], RedisCache)
    caches["default"].clear()
    settings.SIGNUP_RATE_PER_IP = "2/h"
    assert [signup(f"r{n}@example.org").status_code for n in range(3)] == [302, 302, 429]
    caches["default"].clear()


def test_csrf_is_required_on_the_signup_form():
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(SUBSCRIBE, {"email": "csrf@example.org"}).status_code == 403
    assert not Subscriber.objects.exists()


def test_home_page_carries_the_signup_form(client):
    html = client.get("/").text
    assert f'action="{SUBSCRIBE}"' in html
    assert 'name="website"' in html and 'class="hp"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_unconfirmed_signups_are_purged_after_the_retention_period(settings):
    import datetime as dt

    from django.utils import timezone

    from subscribers.tasks import purge_unconfirmed

    settings.UNCONFIRMED_RETENTION_DAYS = 30
    old_pending = SubscriberFactory(status="pending")
    old_active = SubscriberFactory(status="active")
    Subscriber.objects.filter(pk__in=[old_pending.pk, old_active.pk]).update(
        created_at=timezone.now() - dt.timedelta(days=31)
    )
    recent_pending = SubscriberFactory(status="pending")

    assert purge_unconfirmed.apply().get() == 1
    assert set(Subscriber.objects.values_list("pk", flat=True)) == {old_active.pk, recent_pending.pk}


# --- How a signup reaches the database and the queue ------------------------------------------


def test_on_redis_both_limits_are_counted_by_one_script_and_expire(redis_url, settings, signup, client):
    """One round trip (subscribers/limits.py) with the meaning of two checks in a row: a POST over
    its address's limit does not count for the mailbox; each count lives as long as its window."""
    import redis
    from django.core.cache import caches

    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}}
    caches["default"].clear()
    settings.SIGNUP_RATE_PER_IP, settings.SIGNUP_RATE_PER_EMAIL = "2/h", "3/10m"
    client.defaults["REMOTE_ADDR"] = "10.0.0.1"
    assert [signup("target@example.org").status_code for _ in range(4)] == [302, 302, 429, 429]
    client.defaults["REMOTE_ADDR"] = "10.0.0.2"  # the mailbox has counted two POSTs, not four
    assert [signup("Target@example.org").status_code for _ in range(2)] == [302, 429]
    server = redis.Redis.from_url(redis_url)
    ttls = {key.decode().split(":")[2]: server.ttl(key) for key in server.scan_iter("paperboy:limit:*")}
    assert set(ttls) == {"signup-ip", "signup-email"}
    assert 0 < ttls["signup-ip"] <= 3600 and 0 < ttls["signup-email"] <= 600
    caches["default"].clear()


def test_a_new_address_is_stored_whole_by_one_insert(signup):
    """The fast path writes every field as Model.save() would: defaults, timestamps, the first slot."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    with CaptureQueriesContext(connection) as queries:
        assert signup("whole@example.org", interests="graph neural networks")["Location"] == CHECK_INBOX
    statements = [query["sql"] for query in queries.captured_queries]  # then the (eager) email task's
    # Its own transaction (here a savepoint: the test runs in one), committed without waiting for
    # the disk on PostgreSQL (subscribers.services._insert_if_new says why).
    transaction = ["SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL synchronous_commit = off"]
    data = [sql for sql in statements if not sql.startswith(tuple(transaction))]
    assert data[0].startswith("INSERT"), statements
    if connection.vendor == "postgresql":
        assert statements.index("SET LOCAL synchronous_commit = off") < statements.index(data[0])
    assert "subscribers_suppression" in data[0], "the suppression check is part of the INSERT"
    assert not any(sql.startswith("UPDATE") for sql in statements), "and so is the first slot"
    assert sum(sql.startswith("SAVEPOINT") for sql in statements) == 1, "one transaction, no more"
    assert sum("subscribers_suppression" in sql for sql in statements) == 1

    subscriber = Subscriber.objects.get()
    fresh = Subscriber()  # the model's own defaults
    for field in ("status", "frequency", "weekly_day", "send_hour", "papers_per_digest", "email_format"):
        assert getattr(subscriber, field) == getattr(fresh, field), field
    assert (subscriber.categories, subscriber.followed_authors, subscriber.skip_if_no_match) == ([], [], False)
    assert subscriber.public_id and len(subscriber.link_key) >= 8
    assert subscriber.created_at and subscriber.status_changed_at
    assert (subscriber.confirmation_day, subscriber.confirmations_sent) == (timezone.localdate(), 1)
    assert subscriber.consent_source.startswith("signup form at")
    assert subscriber.interests == "graph neural networks"
    (message,) = mail.outbox
    assert message.to == ["whole@example.org"]


def test_a_new_address_under_a_zero_cap_is_stored_without_an_email(signup, settings):
    settings.SIGNUP_CONFIRMATIONS_PER_DAY = 0
    assert signup("capped@example.org")["Location"] == CHECK_INBOX
    assert Subscriber.objects.get().confirmations_sent == 0
    assert mail.outbox == []


def test_a_known_address_in_another_case_is_not_inserted_twice(signup):
    SubscriberFactory(email="Mixed.Case@example.org", status="pending")
    signup("mixed.case@EXAMPLE.ORG")
    signup("MIXED.CASE@example.org")
    assert Subscriber.objects.count() == 1
    assert Subscriber.objects.get().confirmations_sent == 2
    assert len(mail.outbox) == 2


def test_the_address_lookup_uses_the_unique_index(postgres_url):
    """mailbox = %s, the unique key: an index probe, not a table scan (signup locks the
    subscriber it finds this way)."""
    from django.db import connection

    sql, params = Subscriber.objects.select_for_update().with_email('"Some.One+x"@example.org').query.sql_with_params()
    assert params == ("some.one@example.org",)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "subscriber_mailbox_unique" in plan, plan


def test_the_confirmation_task_is_published_without_waiting_for_a_result(signup, monkeypatch):
    """No result backend subscription per signup in the web process (the task records its outcome itself)."""
    from subscribers.tasks import send_subscriber_email

    published = []
    monkeypatch.setattr(send_subscriber_email, "apply_async", lambda *args, **kwargs: published.append((args, kwargs)))
    signup("quiet@example.org")
    ((args, kwargs),) = published
    assert args == ((Subscriber.objects.get().pk, "confirm"),)
    assert kwargs == {"ignore_result": True}


@pytest.mark.parametrize("reason", [choice.value for choice in Suppression.Reason])
def test_only_an_address_erased_on_request_may_sign_up_again(signup, reason):
    Suppression.add("listed@example.org", reason)
    assert signup("Listed@Example.org")["Location"] == CHECK_INBOX
    assert Subscriber.objects.filter(email__iexact="listed@example.org").exists() == (reason == "forgotten")
    assert len(mail.outbox) == (1 if reason == "forgotten" else 0)
