"""ESP batch sending through Anymail's real Postmark backend, over HTTP, to a local server that
speaks Postmark's email API (bench/fake_esp.py): a remote ESP cannot exist here, its API can."""

from __future__ import annotations

import re

import pytest

from bench.fake_esp import FakePostmark
from newsletter import rendering, sending
from newsletter.models import Delivery, Edition
from subscribers.tokens import Purpose, read_token

TOKEN = "test-server-token"
TEMPLATE = "paperboy-digest"

pytestmark = pytest.mark.usefixtures("digest_settings")


# Anymail's own Postmark backend, and ours (newsletter/postmark.py): every test holds for both.
BACKENDS = ["anymail.backends.postmark.EmailBackend", "newsletter.postmark.EmailBackend"]


@pytest.fixture(params=BACKENDS, ids=["anymail", "paperboy"])
def postmark(settings, request):
    server = FakePostmark(token=TOKEN).start()
    settings.EMAIL_BACKEND = request.param
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN, "POSTMARK_API_URL": server.url}
    settings.DIGEST_ESP_BATCH_TEMPLATE = TEMPLATE
    settings.DIGEST_ESP_BATCH_SIZE = 4
    yield server
    server.stop()


def header(message: dict, name: str) -> str:
    return next(h["Value"] for h in message["Headers"] if h["Name"].lower() == name.lower())


@pytest.mark.django_db
def test_html_readers_go_out_in_batches_each_with_their_own_rendering(postmark, planned_edition):
    _, rows = planned_edition(10)
    text_reader = rows[9].subscriber
    text_reader.email_format = "text"
    text_reader.save()

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.failed, outcome.retry_ids) == (10, 0, [])
    assert postmark.calls == ["/email/batchWithTemplates"] * 3 + ["/email"]  # 4 + 4 + 1 HTML, then the text one
    by_address = {message["To"]: message for message in postmark.messages}
    stored = {row.pk: row for row in Delivery.objects.filter(pk__in=[row.pk for row in rows])}
    for row in rows[:9]:
        message = by_address[row.subscriber.email]
        assert message["TemplateAlias"] == TEMPLATE
        model = message["TemplateModel"]
        # The reader's own link (read back from the header: tokens carry the second they were made).
        found = re.fullmatch(r"<https://paperboy\.example(/unsubscribe/([^/]+)/)>", header(message, "List-Unsubscribe"))
        assert found, header(message, "List-Unsubscribe")
        unsubscribe, token = found.groups()
        assert read_token(token, Purpose.UNSUBSCRIBE) == row.subscriber
        assert unsubscribe in model["html_body"] and unsubscribe in model["text_body"]
        assert model["subject"] == rendering.rendered_edition(rows[0].edition).subject
        assert header(message, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert message["Metadata"] == {"delivery_id": str(row.pk), "edition_id": str(row.edition_id)}
        assert message["Tag"] == "digest-daily"
        assert stored[row.pk].status == "sent" and re.fullmatch(r"[0-9a-f-]{36}", stored[row.pk].esp_message_id)
    plain = by_address[text_reader.email]
    assert "HtmlBody" not in plain and "/unsubscribe/" in plain["TextBody"]
    assert len({row.esp_message_id for row in stored.values()}) == 10


@pytest.mark.django_db
def test_an_inactive_recipient_fails_and_the_rest_of_the_batch_is_sent(postmark, planned_edition, statuses):
    _, rows = planned_edition(4)
    bounced = rows[1].subscriber
    bounced.email = "bounced@inactive.example"
    bounced.save()

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.failed, outcome.retry_ids) == (3, 1, [])
    assert statuses(rows) == {row.pk: "failed" if row.subscriber_id == bounced.pk else "sent" for row in rows}
    assert "refused this recipient (rejected)" in Delivery.objects.get(subscriber=bounced).last_error
    assert postmark.stats()["refused"] == 1


@pytest.mark.django_db
def test_a_provider_outage_sends_nothing_twice_and_the_rows_go_back(postmark, planned_edition, statuses):
    _, rows = planned_edition(6)
    first = sending.send_chunk([row.pk for row in rows[:4]])
    postmark.fail_next = [503]  # the next call is answered "503 Service Unavailable"
    second = sending.send_chunk([row.pk for row in rows[4:]])

    assert (first.sent, second.sent, sorted(second.retry_ids)) == (4, 0, sorted(row.pk for row in rows[4:]))
    assert {statuses(rows)[row.pk] for row in rows[4:]} == {"pending"}
    assert Edition.objects.get(pk=rows[0].edition_id).consecutive_errors == 1

    again = sending.send_chunk([row.pk for row in rows])  # the retry: only the two left
    assert (again.sent, again.failed) == (2, 0)
    assert set(statuses(rows).values()) == {"sent"}
    addresses = [message["To"] for message in postmark.messages]
    assert sorted(addresses) == sorted(row.subscriber.email for row in rows)  # each exactly once


@pytest.mark.django_db
def test_without_a_batch_template_every_reader_is_one_call(postmark, settings, planned_edition):
    settings.DIGEST_ESP_BATCH_TEMPLATE = ""
    _, rows = planned_edition(3)

    outcome = sending.send_chunk([row.pk for row in rows])

    assert outcome.sent == 3
    assert postmark.calls == ["/email"] * 3
    assert all("HtmlBody" in message and "TemplateAlias" not in message for message in postmark.messages)


@pytest.mark.django_db
def test_with_a_text_template_plain_text_readers_go_in_batches_of_their_own(postmark, settings, planned_edition):
    settings.DIGEST_ESP_BATCH_TEXT_TEMPLATE = "paperboy-digest-text"
    _, rows = planned_edition(7)
    text_rows = rows[4:]
    for row in text_rows:
        row.subscriber.email_format = "text"
        row.subscriber.save()
    refused = text_rows[2].subscriber
    refused.email = "gone@inactive.example"
    refused.save()

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.failed, outcome.retry_ids) == (6, 1, [])
    assert postmark.calls == ["/email/batchWithTemplates"] * 2  # 4 HTML readers, then the 3 plain-text ones
    by_address = {message["To"]: message for message in postmark.messages}
    for row in rows:
        if row.subscriber == refused:
            assert row.subscriber.email not in by_address
            continue
        message = by_address[row.subscriber.email]
        model = message["TemplateModel"]
        if row in text_rows:
            assert message["TemplateAlias"] == "paperboy-digest-text"
            assert set(model) == {"subject", "text_body"}
        else:
            assert message["TemplateAlias"] == TEMPLATE
            assert set(model) == {"subject", "html_body", "text_body"}
        unsubscribe = header(message, "List-Unsubscribe")[1:-1].removeprefix("https://paperboy.example")
        assert unsubscribe.startswith("/unsubscribe/") and unsubscribe in model["text_body"]
        assert header(message, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert message["Metadata"] == {"delivery_id": str(row.pk), "edition_id": str(row.edition_id)}
    stored = Delivery.objects.get(subscriber=refused)
    assert stored.status == "failed" and "refused this recipient (rejected)" in stored.last_error


@pytest.mark.django_db
def test_a_batch_calls_outcomes_are_recorded_in_one_update(postmark, settings, planned_edition, statuses):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DIGEST_ESP_BATCH_SIZE = 150  # more than the ledger's 100 rows a write
    _, rows = planned_edition(150)

    with CaptureQueriesContext(connection) as queries:
        outcome = sending.send_chunk([row.pk for row in rows])

    assert outcome.sent == 150 and set(statuses(rows).values()) == {"sent"}
    # PostgreSQL's ledger write is one UPDATE ... FROM unnest(); elsewhere (ledger.py's portable flush)
    # one UPDATE setting the status, after a bulk_update of the ESP ids.
    marker = "esp_message_id = v.esp_id" if connection.vendor == "postgresql" else """SET "status" = 'sent'"""
    ledger_writes = [q["sql"] for q in queries.captured_queries if marker in q["sql"]]
    assert len(ledger_writes) == 1
