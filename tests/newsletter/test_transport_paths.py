"""The hand-written transport and Django's own deliver the same digests.

A planned edition goes through the send loop (``sending.send_chunk``) into a real SMTP server
(aiosmtpd, offering PIPELINING) four ways: digests' MIME written by newsletter/mime.py or by
Django's EmailMultiAlternatives (DIGEST_FAST_MIME), and SMTP pipelined by newsletter/smtp.py or
sent one command at a time as Django's backend does (EMAIL_SMTP_PIPELINING). Every way, each
reader gets the same message: the same headers, the same parts, the same links.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from django.core import signing
from django.utils import timezone

from newsletter import digest_email, planning, rendering, sending, smtp
from newsletter.mime import DigestEmail
from newsletter.models import Delivery, Edition
from papers.models import Paper
from subscribers.tokens import Purpose, read_token
from tests.factories import SubscriberFactory
from tests.newsletter.conftest import LIST_ID, SITE_URL, UNSUBSCRIBE_HEADER

pytestmark = pytest.mark.usefixtures("digest_settings")

PATHS = {
    "fast-mime-pipelined": (True, True),
    "fast-mime-one-by-one": (True, False),
    "django-mime-pipelined": (False, True),
    "django-mime-one-by-one": (False, False),
}
SENDER = "Paperbøy Digest <digest@paperboy.example>"  # non-ASCII: both paths must encode it
CLAIM = re.compile(r"\.[0-9a-f]{32}@")

Views = dict[str, dict[str, object]]


def calls_to(monkeypatch, owner, name: str) -> list[None]:
    """A list that grows by one on every call of ``owner.name`` (which still runs)."""
    calls: list[None] = []
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(None)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.fixture
def edition_and_rows(settings, monkeypatch, planned_edition) -> tuple[Edition, list[Delivery]]:
    """Five HTML readers and two plain-text readers planned for today's edition. Every signed
    link carries the same timestamp, so links of sends seconds apart are comparable."""
    settings.DEFAULT_FROM_EMAIL = SENDER
    stamp = signing.b62_encode(int(time.time()))
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: stamp)
    edition, _ = planned_edition(5)
    confirmed = timezone.now() - dt.timedelta(days=1)
    SubscriberFactory.create_batch(2, status="active", confirmed_at=confirmed, email_format="text")
    assert planning.plan_deliveries(edition, planning.all_readers(edition)) == 2
    return edition, list(Delivery.objects.filter(edition=edition).select_related("subscriber").order_by("pk"))


@pytest.fixture
def send_through(smtp_server, use_smtp, settings, monkeypatch) -> Callable[..., Views]:
    """Send ``rows`` (pending) with the given settings; what each reader received, by address.
    Checks that the path asked for is the one taken, and leaves the rows pending again."""
    inbox = smtp_server()
    use_smtp(inbox.port)
    written_directly = calls_to(monkeypatch, DigestEmail, "message")
    pipelined = calls_to(monkeypatch, smtp, "start_pipelined")

    def send(rows: list[Delivery], *, fast_mime: bool, pipelining: bool) -> Views:
        settings.DIGEST_FAST_MIME, settings.EMAIL_SMTP_PIPELINING = fast_mime, pipelining
        inbox.received.clear()
        written_directly.clear()
        pipelined.clear()

        outcome = sending.send_chunk([row.pk for row in rows])

        assert (outcome.sent, outcome.failed, outcome.retry_ids) == (len(rows), 0, [])
        assert len(written_directly) == (len(rows) if fast_mime else 0)
        assert len(pipelined) == (len(rows) if pipelining else 0)
        views = {}
        for row in rows:
            row.refresh_from_db()
            assert row.status == "sent"
            (message,) = inbox.messages_to(row.subscriber.email)
            assert message["Message-ID"] == row.message_id, "the ledger records the Message-ID sent"
            views[row.subscriber.email] = reader_view(message)
        Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Delivery.Status.PENDING, claim="", claimed_at=None, sent_at=None, message_id=""
        )
        return views

    return send


def reader_view(message: EmailMessage) -> dict[str, object]:
    """What a mail reader shows of ``message``: its headers (Date aside; the Message-ID's
    per-send claim masked), its type, and each part's type, charset, encoding and text."""
    headers = {
        name.lower(): str(value).strip()
        for name, value in message.items()
        if name.lower() not in {"date", "content-type", "content-transfer-encoding"}
    }
    headers["message-id"] = CLAIM.sub(".<claim>@", headers["message-id"])
    leaves = [
        (part.get_content_type(), part.get_content_charset(), part["Content-Transfer-Encoding"], part.get_content())
        for part in message.walk()
        if not part.is_multipart()
    ]
    assert not message.defects and all(not part.defects for part in message.walk())
    return {"headers": headers, "type": message.get_content_type(), "parts": leaves}


@pytest.mark.django_db
@pytest.mark.parametrize(("fast_mime", "pipelining"), PATHS.values(), ids=PATHS.keys())
def test_every_reader_gets_their_digest_with_exact_headers(edition_and_rows, send_through, fast_mime, pipelining):
    edition, rows = edition_and_rows

    views = send_through(rows, fast_mime=fast_mime, pipelining=pipelining)

    rendered = rendering.rendered_edition(edition)
    for row in rows:
        view = views[row.subscriber.email]
        headers = view["headers"]
        assert headers["from"] == SENDER
        assert headers["to"] == row.subscriber.email
        assert headers["subject"] == digest_email.build_message(row, row.subscriber, rendered).subject
        assert headers["message-id"] == f"<d{row.pk}.<claim>@paperboy.example>"
        assert headers["list-id"] == LIST_ID
        assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
        unsubscribe = UNSUBSCRIBE_HEADER.fullmatch(headers["list-unsubscribe"])
        assert unsubscribe and read_token(unsubscribe[2], Purpose.UNSUBSCRIBE).pk == row.subscriber_id
        (text_type, charset, _, text), *html = view["parts"]
        assert (text_type, charset) == ("text/plain", "utf-8")
        assert SITE_URL + unsubscribe[1] in text
        assert all(paper.title in text for paper in Paper.objects.filter(pk__in=row.paper_ids))
        if row.subscriber.email_format == "html":
            assert view["type"] == "multipart/alternative"
            ((html_type, _, _, html_text),) = html
            assert html_type == "text/html" and "<html" in html_text.lower() and unsubscribe[1] in html_text
        else:
            assert view["type"] == "text/plain" and html == []


@pytest.mark.django_db
def test_every_path_delivers_the_same_message_to_each_reader(edition_and_rows, send_through):
    _, rows = edition_and_rows

    views = {
        path: send_through(rows, fast_mime=fast, pipelining=pipelined) for path, (fast, pipelined) in PATHS.items()
    }

    reference = views.pop("fast-mime-pipelined")
    assert len(reference) == len(rows)
    for path, view in views.items():
        assert view == reference, path
