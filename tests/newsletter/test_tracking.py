"""ESP tracking webhooks: real Postmark payloads through Anymail's endpoint, applied once each."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from typing import Any

import pytest
from anymail.exceptions import AnymailInsecureWebhookWarning
from anymail.signals import AnymailTrackingEvent, tracking
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from newsletter.models import Delivery, TrackingEvent
from newsletter.tracking import webhook_secret_in_production
from subscribers.models import Subscriber, Suppression, email_hash
from tests.conftest import ROOT, clean_env
from tests.envvars import PRODUCTION_MINIMUM
from tests.factories import DeliveryFactory, EditionFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

URL = "/webhooks/anymail/postmark/tracking/"
SECRET = "paperboy-esp:0dd-webhook-secret"
MESSAGE_ID = "2706ee8a-737c-4285-b032-ccd317af53ed"
DAY = dt.date(2026, 1, 6)


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def basic_auth(credentials: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.fixture
def post(client):
    def post(payload, *, credentials: str | None = SECRET, http: Client | None = None):
        body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
        headers = basic_auth(credentials) if credentials else {}
        return (http or client).post(URL, data=body, content_type="application/json", **headers)

    return post


@pytest.fixture
def reader() -> Subscriber:
    return SubscriberFactory.create(email="Reader@Example.org")


@pytest.fixture
def delivery(reader) -> Delivery:
    return DeliveryFactory.create(
        edition=EditionFactory.create(period_start=DAY, status="sending"),
        subscriber=reader,
        status="sent",
        esp_message_id=MESSAGE_ID,
    )


# Postmark's webhook payloads, as documented (and as Anymail's own test-suite posts them).
def bounce(email="reader@example.org", message_id=MESSAGE_ID, bounce_id=901542550, kind="HardBounce") -> dict:
    return {
        "RecordType": "Bounce",
        "ID": bounce_id,
        "Type": kind,
        "TypeCode": 1,
        "ServerID": 23,
        "Name": "Hard bounce",
        "MessageID": message_id,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": f"smtp;550 5.1.1 <{email}>: The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "paperboy@example.org",
        "BouncedAt": "2026-01-06T16:28:50.3963933-04:00",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Trending papers for Tuesday, January 6",
    }


def spam_complaint(email="reader@example.org", message_id=MESSAGE_ID) -> dict:
    return {
        **bounce(email, message_id, bounce_id=901542551),
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Description": "",
        "CanActivate": False,
    }


def opened(at="2026-01-06T16:21:41.2493688-04:00", message_id=MESSAGE_ID, metadata=None) -> dict:
    return {
        "RecordType": "Open",
        "FirstOpen": True,
        "Client": {"Name": "Gmail", "Company": "Google", "Family": "Gmail"},
        "OS": {"Name": "unknown", "Company": "unknown", "Family": "unknown"},
        "Platform": "Unknown",
        "UserAgent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",
        "ReadSeconds": 0,
        "Geo": {},
        "MessageID": message_id,
        "ReceivedAt": at,
        "Recipient": "reader@example.org",
        "Metadata": metadata or {},
    }


def clicked(at="2026-01-06T21:21:11.9065619Z", message_id=MESSAGE_ID) -> dict:
    return {
        "RecordType": "Click",
        "ClickLocation": "HTML",
        "Platform": "Desktop",
        "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) etc.",
        "OriginalLink": "https://arxiv.org/abs/2601.00001",
        "MessageID": message_id,
        "ReceivedAt": at,
        "Tag": "digest",
        "Recipient": "reader@example.org",
    }


def delivered(message_id=MESSAGE_ID) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageID": message_id,
        "Recipient": "reader@example.org",
        "Tag": "digest",
        "Metadata": {},
        "DeliveredAt": "2026-01-06T13:28:10.2735393-04:00",
        "Details": "smtp;250 2.0.0 OK",
    }


def subscription_change(reason="ManualSuppression", suppress=True, message_id=MESSAGE_ID) -> dict:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": message_id,
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2026-01-06T17:17:32Z",
        "Recipient": "reader@example.org",
        "Origin": "Recipient",
        "SuppressSending": suppress,
        "SuppressionReason": reason if suppress else None,
        "Tag": "digest",
        "Metadata": {},
    }


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_the_webhook_is_mounted_under_webhooks_anymail():
    assert reverse("anymail:postmark_tracking_webhook") == URL


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic_auth("paperboy-esp:wrong-password"),
        basic_auth("someone:" + SECRET),
        {"HTTP_AUTHORIZATION": "Bearer " + SECRET},
        {"HTTP_AUTHORIZATION": "Basic not-base64!"},
    ],
    ids=["missing", "wrong-password", "wrong-user", "not-basic", "garbage"],
)
def test_missing_or_wrong_basic_auth_is_refused_and_changes_nothing(client, delivery, reader, headers):
    response = client.post(URL, data=json.dumps(bounce()), content_type="application/json", **headers)

    assert response.status_code == 400
    assert TrackingEvent.objects.count() == 0
    reader.refresh_from_db()
    assert reader.status == "active"
    assert not Suppression.objects.exists()


def test_without_a_webhook_secret_events_are_ignored(settings, post, delivery, reader):
    """Anymail's views then accept anyone's posts: nobody may suppress a reader that way."""
    settings.ANYMAIL = {}
    with pytest.warns(AnymailInsecureWebhookWarning):
        response = post(bounce(), credentials=None)

    assert response.status_code == 200
    assert TrackingEvent.objects.count() == 0
    reader.refresh_from_db()
    assert reader.status == "active"
    assert not Suppression.objects.exists()


def test_hard_bounce_suppresses_the_subscriber(post, delivery, reader):
    response = post(bounce())

    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == "bounced"
    suppression = Suppression.objects.get()
    assert suppression.reason == "bounced"
    assert suppression.email_hash == email_hash("reader@example.org")
    event = TrackingEvent.objects.get()
    assert (event.event_id, event.event_type, event.delivery) == ("Postmark:bounced:901542550", "bounced", delivery)
    assert event.description.startswith("bounced: The server was unable to deliver")
    assert "reader@" not in event.description, "the MTA response (which quotes the address) is not kept"
    assert Subscriber.objects.receiving().count() == 0


def test_spam_complaint_suppresses_as_complained(post, delivery, reader):
    assert post(spam_complaint()).status_code == 200

    reader.refresh_from_db()
    assert reader.status == "complained"
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.email_hash) == ("complained", email_hash(reader.email))
    assert TrackingEvent.objects.get().event_type == "complained"


def test_a_later_bounce_does_not_downgrade_a_complaint(post, delivery, reader):
    post(spam_complaint())
    post(bounce(bounce_id=901542999))

    reader.refresh_from_db()
    assert reader.status == "complained"
    assert Suppression.objects.get().reason == "complained"
    assert TrackingEvent.objects.count() == 2


def test_replayed_bounce_is_applied_once(post, delivery, reader):
    post(bounce())
    reader.refresh_from_db()
    changed_at = reader.status_changed_at

    assert post(bounce()).status_code == 200

    assert TrackingEvent.objects.count() == 1
    reader.refresh_from_db()
    assert reader.status_changed_at == changed_at
    assert Suppression.objects.count() == 1


def test_bounce_for_an_unknown_message_still_suppresses_the_recipient(post, reader):
    assert post(bounce(email="READER@example.org", message_id="not-one-of-ours")).status_code == 200

    reader.refresh_from_db()
    assert reader.status == "bounced"
    assert Suppression.objects.get().email_hash == email_hash(reader.email)
    event = TrackingEvent.objects.get()
    assert event.delivery is None


def test_bounce_for_an_unknown_address_only_records_the_event(post, reader):
    assert post(bounce(email="stranger@example.net", message_id="not-one-of-ours")).status_code == 200

    assert TrackingEvent.objects.get().event_type == "bounced"
    assert not Suppression.objects.exists()
    reader.refresh_from_db()
    assert reader.status == "active"


def test_soft_bounce_reported_as_transient_is_only_recorded(post, delivery, reader):
    assert post(bounce(kind="Transient")).status_code == 200

    assert TrackingEvent.objects.get().event_type == "deferred"
    reader.refresh_from_db()
    assert reader.status == "active"
    assert not Suppression.objects.exists()


def test_open_sets_opened_at_once_and_keeps_the_earliest(post, delivery):
    first = opened(at="2026-01-06T16:21:41.2493688-04:00")
    assert post(first).status_code == 200
    delivery.refresh_from_db()
    assert delivery.opened_at == at("2026-01-06T20:21:41.249368+00:00")
    assert delivery.clicked_at is None

    assert post(first).status_code == 200  # the ESP retries the same webhook
    assert TrackingEvent.objects.count() == 1

    post(opened(at="2026-01-07T09:00:00Z"))  # a second, later open
    delivery.refresh_from_db()
    assert TrackingEvent.objects.count() == 2
    assert delivery.opened_at == at("2026-01-06T20:21:41.249368+00:00")

    post(opened(at="2026-01-06T19:00:00Z"))  # an earlier open whose webhook arrived late
    delivery.refresh_from_db()
    assert delivery.opened_at == at("2026-01-06T19:00:00+00:00")
    assert set(TrackingEvent.objects.values_list("event_type", flat=True)) == {"opened"}


def test_click_sets_clicked_at_and_implies_an_open(post, delivery):
    assert post(clicked(at="2026-01-06T21:21:11.9065619Z")).status_code == 200

    delivery.refresh_from_db()
    assert delivery.clicked_at == at("2026-01-06T21:21:11.906561+00:00")
    assert delivery.opened_at == delivery.clicked_at

    post(clicked(at="2026-01-07T08:00:00Z"))
    delivery.refresh_from_db()
    assert delivery.clicked_at == at("2026-01-06T21:21:11.906561+00:00")
    assert TrackingEvent.objects.filter(event_type="clicked", delivery=delivery).count() == 2


def test_click_after_an_open_keeps_the_open_time(post, delivery):
    post(opened(at="2026-01-06T20:00:00Z"))
    post(clicked(at="2026-01-06T21:00:00Z"))

    delivery.refresh_from_db()
    assert delivery.opened_at == at("2026-01-06T20:00:00+00:00")
    assert delivery.clicked_at == at("2026-01-06T21:00:00+00:00")


def test_delivery_event_only_records_the_event(post, delivery, reader):
    assert post(delivered()).status_code == 200

    event = TrackingEvent.objects.get()
    assert (event.event_type, event.delivery) == ("delivered", delivery)
    assert event.event_id.startswith("Postmark:delivered:sha256:")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.opened_at, delivery.clicked_at) == ("sent", None, None)
    reader.refresh_from_db()
    assert reader.status == "active"
    assert not Suppression.objects.exists()


def test_delivery_is_found_by_the_delivery_id_in_the_metadata(post, delivery):
    payload = opened(message_id="id-the-esp-gave-after-a-retry", metadata={"delivery_id": str(delivery.pk)})
    assert post(payload).status_code == 200

    assert TrackingEvent.objects.get().delivery == delivery
    delivery.refresh_from_db()
    assert delivery.opened_at is not None


def test_unusable_delivery_id_falls_back_to_the_message_id(post, delivery):
    assert post(opened(metadata={"delivery_id": "DROP TABLE"})).status_code == 200

    assert TrackingEvent.objects.get().delivery == delivery


def test_esp_unsubscribe_unsubscribes_without_suppressing(post, delivery, reader):
    assert post(subscription_change("ManualSuppression")).status_code == 200

    reader.refresh_from_db()
    assert reader.status == "unsubscribed"
    assert not Suppression.objects.exists(), "they may subscribe again (with double opt-in)"
    assert TrackingEvent.objects.get().event_type == "unsubscribed"


def test_esp_resubscribe_does_not_reactivate(post, delivery, reader):
    reader.status = "unsubscribed"
    reader.save()

    assert post(subscription_change(suppress=False)).status_code == 200

    reader.refresh_from_db()
    assert reader.status == "unsubscribed"
    assert TrackingEvent.objects.get().event_type == "subscribed"


def test_esp_suppression_for_spam_complaint_suppresses_as_complained(post, delivery, reader):
    assert post(subscription_change("SpamComplaint")).status_code == 200

    reader.refresh_from_db()
    assert reader.status == "complained"
    assert Suppression.objects.get().reason == "complained"


@pytest.mark.parametrize(
    ("kind", "status", "suppressed"),
    [
        ("BadEmailAddress", "bounced", True),  # rejected: invalid
        ("ManuallyDeactivated", "active", False),  # rejected: blocked (ESP policy)
        ("DMARCPolicy", "active", False),  # rejected: blocked (our domain's problem)
        ("SMTPApiError", "active", False),  # failed
    ],
)
def test_rejections_suppress_only_for_reasons_about_the_address(post, delivery, reader, kind, status, suppressed):
    assert post(bounce(kind=kind)).status_code == 200

    reader.refresh_from_db()
    assert reader.status == status
    assert Suppression.objects.exists() is suppressed
    assert TrackingEvent.objects.count() == 1


def test_invalid_json_without_credentials_is_refused(post, delivery):
    response = post("{not json", credentials=None)

    assert response.status_code == 400
    assert TrackingEvent.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"RecordType": "Teleport", "MessageID": MESSAGE_ID},
        {"RecordType": "Open", "MessageID": None, "Recipient": None, "ReceivedAt": "2026-01-06T10:00:00Z"},
        {"RecordType": "Bounce", "Type": "HardBounce", "ID": None, "Email": ["reader@example.org"]},
        {"RecordType": "Click", "MessageID": {"nested": 1}, "Metadata": {"delivery_id": ["1"]}},
    ],
    ids=["empty", "unknown-type", "no-ids", "odd-recipient", "odd-ids"],
)
def test_odd_but_parseable_payloads_answer_200(post, delivery, reader, payload, caplog):
    http = Client(raise_request_exception=False)

    response = post(payload, http=http)

    assert response.status_code == 200
    assert not [record for record in caplog.records if record.levelname == "ERROR"], "handled, not caught"
    assert TrackingEvent.objects.count() <= 1
    reader.refresh_from_db()
    assert reader.status == "active"


def test_invalid_json_with_credentials_is_not_a_server_error(post, delivery):
    response = post("{not json", http=Client(raise_request_exception=False))

    assert response.status_code == 400
    assert not TrackingEvent.objects.exists()


def test_receiver_never_raises_on_malformed_events(reader, caplog):
    """Straight through the signal, with fields no ESP view would produce."""
    odd = AnymailTrackingEvent(
        event_type=None,
        timestamp="yesterday",
        event_id=["x"],
        message_id=12345,
        metadata="not a dict",
        recipient=42,
        reject_reason=object(),
        esp_event=object(),
    )

    responses = tracking.send(sender=None, event=odd, esp_name="Postmark")
    tracking.send(sender=None, event=odd, esp_name=None)

    assert [response for _, response in responses] == [None]
    assert set(TrackingEvent.objects.values_list("event_type", flat=True)) == {"unknown"}
    assert not [record for record in caplog.records if record.levelname == "ERROR"], "handled, not caught"
    reader.refresh_from_db()
    assert reader.status == "active"


def test_events_without_an_id_or_timestamp_are_kept_apart_unless_identical(reader):
    def send(payload: dict) -> None:
        event = AnymailTrackingEvent(event_type="opened", message_id="m-1", recipient=reader.email, esp_event=payload)
        tracking.send(sender=None, event=event, esp_name="Postmark")

    send({"open": 1})
    send({"open": 1})
    send({"open": 2})

    assert TrackingEvent.objects.count() == 2


# --- The production check --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("production", "backend", "anymail", "errors"),
    [
        (True, "anymail.backends.postmark.EmailBackend", {}, ["newsletter.E001"]),
        (True, "anymail.backends.postmark.EmailBackend", {"WEBHOOK_SECRET": ""}, ["newsletter.E001"]),
        (True, "anymail.backends.postmark.EmailBackend", {"WEBHOOK_SECRET": "no-colon"}, ["newsletter.E001"]),
        (True, "anymail.backends.postmark.EmailBackend", {"WEBHOOK_SECRET": SECRET}, []),
        (True, "anymail.backends.postmark.EmailBackend", {"WEBHOOK_SECRET": [SECRET, "old:secret"]}, []),
        (True, "django.core.mail.backends.smtp.EmailBackend", {}, []),
        (True, "common.outbox.OutboxEmailBackend", {}, []),
        (False, "anymail.backends.postmark.EmailBackend", {}, []),
    ],
)
def test_webhook_secret_check(settings, production, backend, anymail, errors):
    settings.PRODUCTION = production
    settings.EMAIL_BACKEND = backend
    settings.ANYMAIL = anymail

    messages = webhook_secret_in_production(None)

    assert [message.id for message in messages] == errors
    assert all(message.is_serious() for message in messages)


def manage_check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_env(PAPERBOY_VAR_DIR=str(tmp_path), **PRODUCTION_MINIMUM, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_with_an_esp_and_no_webhook_secret_refuses_to_start(tmp_path):
    esp = {"EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend", "ANYMAIL_POSTMARK_SERVER_TOKEN": "token"}

    refused = manage_check(tmp_path, **esp)
    accepted = manage_check(tmp_path, **esp, ANYMAIL_WEBHOOK_SECRET="esp:" + "s" * 32)

    assert refused.returncode != 0
    assert "newsletter.E001" in refused.stderr
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "WARNINGS:" not in accepted.stdout + accepted.stderr


def test_an_unexpected_error_is_logged_and_the_webhook_still_answers(post, delivery, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("newsletter.tracking.subscriber_action", broken)  # after the event is stored

    response = post(opened(), http=Client(raise_request_exception=False))

    assert response.status_code == 200
    assert "could not handle a Postmark event" in caplog.text
    assert TrackingEvent.objects.count() == 0, "the half-applied event was rolled back"


def test_a_database_error_propagates_so_the_esp_retries(post, delivery, monkeypatch):
    from django.db import OperationalError

    def unavailable(*args, **kwargs):
        raise OperationalError("database went away")

    monkeypatch.setattr("newsletter.tracking.subscriber_action", unavailable)

    assert post(opened(), http=Client(raise_request_exception=False)).status_code == 500
    assert TrackingEvent.objects.count() == 0

    monkeypatch.undo()
    assert post(opened()).status_code == 200  # the retry applies it
    assert TrackingEvent.objects.count() == 1


@pytest.mark.parametrize("esp", ["mailgun", "mandrill", "postal", "amazon_ses"])
def test_an_esp_we_are_not_configured_for_answers_404_not_500(esp, caplog):
    http = Client(raise_request_exception=False)
    response = http.post(
        f"/webhooks/anymail/{esp}/tracking/", data="{}", content_type="application/json", **basic_auth(SECRET)
    )
    assert response.status_code == 404
    assert "is not configured" in caplog.text


def test_deeply_nested_json_answers_400_not_500(post):
    response = post("[" * 100_000 + "]" * 100_000, http=Client(raise_request_exception=False))
    assert response.status_code == 400
    assert TrackingEvent.objects.count() == 0


@pytest.mark.parametrize("kind", ["SoftBounce", "VirusNotification"])
def test_a_soft_bounce_is_counted_and_only_the_third_within_30_days_suppresses(post, delivery, reader, kind):
    for n in range(2):
        assert post(bounce(kind=kind, bounce_id=700 + n)).status_code == 200
        reader.refresh_from_db()
        assert reader.status == "active", f"after {n + 1} soft bounce(s) the reader still gets digests"
    assert not Suppression.objects.exists()
    assert TrackingEvent.objects.filter(event_type="soft_bounce").count() == 2

    post(bounce(kind=kind, bounce_id=702))

    reader.refresh_from_db()
    assert reader.status == "bounced"
    assert Suppression.objects.filter(reason="bounced").count() == 1


def test_soft_bounces_older_than_30_days_do_not_count(post, delivery, reader):
    post(bounce(kind="SoftBounce", bounce_id=710))
    post(bounce(kind="SoftBounce", bounce_id=711))
    TrackingEvent.objects.update(received_at=timezone.now() - dt.timedelta(days=31))

    post(bounce(kind="SoftBounce", bounce_id=712))

    reader.refresh_from_db()
    assert reader.status == "active"
