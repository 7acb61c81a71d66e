"""Sending: claim rows atomically, render, hand each message to the provider over one
connection, record the outcome at once. A message is never sent twice: a row is sent only by the
worker whose claim moved it from pending to sending, and a row whose worker vanished mid-send
becomes 'unknown' instead of being retried."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import smtplib
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from anymail.message import AnymailMessage
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import CharField, F, Prefetch, Value
from django.db.models.functions import Cast, Concat
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.http import RFC3986_SUBDELIMS

from common.db import id_list
from config import signing as fast_signing
from newsletter.mime import DigestEmail, email_class
from newsletter.models import Delivery, Edition
from newsletter.rendering import PaperView, RenderedEdition, render_digest, render_edition
from papers.models import DailyEntry, Paper, PaperAuthor
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token

logger = logging.getLogger(__name__)
VIEW_SALT = "paperboy.newsletter.view"


class TransientError(Exception):
    """Worth retrying later: the connection, a timeout, a 4xx SMTP reply, an ESP 5xx or 429."""


class PermanentError(Exception):
    """This recipient will not take this message: invalid address, 5xx SMTP reply, ESP 4xx."""


def classify(exc: Exception) -> Exception:
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentError(str(exc))
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        if status is not None and 400 <= status < 500 and status != 429:
            return PermanentError(str(exc))
        return TransientError(str(exc))
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return TransientError(str(exc)) if codes and all(400 <= c < 500 for c in codes) else PermanentError(str(exc))
    if isinstance(exc, smtplib.SMTPResponseException):
        return PermanentError(str(exc)) if exc.smtp_code >= 500 else TransientError(str(exc))
    if isinstance(exc, (smtplib.SMTPException, OSError, socket.timeout)):
        return TransientError(f"{exc.__class__.__name__}: {exc}")
    return TransientError(f"{exc.__class__.__name__}: {exc}")


# --- Links -----------------------------------------------------------------------------------


def view_token(delivery_id: int) -> str:
    return fast_signing.signer(VIEW_SALT).sign(str(delivery_id))


def read_view_token(token: str) -> int | None:
    try:
        return int(fast_signing.signer(VIEW_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


_SLOT = "paperboy-link-slot"


@functools.lru_cache(maxsize=32)
def _link_around_token(name: str, script_prefix: str, *more: object) -> tuple[str, str]:
    """What ``reverse(name, args=[token, *more])`` puts before and after the token: reversing once
    per process instead of four times per message."""
    before, _, after = reverse(name, args=[_SLOT, *more]).partition(_SLOT)
    return before, after


def _link(name: str, token: str, *more: object) -> str:
    before, after = _link_around_token(name, get_script_prefix(), *more)
    return f"{settings.SITE_URL}{before}{quote(token, safe=RFC3986_SUBDELIMS + '/~:@')}{after}"


def personal_links(delivery: Delivery, subscriber: Subscriber) -> tuple[dict[str, str], str]:
    links = {
        "view_url": _link("newsletter:view_digest", view_token(delivery.pk)),
        "preferences_url": _link("subscribers:preferences", make_token(subscriber, Purpose.PREFERENCES)),
        "unsubscribe_url": _link("subscribers:unsubscribe", make_token(subscriber, Purpose.UNSUBSCRIBE)),
    }
    feedback = _link("newsletter:feedback", make_token(subscriber, Purpose.FEEDBACK), 0, "more")
    return links, feedback.removesuffix("0/more/")


def _domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def _message_id_tail(claim: str) -> str:
    return f".{claim or 'preview'}@{_domain()}>"


def message_id_for(delivery: Delivery) -> str:
    """Unique per delivery and per claim: a row sent again after an editor's resend gets a new one.
    (The ledger writes the same in SQL: ``'<d' || id || tail``.)"""
    return f"<d{delivery.pk}{_message_id_tail(delivery.claim)}"


def list_id(kind: str) -> str:
    return f"{settings.SITE_NAME} {kind} digest <{kind}.digest.{_domain()}>"


# --- Rendering, once per edition per process ---------------------------------------------------


_rendered: dict[tuple, tuple[float, RenderedEdition]] = {}
RENDER_CACHE_SECONDS = 300  # editors' notes may change while an edition goes out


def paper_views(edition: Edition) -> list[PaperView]:
    authors = Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))
    papers = Paper.objects.prefetch_related(authors).in_bulk(edition.paper_ids)
    entries = {
        entry.paper_id: entry
        for entry in DailyEntry.objects.filter(
            paper_id__in=edition.paper_ids, day__gte=edition.period_start, day__lte=edition.period_end
        ).order_by("day")
    }
    pinned = set(edition.pinned_ids)
    return [
        PaperView(
            paper=papers[pk],
            upvotes=entries[pk].upvotes if pk in entries else papers[pk].upvotes,
            note=entries[pk].note if pk in entries else "",
            pinned=pk in pinned,
        )
        for pk in edition.paper_ids
        if pk in papers
    ]


def rendered_edition(edition: Edition) -> RenderedEdition:
    """The shared renderings of ``edition``, computed once per process and reused for a few
    minutes (sooner if the subject, intro or papers change)."""
    key = (edition.pk, edition.subject, edition.intro, tuple(edition.paper_ids), tuple(edition.pinned_ids))
    cached = _rendered.get(key)
    if cached is None or time.monotonic() - cached[0] > RENDER_CACHE_SECONDS:
        for other in [k for k in _rendered if k[0] == edition.pk or len(_rendered) > 16]:
            del _rendered[other]
        cached = _rendered[key] = (time.monotonic(), render_edition(edition, paper_views(edition)))
    return cached[1]


def build_message(delivery: Delivery, subscriber: Subscriber, rendered: RenderedEdition) -> EmailMultiAlternatives:
    links, feedback = personal_links(delivery, subscriber)
    wants_html = subscriber.email_format == Subscriber.Format.HTML
    digest = render_digest(rendered, delivery.paper_ids, links=links, feedback_url=feedback, html=wants_html)
    message = email_class()(
        digest.subject,
        digest.text,
        settings.DEFAULT_FROM_EMAIL,
        [subscriber.email],
        headers={
            "List-Unsubscribe": f"<{links['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": list_id(delivery.kind),
            "Message-ID": message_id_for(delivery),
        },
    )
    if wants_html:
        message.attach_alternative(digest.html, "text/html")
    # Anymail reads these; other backends ignore them.
    message.metadata = {"delivery_id": str(delivery.pk), "edition_id": str(delivery.edition_id)}
    # One tag: some ESPs (Postmark) take only one per message.
    message.tags = [f"digest-{delivery.kind}"]
    return message


# --- Sending ----------------------------------------------------------------------------------


@dataclass
class ChunkOutcome:
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_in: float = 0.0
    paused: bool = False


# What sending reads of a claimed row and its subscriber (anything else would cost a query per row).
CLAIMED_FIELDS = [
    *("edition_id", "subscriber_id", "kind", "paper_ids", "attempts", "claim", "status"),
    *(f"subscriber__{name}" for name in ("email", "email_format", "public_id", "link_key", "status")),
]


def claim(delivery_ids: list[int]) -> list[Delivery]:
    """Move the still-pending rows of running editions to 'sending' under a fresh claim id;
    the UPDATE's row locks make sure two workers never claim the same row."""
    token = uuid.uuid4().hex
    Delivery.objects.filter(
        pk__in=id_list(delivery_ids),
        status=Delivery.Status.PENDING,
        # A subquery, not a join: with a join Django wraps the UPDATE in `id IN (SELECT ...)`, whose
        # status check PostgreSQL does not re-check after waiting on another claim's row locks.
        edition_id__in=Edition.objects.filter(status__in=[Edition.Status.SCHEDULED, Edition.Status.SENDING]).values(
            "pk"
        ),
    ).update(status=Delivery.Status.SENDING, claim=token, claimed_at=timezone.now(), attempts=F("attempts") + 1)
    rows = list(
        Delivery.objects.filter(pk__in=id_list(delivery_ids), status=Delivery.Status.SENDING, claim=token)
        .select_related("subscriber")
        .only(*CLAIMED_FIELDS)
        .order_by("pk")
    )
    # One Edition object per edition, so state kept on it holds for the whole chunk.
    editions = Edition.objects.in_bulk({row.edition_id for row in rows})
    for row in rows:
        row.edition = editions[row.edition_id]
    return rows


def wait_for_send_slot(count: int = 1) -> None:
    """At most DIGEST_SEND_RATE messages per second across every worker (shared cache counter).
    ``count``: messages about to go in one call (an ESP batch)."""
    rate = settings.DIGEST_SEND_RATE
    if rate <= 0:
        return
    while True:
        second = int(time.time())
        key = f"paperboy:send-rate:{second}"
        cache.add(key, 0, timeout=5)
        total = cache.incr(key, count)
        if total <= rate or total == count:  # a batch larger than the rate goes alone in its second
            return
        time.sleep(max(0.0, second + 1 - time.time()) + 0.001)


def backoff(attempts: int) -> float:
    """Exponential backoff with full jitter: up to 30 s, 60 s, 120 s... capped at an hour."""
    return random.uniform(0.5, 1.0) * min(30 * 2 ** max(attempts - 1, 0), 3600)  # noqa: S311 (jitter)


def _finish(row: Delivery, status: str, **fields) -> None:
    """Record an outcome, only while the row is still ours (sending, under this claim)."""
    Delivery.objects.filter(pk=row.pk, status=Delivery.Status.SENDING, claim=row.claim).update(status=status, **fields)


class SentLedger:
    """Records sent rows in batches: one UPDATE for up to ``max_rows`` messages or ``max_delay``
    seconds of sending, whichever comes first. When a single send is slow (a slow provider), every
    row is recorded at once, because then a write costs nothing next to the send. A worker killed
    hard leaves at most that window's rows in 'sending' (they become 'unknown', never re-sent).
    ``sent_at`` is the time of the batch's write (within ``max_delay`` of the send)."""

    def __init__(self, *, max_rows: int = 100, max_delay: float = 0.1) -> None:
        self.max_rows, self.max_delay = max_rows, max_delay
        self.rows: list[Delivery] = []
        self.oldest = 0.0

    def sent(self, row: Delivery, *, esp_message_id: str, send_seconds: float) -> None:
        row.esp_message_id = esp_message_id
        if not self.rows:
            self.oldest = time.monotonic()
        self.rows.append(row)
        if (
            len(self.rows) >= self.max_rows
            or send_seconds >= self.max_delay / 2
            or time.monotonic() - self.oldest >= self.max_delay
        ):
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        claim_id = self.rows[0].claim  # one chunk, one claim
        if connection.vendor == "postgresql":
            self._flush_postgresql(claim_id)
        else:
            ours = Delivery.objects.filter(status=Delivery.Status.SENDING, claim=claim_id)
            with transaction.atomic():
                with_esp_id = [row for row in self.rows if row.esp_message_id]
                if with_esp_id:
                    ours.bulk_update(with_esp_id, ["esp_message_id"])
                ours.filter(pk__in=[row.pk for row in self.rows]).update(
                    status=Delivery.Status.SENT,
                    sent_at=timezone.now(),
                    last_error="",
                    # The Message-ID each message was sent with (see message_id_for), written in SQL.
                    message_id=Concat(
                        Value("<d"), Cast("pk", output_field=CharField()), Value(_message_id_tail(claim_id))
                    ),
                )
        self.rows = []

    def _flush_postgresql(self, claim_id: str) -> None:
        """One UPDATE, ids and ESP message ids as two array parameters."""
        table = connection.ops.quote_name(Delivery._meta.db_table)
        sql = f"""
            UPDATE {table} AS d
               SET status = %s, sent_at = %s, last_error = '', esp_message_id = v.esp_id,
                   message_id = '<d' || d.id || %s
              FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::text[]) AS esp_id) AS v
             WHERE d.id = v.id AND d.status = %s AND d.claim = %s
        """  # noqa: S608 - the table name comes from the model
        params = [
            Delivery.Status.SENT.value,
            timezone.now(),
            _message_id_tail(claim_id),
            [row.pk for row in self.rows],
            [row.esp_message_id for row in self.rows],
            Delivery.Status.SENDING.value,
            claim_id,
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _release(rows: list[Delivery], error: str, outcome: ChunkOutcome) -> None:
    """Hand unsent rows back (pending), or fail those out of attempts."""
    for row in rows:
        if row.attempts >= settings.DIGEST_MAX_ATTEMPTS:
            _finish(row, Delivery.Status.FAILED, last_error=f"gave up after {row.attempts} attempts: {error}")
            outcome.failed += 1
        else:
            _finish(row, Delivery.Status.PENDING, last_error=error, claimed_at=None)
            outcome.retry_ids.append(row.pk)
    if outcome.retry_ids:
        outcome.retry_in = backoff(max(row.attempts for row in rows))


def _record_error(edition: Edition, error: str) -> bool:
    """Count a consecutive error on the edition; pause it past the threshold. True if paused."""
    Edition.objects.filter(pk=edition.pk).update(consecutive_errors=F("consecutive_errors") + 1)
    edition.refresh_from_db(fields=["consecutive_errors", "status"])
    if edition.consecutive_errors >= settings.DIGEST_PAUSE_AFTER_ERRORS and edition.status != Edition.Status.PAUSED:
        reason = f"Paused after {edition.consecutive_errors} consecutive send errors. Last: {error}"
        Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.PAUSED, pause_reason=reason)
        logger.error("%s: %s", edition, reason)
        return True
    return False


def send_chunk(delivery_ids: list[int]) -> ChunkOutcome:
    outcome = ChunkOutcome()
    rows = claim(delivery_ids)
    if not rows:
        return outcome
    # Who is still receiving, once per chunk: a reader who left after planning gets nothing.
    receiving = set(
        Subscriber.objects.filter(pk__in=id_list([row.subscriber_id for row in rows]), status=Subscriber.Status.ACTIVE)
        .order_by()
        .values_list("pk", flat=True)
    )
    gone = [row for row in rows if row.subscriber_id not in receiving]
    if gone:
        Delivery.objects.filter(
            pk__in=[row.pk for row in gone], status=Delivery.Status.SENDING, claim=rows[0].claim
        ).update(status=Delivery.Status.SUPPRESSED, last_error="")
        outcome.suppressed = len(gone)
        rows = [row for row in rows if row.subscriber_id in receiving]
        if not rows:
            return outcome
    try:
        connection = get_connection(fail_silently=False)
        connection.open()
    except Exception as exc:  # the provider is unreachable: nothing was sent, all rows go back
        error = str(classify(exc))
        _release(rows, error, outcome)
        outcome.paused = _record_error(rows[0].edition, error)
        return outcome
    ledger = SentLedger()
    try:
        if settings.DIGEST_ESP_BATCH_TEMPLATE:
            html = [row for row in rows if row.subscriber.email_format == Subscriber.Format.HTML]
            text = [row for row in rows if row.subscriber.email_format != Subscriber.Format.HTML]
            stopped = _send_in_batches(html, connection, ledger, outcome)
            if stopped:
                stopped = (stopped[0] + text, stopped[1])
            else:
                stopped = _send_one_by_one(text, connection, ledger, outcome)
        else:
            stopped = _send_one_by_one(rows, connection, ledger, outcome)
        if stopped:  # the provider failed us: what was not sent goes back, the edition counts an error
            unsent, error = stopped
            _release(unsent, error, outcome)
            outcome.paused = _record_error(rows[0].edition, error)
    finally:
        try:
            ledger.flush()
        finally:
            try:
                connection.close()
            except Exception:  # closing a broken connection must not hide what happened
                logger.warning("closing the email connection failed", exc_info=True)
    return outcome


Stopped = tuple[list[Delivery], str] | None  # rows not attempted, and why


def _fail(row: Delivery, error: str, outcome: ChunkOutcome, *, status: str = Delivery.Status.FAILED) -> None:
    _finish(row, status, last_error=error)
    outcome.failed += 1


def _build(row: Delivery, outcome: ChunkOutcome) -> DigestEmail | None:
    """The row's digest, or None: a rendering bug will not fix itself, so the row fails."""
    try:
        return build_message(row, row.subscriber, rendered_edition(row.edition))
    except Exception as exc:
        logger.exception("rendering delivery %s failed", row.pk)
        _fail(row, f"rendering failed: {exc.__class__.__name__}: {exc}", outcome)
        return None


def _sent_ok(row: Delivery) -> None:
    if row.edition.consecutive_errors:
        Edition.objects.filter(pk=row.edition_id).update(consecutive_errors=0)
        row.edition.consecutive_errors = 0


@dataclass
class _InFlight:
    """A message handed to the server whose final reply is still to be read."""

    index: int
    row: Delivery
    message: DigestEmail
    started: float
    read_reply: Callable[[], None] | None = None  # None: already sent in full by send_messages


def _send_one_by_one(rows: list[Delivery], connection, ledger: SentLedger, outcome: ChunkOutcome) -> Stopped:
    """One message per call. Where the connection can defer the final reply (send_deferred: SMTP
    with PIPELINING), the next message is rendered while the server takes the previous one; a
    row is still recorded only once the server's final reply has been read."""
    defer = getattr(connection, "send_deferred", None)

    def settle(flight: _InFlight) -> Stopped:
        try:
            if flight.read_reply is not None:
                flight.read_reply()
        except Exception as exc:
            problem = classify(exc)
            if isinstance(problem, PermanentError):
                _fail(flight.row, str(problem), outcome)
                return None
            return rows[flight.index :], str(problem)
        esp_id = getattr(getattr(flight.message, "anymail_status", None), "message_id", None)
        ledger.sent(
            flight.row,
            esp_message_id="" if esp_id is None else str(esp_id),
            send_seconds=time.monotonic() - flight.started,
        )
        outcome.sent += 1
        _sent_ok(flight.row)
        return None

    pending: _InFlight | None = None
    for index, row in enumerate(rows):
        message = _build(row, outcome)
        if message is None:
            continue
        if pending is not None:
            stopped, pending = settle(pending), None
            if stopped:
                return stopped
        wait_for_send_slot()
        flight = _InFlight(index, row, message, time.monotonic())
        try:
            flight.read_reply = defer(message) if defer is not None else None
            if flight.read_reply is None:
                connection.send_messages([message])
        except Exception as exc:
            problem = classify(exc)
            if isinstance(problem, PermanentError):
                _fail(row, str(problem), outcome)
                continue
            return rows[index:], str(problem)
        if flight.read_reply is None:
            stopped = settle(flight)
            if stopped:
                return stopped
        else:
            pending = flight
    return settle(pending) if pending is not None else None


def build_batch(rows: list[Delivery], outcome: ChunkOutcome) -> tuple[AnymailMessage | None, list[Delivery]]:
    """One ESP batch call for ``rows`` (HTML readers): the ESP's stored template
    DIGEST_ESP_BATCH_TEMPLATE is a shell that shows each reader's own rendering, passed as merge
    data (``subject``, ``html_body``, ``text_body``); headers and metadata per reader. Rows whose
    rendering fails are failed here and left out."""
    merge_data, merge_headers, merge_metadata, built = {}, {}, {}, []
    for row in rows:
        message = _build(row, outcome)
        if message is None:
            continue
        email = row.subscriber.email
        merge_data[email] = {
            "subject": message.subject,
            "html_body": message.alternatives[0][0],
            "text_body": message.body,
        }
        merge_headers[email] = message.extra_headers
        merge_metadata[email] = message.metadata
        built.append(row)
    if not built:
        return None, []
    batch = AnymailMessage(
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.subscriber.email for row in built],
        tags=[f"digest-{built[0].kind}"],
    )
    batch.template_id = settings.DIGEST_ESP_BATCH_TEMPLATE
    batch.merge_data, batch.merge_headers, batch.merge_metadata = merge_data, merge_headers, merge_metadata
    return batch, built


def _send_in_batches(rows: list[Delivery], connection, ledger: SentLedger, outcome: ChunkOutcome) -> Stopped:
    size = max(1, settings.DIGEST_ESP_BATCH_SIZE)
    for start in range(0, len(rows), size):
        batch, built = build_batch(rows[start : start + size], outcome)
        if batch is None:
            continue
        wait_for_send_slot(len(built))
        try:
            connection.send_messages([batch])
        except AnymailRecipientsRefused:
            pass  # every recipient refused: their statuses say how, below
        except Exception as exc:
            if isinstance(exc, AnymailAPIError) and getattr(exc, "status_code", None) == 200:
                # The provider took the call but answered in a way we cannot read: some messages
                # may have gone. Never guess: the rows become 'unknown' (an editor may resend).
                for row in built:
                    _fail(row, f"unreadable provider answer: {exc}", outcome, status=Delivery.Status.UNKNOWN)
                return rows[start + size :], str(classify(exc))
            return built + rows[start + size :], str(classify(exc))  # nothing of this call was taken
        statuses = {address.lower(): status for address, status in batch.anymail_status.recipients.items()}
        sent = 0
        for row in built:
            status = statuses.get(row.subscriber.email.lower())
            if status is not None and status.status in ("sent", "queued"):
                ledger.sent(row, esp_message_id=status.message_id or "", send_seconds=0.0)
                sent += 1
            elif status is not None and status.status in ("rejected", "invalid"):
                _fail(row, f"the provider refused this recipient ({status.status})", outcome)
            else:
                _fail(row, "the provider did not say whether it sent this", outcome, status=Delivery.Status.UNKNOWN)
        ledger.flush()
        outcome.sent += sent
        if sent:
            _sent_ok(built[0])
    return None


def reap_stale(*, now: dt.datetime | None = None) -> int:
    """Rows a vanished worker left in 'sending': maybe sent, maybe not. Mark them unknown; an
    editor may choose to send them again (admin action)."""
    cutoff = (now or timezone.now()) - dt.timedelta(minutes=settings.DIGEST_SENDING_TIMEOUT_MINUTES)
    return Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=cutoff).update(
        status=Delivery.Status.UNKNOWN,
        last_error="the worker sending this row stopped before recording the outcome",
    )


def send_test(edition: Edition, address: str) -> None:
    """A test of ``edition`` to any address: the top papers, links that lead nowhere personal."""
    rendered = render_edition(edition, paper_views(edition))
    site = settings.SITE_URL
    links = {
        "view_url": site + reverse("newsletter:archive_edition", args=[edition.pk]),
        "preferences_url": site + reverse("subscribers:subscribe"),
        "unsubscribe_url": site + reverse("subscribers:subscribe"),
    }
    digest = render_digest(rendered, edition.paper_ids[:10], links=links, feedback_url=f"{site}/#")
    message = EmailMultiAlternatives(f"[TEST] {digest.subject}", digest.text, settings.DEFAULT_FROM_EMAIL, [address])
    message.attach_alternative(digest.html, "text/html")
    message.send()
