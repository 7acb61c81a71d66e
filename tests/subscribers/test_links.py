"""The signed links: confirm, preferences, unsubscribe (RFC 8058), data export and erasure."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from subscribers import tokens
from subscribers.models import Subscriber, Suppression, email_hash
from subscribers.tokens import Purpose, make_token
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def url(name: str, subscriber: Subscriber, purpose: Purpose) -> str:
    return reverse(f"subscribers:{name}", args=[make_token(subscriber, purpose)])


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    def run(callable_, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return callable_(*args, **kwargs)

    return run


# --- Confirmation -----------------------------------------------------------------------------


def test_confirm_link_shows_a_button_and_only_post_confirms(client, on_commit):
    subscriber = SubscriberFactory(status="pending")
    link = url("confirm", subscriber, Purpose.CONFIRM)

    page = client.get(link)
    assert page.status_code == 200 and "Confirm my subscription" in page.text
    subscriber.refresh_from_db()
    assert subscriber.status == "pending", "opening the link (as a mail scanner does) confirms nobody"

    done = on_commit(client.post, link)
    assert done.status_code == 200 and "You're subscribed" in done.text
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    assert subscriber.confirmed_at and subscriber.consent_at and subscriber.consent_ip_hash
    (welcome,) = mail.outbox
    assert welcome.subject == "Welcome to Paperboy"
    assert "/preferences/" in welcome.body

    again = on_commit(client.post, link)
    assert again.status_code == 200 and "You're already subscribed" in again.text
    assert "on its way" not in again.text, "a second confirmation sends no second welcome, so promises none"
    assert len(mail.outbox) == 1, "confirming twice is harmless"
    revisit = client.get(link)
    assert "You're already subscribed" in revisit.text and "on its way" not in revisit.text


def test_expired_confirmation_offers_a_new_link(client, on_commit, monkeypatch):
    subscriber = SubscriberFactory(status="pending")
    link = url("confirm", subscriber, Purpose.CONFIRM)
    later = timezone.now() + dt.timedelta(days=8)
    monkeypatch.setattr("django.core.signing.time.time", lambda: later.timestamp())

    page = client.get(link)
    assert page.status_code == 410
    assert "expired" in page.text and "Send me a new link" in page.text

    resend = on_commit(client.post, link.rstrip("/") + "/resend/")
    assert resend["Location"] == reverse("subscribers:check_inbox")
    assert [message.subject for message in mail.outbox] == ["Confirm your Paperboy subscription"]


def test_confirmation_keeps_working_for_seven_days(client, monkeypatch):
    subscriber = SubscriberFactory(status="pending")
    link = url("confirm", subscriber, Purpose.CONFIRM)
    later = timezone.now() + dt.timedelta(days=6, hours=23)
    monkeypatch.setattr("django.core.signing.time.time", lambda: later.timestamp())
    assert client.get(link).status_code == 200


def test_resubscribing_after_unsubscribe_needs_a_new_confirmation(client, on_commit):
    subscriber = SubscriberFactory(status="unsubscribed")
    preferences = url("preferences", subscriber, Purpose.PREFERENCES)

    on_commit(client.post, preferences.rstrip("/") + "/resubscribe/")
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    (message,) = mail.outbox
    confirm_path = message.body.split("http://127.0.0.1:8000", 1)[1].split()[0]
    on_commit(client.post, confirm_path)
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


# --- Tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "wrong_purpose"),
    [
        ("confirm", Purpose.UNSUBSCRIBE),
        ("preferences", Purpose.UNSUBSCRIBE),
        ("preferences", Purpose.CONFIRM),
        ("unsubscribe", Purpose.PREFERENCES),
    ],
)
def test_a_token_for_another_purpose_is_refused(client, page, wrong_purpose):
    subscriber = SubscriberFactory()
    response = client.get(url(page, subscriber, wrong_purpose))
    assert response.status_code == 400
    assert "This link does not work" in response.text


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # forged signature
        lambda token: "0" * 32 + token[32:],  # another subscriber's id, same signature
        lambda token: token.split(":")[0],  # no signature at all
        lambda token: "not-a-token",
        lambda token: token + "%00",
    ],
)
def test_tampered_tokens_get_a_friendly_400(client, mangle):
    subscriber = SubscriberFactory()
    for page, purpose in (("preferences", Purpose.PREFERENCES), ("unsubscribe", Purpose.UNSUBSCRIBE)):
        token = mangle(make_token(subscriber, purpose))
        response = client.get(f"/{page}/{token}/")
        assert response.status_code in (400, 404), response.status_code
        if response.status_code == 400:
            assert "This link does not work" in response.text
        response = client.post(f"/{page}/{token}/", {"List-Unsubscribe": "One-Click"})
        assert response.status_code in (400, 403, 404)
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_rotating_the_link_key_kills_old_links(client):
    subscriber = SubscriberFactory()
    old = url("preferences", subscriber, Purpose.PREFERENCES)
    subscriber.link_key = "rotated"
    subscriber.save()
    assert client.get(old).status_code == 400
    assert client.get(url("preferences", subscriber, Purpose.PREFERENCES)).status_code == 200


def test_tokens_carry_no_email_address():
    subscriber = SubscriberFactory(email="secret.person@example.org")
    for purpose in Purpose:
        token = make_token(subscriber, purpose)
        assert "secret" not in token and "example" not in token
        assert tokens.read_token(token, purpose) == subscriber


# --- Preferences ------------------------------------------------------------------------------


def test_every_preference_can_be_changed(client):
    subscriber = SubscriberFactory()
    link = url("preferences", subscriber, Purpose.PREFERENCES)
    response = client.post(
        link,
        {
            "frequency": "weekly",
            "weekly_day": "4",
            "send_hour": "18",
            "time_zone": "America/New_York",
            "papers_per_digest": "25",
            "email_format": "text",
            "interests": "speech   recognition, <script>x</script>",
            "categories": "cs.CL, cs.SD,cs.CL",
            "followed_authors": "Yann LeCun\nMartin Luther King, Jr.\n\n",
            "skip_if_no_match": "on",
        },
    )
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert (subscriber.frequency, subscriber.weekly_day, subscriber.send_hour) == ("weekly", 4, 18)
    assert (subscriber.time_zone, subscriber.papers_per_digest, subscriber.email_format) == (
        "America/New_York",
        25,
        "text",
    )
    assert subscriber.interests == "speech recognition, <script>x</script>"
    assert subscriber.categories == ["cs.CL", "cs.SD"]
    assert subscriber.followed_authors == ["Yann LeCun", "Martin Luther King, Jr."]
    assert subscriber.skip_if_no_match is True

    page = client.get(link).text
    assert "Saved." in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("papers_per_digest", "51", "less than or equal to 50"),
        ("papers_per_digest", "0", "greater than or equal to 1"),
        ("send_hour", "24", "Select a valid choice"),
        ("time_zone", "Mars/Base", "Select a valid choice"),
        ("categories", "cs.CL, <b>", "Not arXiv categories"),
        ("interests", "x" * 501, "at most 500 characters"),
    ],
)
def test_invalid_preferences_are_explained_and_nothing_changes(client, field, value, error):
    subscriber = SubscriberFactory(papers_per_digest=10)
    data = {
        "frequency": "daily",
        "weekly_day": "0",
        "send_hour": "8",
        "time_zone": "UTC",
        "papers_per_digest": "10",
        "email_format": "html",
        field: value,
    }
    response = client.post(url("preferences", subscriber, Purpose.PREFERENCES), data)
    assert response.status_code == 400
    assert error in response.text
    subscriber.refresh_from_db()
    assert (subscriber.papers_per_digest, subscriber.time_zone) == (10, "Europe/Berlin")


def test_pause_and_resume(client):
    subscriber = SubscriberFactory()
    base = url("preferences", subscriber, Purpose.PREFERENCES).rstrip("/")
    client.post(base + "/pause/")
    subscriber.refresh_from_db()
    assert subscriber.status == "paused"
    assert not Subscriber.objects.receiving().exists()
    client.post(base + "/resume/")
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    assert client.get(base + "/pause/").status_code == 405, "state changes need a POST"


def test_download_my_data(client):
    subscriber = SubscriberFactory(email="me@example.org", interests="graphs", categories=["cs.LG"])
    response = client.get(url("preferences_data", subscriber, Purpose.PREFERENCES))
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["email"] == "me@example.org"
    assert data["preferences"]["interests"] == "graphs"
    assert data["preferences"]["categories"] == ["cs.LG"]
    assert set(data) >= {"status", "created_at", "consent", "preferences"}


def test_delete_me_erases_the_row_and_keeps_only_the_hash(client, on_commit):
    subscriber = SubscriberFactory(email="gone@example.org")
    link = url("preferences_delete", subscriber, Purpose.PREFERENCES)
    assert "Delete everything about me" in client.get(link).text
    assert Subscriber.objects.exists(), "GET asks; only POST deletes"

    assert "Your data is gone" in client.post(link).text
    assert not Subscriber.objects.exists()
    suppression = Suppression.objects.get()
    assert (suppression.email_hash, suppression.reason) == (email_hash("gone@example.org"), "forgotten")
    assert client.get(url("preferences", subscriber, Purpose.PREFERENCES)).status_code == 400

    # They may come back, but only through a confirmed signup.
    with_confirmation = on_commit(client.post, reverse("subscribers:subscribe"), {"email": "gone@example.org"})
    assert with_confirmation.status_code == 302
    assert Subscriber.objects.get().status == "pending"
    assert mail.outbox[-1].subject == "Confirm your Paperboy subscription"


# --- Unsubscribe ------------------------------------------------------------------------------


def test_unsubscribe_get_shows_one_button_and_changes_nothing(client):
    subscriber = SubscriberFactory()
    page = client.get(url("unsubscribe", subscriber, Purpose.UNSUBSCRIBE))
    assert page.status_code == 200
    assert page.text.count("<button") == 1
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_unsubscribe_button_in_a_browser_form(client):
    subscriber = SubscriberFactory()
    response = client.post(url("unsubscribe", subscriber, Purpose.UNSUBSCRIBE))
    assert response.status_code == 200
    assert "You're unsubscribed" in response.text
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_rfc8058_one_click_from_a_mailbox_provider(live_server, encoding):
    """Exactly as Gmail or Yahoo send it: a bare POST, no cookies, no CSRF token, no redirects."""
    subscriber = SubscriberFactory()
    target = live_server.url + url("unsubscribe", subscriber, Purpose.UNSUBSCRIBE)
    if encoding == "urlencoded":
        response = requests.post(
            target,
            data="List-Unsubscribe=One-Click",
            timeout=10,
            allow_redirects=False,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    else:
        response = requests.post(
            target, files={"List-Unsubscribe": (None, "One-Click")}, timeout=10, allow_redirects=False
        )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    again = requests.post(target, data={"List-Unsubscribe": "One-Click"}, timeout=10, allow_redirects=False)
    assert again.status_code == 200, "a repeated one-click POST is harmless"


def test_preference_center_shows_the_readers_feedback(client):
    from newsletter.models import Feedback
    from tests.factories import PaperFactory

    subscriber = SubscriberFactory()
    Feedback.objects.create(subscriber=subscriber, paper=PaperFactory(title="Liked <b>paper</b>"), vote=1)
    Feedback.objects.create(subscriber=subscriber, paper=PaperFactory(title="Disliked paper"), vote=-1)
    SubscriberFactory().feedback.create(paper=PaperFactory(title="Someone else's vote"), vote=1)

    page = client.get(url("preferences", subscriber, Purpose.PREFERENCES)).text
    assert "More like “Liked &lt;b&gt;paper&lt;/b&gt;”" in page
    assert "Less like “Disliked paper”" in page
    assert "Someone else" not in page


# --- Secret key rotation --------------------------------------------------------------------------


def test_an_unsubscribe_link_from_before_a_key_rotation_works_while_the_old_key_is_a_fallback(client, settings):
    subscriber = SubscriberFactory(status="active")
    settings.SECRET_KEY = "old" * 20
    old_link = url("unsubscribe", subscriber, Purpose.UNSUBSCRIBE)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new" * 20, ["old" * 20]
    assert url("unsubscribe", subscriber, Purpose.UNSUBSCRIBE) != old_link  # new links use the new key

    assert client.post(old_link).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_an_old_link_is_refused_once_its_key_is_no_longer_a_fallback(client, settings):
    subscriber = SubscriberFactory(status="active")
    settings.SECRET_KEY = "old" * 20
    old_link = url("unsubscribe", subscriber, Purpose.UNSUBSCRIBE)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new" * 20, []

    client.post(old_link)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE
