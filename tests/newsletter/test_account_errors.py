"""Account-level refusals (issue 11, point 16): when the provider refuses *us* — a wrong server
token, a sender it will not relay for, failed SMTP authentication — no reader is at fault. The
edition pauses at once with the reason shown in admin, nobody's row fails, no attempt is spent;
after the editor fixes the settings and resumes, every reader gets exactly one message. One rule
for one-by-one and ESP batch sending; a recipient's own refusal still fails only that row.

Real parts: Anymail's Postmark backend over HTTP to a local server speaking Postmark's API
(bench/fake_esp.py), and an aiosmtpd SMTP server that refuses MAIL FROM or AUTH.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench.fake_esp import FakePostmark
from newsletter import sending, services
from newsletter.models import Delivery, Edition

TOKEN = "test-server-token"
SENDER = "digest@paperboy.example"

pytestmark = [pytest.mark.usefixtures("digest_settings"), pytest.mark.django_db]


# Anymail's own Postmark backend, and ours (newsletter/postmark.py): every test holds for both.
BACKENDS = ["anymail.backends.postmark.EmailBackend", "newsletter.postmark.EmailBackend"]


@pytest.fixture(params=BACKENDS, ids=["anymail", "paperboy"])
def postmark(settings, request):
    server = FakePostmark(token=TOKEN).start()
    settings.EMAIL_BACKEND = request.param
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN, "POSTMARK_API_URL": server.url}
    settings.DEFAULT_FROM_EMAIL = f"Paperboy <{SENDER}>"
    settings.DIGEST_ESP_BATCH_SIZE = 4
    yield server
    server.stop()


def assert_paused_and_nobody_failed(rows, outcome, *, reason: str) -> Edition:
    edition = Edition.objects.get(pk=rows[0].edition_id)
    assert edition.status == Edition.Status.PAUSED
    assert edition.pause_reason.startswith("The email provider refused the sending account (not a reader)")
    assert reason in edition.pause_reason
    assert (outcome.sent, outcome.failed, outcome.retry_ids, outcome.paused) == (0, 0, [], True)
    stored = Delivery.objects.filter(pk__in=[row.pk for row in rows])
    assert {(row.status, row.attempts) for row in stored} == {("pending", 0)}, "no row failed, no attempt was spent"
    assert all(reason in row.last_error for row in stored)
    return edition


def resume_and_send(edition: Edition, rows) -> sending.ChunkOutcome:
    assert services.edition_resume(edition=edition)
    return sending.send_chunk([row.pk for row in rows])


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "one-by-one"])
def test_a_wrong_server_token_pauses_the_edition_and_fails_nobody(postmark, settings, planned_edition, batch):
    settings.DIGEST_ESP_BATCH_TEMPLATE = "paperboy-digest" if batch else ""
    _, rows = planned_edition(6)
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "wrong"}

    outcome = sending.send_chunk([row.pk for row in rows])

    edition = assert_paused_and_nobody_failed(rows, outcome, reason="valid Server token")
    assert postmark.stats()["accepted"] == 0
    assert len(postmark.calls) == 0, "refused calls are not counted as accepted ones"

    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": TOKEN}  # the editor fixes it
    again = resume_and_send(edition, rows)
    assert (again.sent, again.failed) == (6, 0)
    assert Counter(message["To"] for message in postmark.messages) == Counter(row.subscriber.email for row in rows)


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "one-by-one"])
def test_a_sender_that_is_not_a_confirmed_signature_pauses_the_edition(postmark, settings, planned_edition, batch):
    settings.DIGEST_ESP_BATCH_TEMPLATE = "paperboy-digest" if batch else ""
    postmark.sender_signatures = frozenset({"other@paperboy.example"})
    _, rows = planned_edition(5)

    outcome = sending.send_chunk([row.pk for row in rows])

    assert_paused_and_nobody_failed(rows, outcome, reason="is not a Sender Signature")
    assert postmark.stats()["accepted"] == 0


def test_a_recipient_refusal_still_fails_only_that_reader(postmark, settings, planned_edition, statuses):
    settings.DIGEST_ESP_BATCH_TEMPLATE = ""
    _, rows = planned_edition(3)
    refused = rows[1].subscriber
    refused.email = "gone@inactive.example"
    refused.save()

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.failed, outcome.paused) == (2, 1, False)
    assert statuses(rows) == {row.pk: "failed" if row.subscriber_id == refused.pk else "sent" for row in rows}
    assert Edition.objects.get(pk=rows[0].edition_id).status == Edition.Status.SENDING


def test_an_smtp_relay_refusing_our_sender_pauses_the_edition(smtp_server, use_smtp, settings, planned_edition):
    refusing = smtp_server(refuse_sender="553 5.7.1 <digest@paperboy.example>: Sender address rejected: not owned")
    use_smtp(refusing.port)
    settings.DEFAULT_FROM_EMAIL = SENDER
    _, rows = planned_edition(8)

    outcome = sending.send_chunk([row.pk for row in rows])

    edition = assert_paused_and_nobody_failed(rows, outcome, reason="Sender address rejected")
    assert refusing.received == []

    working = smtp_server()
    use_smtp(working.port)
    again = resume_and_send(edition, rows)
    assert again.sent == 8
    assert working.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows})


def test_failed_smtp_authentication_pauses_the_edition(smtp_server, use_smtp, settings, planned_edition):
    server = smtp_server(password="right")
    use_smtp(server.port)
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "paperboy", "wrong"
    _, rows = planned_edition(4)

    outcome = sending.send_chunk([row.pk for row in rows])

    edition = assert_paused_and_nobody_failed(rows, outcome, reason="535")
    assert server.received == []

    settings.EMAIL_HOST_PASSWORD = "right"
    again = resume_and_send(edition, rows)
    assert again.sent == 4
    assert server.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows})


def test_a_temporary_refusal_of_our_sender_is_retried_not_paused(smtp_server, use_smtp, planned_edition, statuses):
    busy = smtp_server(refuse_sender="451 4.3.0 Try again later")
    use_smtp(busy.port)
    _, rows = planned_edition(3)

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.failed, outcome.paused, len(outcome.retry_ids)) == (0, 0, False, 3)
    assert set(statuses(rows).values()) == {"pending"}
    assert Edition.objects.get(pk=rows[0].edition_id).consecutive_errors == 1
