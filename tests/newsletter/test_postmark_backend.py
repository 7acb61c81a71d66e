"""newsletter/postmark.py sends what Anymail's own Postmark backend sends (the same JSON value, written
by orjson), and reads Postmark's answers as Anymail reads them; its shortcuts (orjson, addresses
from their parts, answers read by position) only ever stand in for Anymail's code, never change a
result.
The same batch goes through both backends over HTTP to the local Postmark stand-in
(bench/fake_esp.py), and recipient statuses are compared on real Postmark answer shapes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
from anymail.backends.postmark import EmailBackend as AnymailPostmark
from anymail.exceptions import AnymailInvalidAddress, AnymailSerializationError
from anymail.message import AnymailMessage
from anymail.utils import parse_address_list
from django.core.mail import get_connection
from hypothesis import given
from hypothesis import strategies as st

from bench.fake_esp import FakePostmark
from newsletter import esp_batch, sending
from newsletter.models import Delivery
from newsletter.postmark import DigestPayload, EmailBackend, address_list
from papers.models import Paper

TOKEN = "test-server-token"
TEMPLATE = "paperboy-digest"
OURS = "newsletter.postmark.EmailBackend"

pytestmark = pytest.mark.usefixtures("digest_settings")


@pytest.fixture
def postmark(settings):
    server = FakePostmark(token=TOKEN).start()
    settings.EMAIL_BACKEND = OURS
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN, "POSTMARK_API_URL": server.url}
    settings.DIGEST_ESP_BATCH_TEMPLATE = TEMPLATE
    settings.DIGEST_ESP_BATCH_SIZE = 500
    yield server
    server.stop()


def a_batch(rows: list[Delivery]) -> AnymailMessage:
    """One batch message for ``rows``, built as sending builds it."""
    mail = get_connection(OURS)
    sender = sending.ChunkSender(mail, sending.ChunkOutcome())
    batch, built = esp_batch.build_batch(sender, rows)
    assert batch is not None and built == rows
    return batch


def sent_through(backend: str, batch: AnymailMessage, server: FakePostmark) -> tuple[bytes, list[dict], dict]:
    """(request body, messages as the server read them, recipient statuses) of one send."""
    before_bodies, before_messages = len(server.bodies), len(server.messages)
    connection = get_connection(backend)
    assert connection.send_messages([batch]) == 1
    statuses = {addr: (s.status, s.message_id is not None) for addr, s in batch.anymail_status.recipients.items()}
    (body,) = server.bodies[before_bodies:]
    return body, server.messages[before_messages:], statuses


@pytest.mark.django_db
def test_the_same_batch_goes_out_as_through_anymails_backend(postmark, planned_edition):
    _, rows = planned_edition(6, papers=5)
    # Addresses our shortcut takes, and ones it leaves to Anymail's parser.
    for row, email in zip(rows, ["Mixed.Case@Example.org", "a+tag@example.org", "o'hara@example.org"], strict=False):
        row.subscriber.email = email
        row.subscriber.save()
    paper = rows[0].edition.paper_ids[0]
    Paper.objects.filter(pk=paper).update(title='Zoë\'s "fast" <b>&amp;</b> 🚀 \\ \u2028 models')
    batch = a_batch(rows)

    theirs, their_messages, their_statuses = sent_through("anymail.backends.postmark.EmailBackend", batch, postmark)
    ours, our_messages, our_statuses = sent_through(OURS, batch, postmark)

    assert json.loads(ours) == json.loads(theirs)
    assert "Zoë" in ours.decode("utf-8") and b"\\u00eb" in theirs, "UTF-8 where json.dumps writes escapes"
    assert "🚀" in our_messages[0]["TemplateModel"]["html_body"]
    assert postmark.calls == ["/email/batchWithTemplates"] * 2
    assert len(our_messages) == len(rows)
    for row, mine, anymails in zip(rows, our_messages, their_messages, strict=True):  # recipient by recipient
        assert mine == anymails
        assert mine["To"] == row.subscriber.email
        model = mine["TemplateModel"]
        assert set(model) == {"subject", "html_body", "text_body"}
        assert "/unsubscribe/" in model["html_body"] and "/unsubscribe/" in model["text_body"]
        headers = {h["Name"]: h["Value"] for h in mine["Headers"]}
        assert headers["List-Unsubscribe"].startswith("<https://paperboy.example/unsubscribe/")
        assert headers["List-Unsubscribe"][1:-1].removeprefix("https://paperboy.example") in model["html_body"]
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mine["Metadata"] == {"delivery_id": str(row.pk), "edition_id": str(row.edition_id)}
    assert our_statuses == their_statuses
    assert {status for status, has_id in our_statuses.values() if has_id} == {"sent"}


@pytest.mark.django_db
def test_a_batch_with_a_refused_recipient_is_read_as_anymail_reads_it(postmark, planned_edition):
    _, rows = planned_edition(4)
    bounced = rows[2].subscriber
    bounced.email = "Bounced@Inactive.example"
    bounced.save()
    batch = a_batch(rows)

    _, _, theirs = sent_through("anymail.backends.postmark.EmailBackend", batch, postmark)
    _, _, ours = sent_through(OURS, batch, postmark)

    assert ours == theirs
    assert ours[bounced.email] == ("rejected", False)
    assert sorted(status for status, _ in ours.values()) == ["rejected", "sent", "sent", "sent"]


def answer(body: object, status: int = 200) -> requests.Response:
    """A Postmark answer as requests hands it over (the body exactly as given)."""
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response.encoding = "utf-8"
    return response


def ok(to: str, message: str = "OK") -> dict:
    return {
        "ErrorCode": 0,
        "Message": message,
        "MessageID": f"id-{to}",
        "SubmittedAt": "2026-01-06T00:00:00Z",
        "To": to,
    }


TO = ["one@example.org", "Two@Example.org", "three@example.org"]
ANSWERS = {
    "all sent": [ok(to) for to in TO],
    "To written otherwise": [ok(TO[0]), ok("two@example.org"), ok(TO[2])],
    "delayed": [ok(TO[0]), ok(TO[1], "Message accepted, but delivery may be delayed."), ok(TO[2])],
    "inactive in an OK": [
        ok(TO[0]),
        ok(TO[1], "Message OK, but will not deliver to these inactive addresses: two@example.org. Inactive recipients"),
        ok(TO[2]),
    ],
    "inactive": [
        ok(TO[0]),
        {"ErrorCode": 406, "Message": "Found inactive addresses: two@example.org.\nInactive recipients are ..."},
        ok(TO[2]),
    ],
    "invalid To": [ok(TO[0]), {"ErrorCode": 300, "Message": "Invalid 'To' address: 'Two@Example.org'."}, ok(TO[2])],
    "fewer answers": [ok(TO[0]), ok(TO[1])],
    "no ErrorCode": [{k: v for k, v in ok(to).items() if k != "ErrorCode"} for to in TO],
}
FAILING = {
    "not JSON": "<html>Bad gateway</html>",
    "an account error": [{"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}] * 3,
    "no MessageID": [{k: v for k, v in ok(to).items() if k != "MessageID"} for to in TO],
    "no Message": [{k: v for k, v in ok(to).items() if k != "Message"} for to in TO],
    "not a list of objects": ["OK", "OK", "OK"],
}


def batch_payload(backend) -> tuple[AnymailMessage, object]:
    message = AnymailMessage(from_email="Paperboy <digest@paperboy.example>", to=TO)
    message.template_id = TEMPLATE
    message.merge_data = {to: {"subject": "s"} for to in TO}
    return message, backend.build_message_payload(message, backend.send_defaults)


def statuses_or_error(backend, body: object) -> object:
    message, payload = batch_payload(backend)
    try:
        found = backend.parse_recipient_status(answer(body), payload, message)
    except Exception as exc:  # whatever Anymail raises, ours must raise the same
        return ("raised", type(exc).__name__, str(exc).splitlines()[0])
    return {addr: (s.status, s.message_id) for addr, s in found.items()}


@pytest.mark.parametrize("body", list(ANSWERS.values()) + list(FAILING.values()), ids=[*ANSWERS, *FAILING])
def test_every_answer_is_read_as_anymail_reads_it(settings, body):
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN}
    theirs = statuses_or_error(AnymailPostmark(), body)
    ours = statuses_or_error(EmailBackend(), body)
    assert ours == theirs
    assert (body in FAILING.values()) == (isinstance(ours, tuple) and ours[0] == "raised")


def test_our_payload_is_used_and_serializes_messages_as_anymail_does(settings):
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN}
    ours, theirs = EmailBackend(), AnymailPostmark()
    message, payload = batch_payload(ours)
    assert isinstance(payload, DigestPayload)
    message.merge_headers = {TO[0]: {"List-Unsubscribe": "<https://x.example/u/>"}}
    message.merge_metadata = {TO[1]: {"delivery_id": "7"}}
    mine = ours.build_message_payload(message, ours.send_defaults).serialize_data()
    assert json.loads(mine) == json.loads(theirs.build_message_payload(message, theirs.send_defaults).serialize_data())
    single = AnymailMessage(subject="s", body="b", from_email="digest@paperboy.example", to=TO[:1])
    assert json.loads(ours.build_message_payload(single, {}).serialize_data()) == json.loads(
        theirs.build_message_payload(single, {}).serialize_data()
    )


@pytest.mark.parametrize(
    "metadata",
    [
        {"delivery_id": "7", "note": 'quotes " and \\ backslashes, ü, 🚀, \u2028, \x00 and \n'},
        {"nested": {"list": [1, 2.5, True, None], "tuple": (1, "a")}, "big": 2**63 - 1},
        {1: "an integer key", "huge": 2**70},  # orjson refuses both: Anymail's json.dumps writes them
    ],
)
def test_the_json_is_the_value_anymails_json_dumps_writes(settings, metadata):
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN}
    written = {}
    for name, backend in (("ours", EmailBackend()), ("theirs", AnymailPostmark())):
        message, _ = batch_payload(backend)
        message.merge_metadata = {TO[0]: metadata}
        message.merge_headers = {TO[1]: {"X-Note": "Zoë <z@example.org>"}}
        written[name] = backend.build_message_payload(message, backend.send_defaults).serialize_data()
    assert json.loads(written["ours"]) == json.loads(written["theirs"])


@pytest.mark.parametrize("value", [dt.datetime(2026, 12, 7, tzinfo=dt.UTC), dt.date(2026, 12, 7), object()])
def test_what_anymail_refuses_to_write_ours_refuses_with_anymails_error(settings, value):
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN}
    errors = []
    for backend in (EmailBackend(), AnymailPostmark()):
        message, _ = batch_payload(backend)
        message.merge_metadata = {TO[0]: {"when": value}}
        with pytest.raises(AnymailSerializationError) as raised:
            backend.build_message_payload(message, backend.send_defaults).serialize_data()
        errors.append(str(raised.value).splitlines()[0])
    assert errors[0] == errors[1]


ADDRESSES = [
    ["reader@example.org"],
    ["Mixed.Case+tag@Sub.Example.org", "o'hara@example.org", "x_y-z{1}@a-b.example"],
    ["Reader Name <reader@example.org>"],
    ['"quoted local"@example.org'],
    ["a..b@example.org"],
    [".a@example.org"],
    ["reader@exämple.org"],
    ["rëader@example.org"],
    ["one@example.org, two@example.org"],
    ["one@example.org", "Two <two@example.org>"],
]


def parsed(parse, addresses) -> object:
    try:
        return [(a.display_name, a.username, a.domain, a.addr_spec, a.address) for a in parse(addresses, field="to")]
    except AnymailInvalidAddress as exc:
        return ("invalid", str(exc))


@pytest.mark.parametrize("addresses", [*ADDRESSES, ["no-at-sign"], ["two@@example.org"], [""]])
def test_recipients_are_what_anymails_parser_makes_of_them(addresses):
    assert parsed(address_list, addresses) == parsed(parse_address_list, addresses)


@pytest.mark.parametrize("to", [["no-at-sign"], ["ok@example.org", "two@@example.org"]])
def test_an_invalid_recipient_is_refused_with_anymails_words(settings, to):
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN}
    errors = []
    for backend in (AnymailPostmark(), EmailBackend()):
        message = AnymailMessage(from_email="digest@paperboy.example", to=to, subject="s", body="b")
        with pytest.raises(AnymailInvalidAddress) as raised:
            backend.build_message_payload(message, backend.send_defaults)
        errors.append(str(raised.value))
    assert errors[0] == errors[1] and "in `to`" in errors[0]


@given(st.lists(st.from_regex(r"[A-Za-z0-9.'+_-]{1,12}@[A-Za-z0-9.-]{1,12}", fullmatch=True), min_size=1, max_size=4))
def test_any_simple_looking_address_is_what_anymails_parser_makes_of_it(addresses):
    assert parsed(address_list, addresses) == parsed(parse_address_list, addresses)


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["anymail.backends.postmark.EmailBackend", OURS], ids=["anymail", "paperboy"])
@pytest.mark.parametrize("body", ["<html>Bad gateway</html>", '["OK", "OK"]', "{}"], ids=["html", "strings", "object"])
@pytest.mark.parametrize("text_readers", [0, 1])
def test_an_unreadable_answer_leaves_the_batch_unknown_never_resent(
    postmark, settings, planned_edition, statuses, backend, body, text_readers
):
    settings.EMAIL_BACKEND = backend
    _, rows = planned_edition(4)
    for row in rows[4 - text_readers :]:  # a plain-text reader waits for the batch, one by one
        row.subscriber.email_format = "text"
        row.subscriber.save()
    postmark.garble_next = [body]  # the provider took the call (200) but its answer makes no sense

    outcome = sending.send_chunk([row.pk for row in rows])

    batch = rows[: 4 - text_readers]
    assert (outcome.sent, outcome.failed, outcome.retry_ids) == (0, len(batch), [row.pk for row in rows[len(batch) :]])
    stored = Delivery.objects.filter(pk__in=[row.pk for row in batch])
    assert {row.status for row in stored} == {"unknown"}, "maybe sent: never sent again blindly"
    assert all(row.last_error.startswith("unreadable provider answer") for row in stored)
    assert {statuses(rows)[row.pk] for row in rows[len(batch) :]} <= {"pending"}
