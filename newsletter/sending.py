"""Sending a chunk of deliveries: claim the rows atomically, hand each message to the provider over
ONE connection, record every outcome. A row is sent only by the worker whose claim moved it from
pending to sending. When the worker vanishes mid-chunk, the hand-over record (handover.py) tells
the rows that may have reached the provider ('unknown', never sent again blindly) from those never
attempted (pending again), so no message is sent twice and nobody is left out."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError
from django.db import connection as db
from django.db.models import F
from django.utils import timezone

from common.db import id_list
from newsletter import esp_batch, handover, services
from newsletter.digest_email import build_message
from newsletter.ledger import SentLedger
from newsletter.models import Delivery, Edition
from newsletter.provider import AccountError, PermanentError, classify, outcome_unclear, wait_for_send_slot
from newsletter.rendering import RenderedEdition, rendered_edition
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)


@dataclass
class ChunkOutcome:
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    skipped: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_in: float = 0.0
    paused: bool = False


# What sending reads of a claimed row and its subscriber (anything else would cost a query per row).
CLAIMED_FIELDS = [
    *("edition_id", "subscriber_id", "kind", "paper_ids", "reasons", "unmatched", "attempts", "claim", "status"),
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
        edition_id__in=Edition.objects.running().values("pk"),
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


# A retry's countdown is held unacknowledged by a worker: config/celery.py's broker timeouts exceed it.
BACKOFF_CEILING = 3600.0


def backoff(attempts: int) -> float:
    """Exponential backoff with full jitter: up to 30 s, 60 s, 120 s... capped at an hour."""
    ceiling = min(30.0 * 2.0 ** max(attempts - 1, 0), BACKOFF_CEILING)
    return random.uniform(0.5, 1.0) * ceiling  # noqa: S311 (jitter, not a secret)


def finish_row(row: Delivery, status: str, **fields: Any) -> None:
    """Record an outcome, only while the row is still ours (sending, under this claim)."""
    Delivery.objects.filter(pk=row.pk, status=Delivery.Status.SENDING, claim=row.claim).update(status=status, **fields)


@dataclass
class InFlight:
    """A message handed to the server whose final reply is still to be read."""

    index: int
    row: Delivery
    message: EmailMultiAlternatives
    started: float
    read_reply: Any = None  # () -> None, raising what send_messages would; None: sent in full already


class ChunkSender:
    """Sends one chunk's claimed rows over one open provider connection (``mail``; the database
    connection is Django's). States: sending, until the provider fails us; then ``stopped`` holds
    the rows not attempted and ``problem`` why (``error``: as text), and the caller hands them back."""

    def __init__(self, mail: Any, outcome: ChunkOutcome) -> None:
        self.mail = mail
        self.outcome = outcome
        self.ledger = SentLedger()
        self.handover: handover.Handover | None = None
        self.in_flight: InFlight | None = None
        self.stopped: list[Delivery] = []
        self.problem: Exception | None = None
        # Each edition's shared renderings, fetched once per chunk: a paper hidden or deleted
        # after publishing is left out of every digest from the next chunk on.
        self.renderings: dict[int, RenderedEdition] = {}
        # SMTP with PIPELINING: the next message is rendered while the server takes this one.
        self.defer = getattr(mail, "send_deferred", None)

    # --- outcomes of single rows ---

    def fail(self, row: Delivery, error: str, *, status: str = Delivery.Status.FAILED) -> None:
        finish_row(row, status, last_error=error)
        self.outcome.failed += 1

    def sent(self, row: Delivery, *, esp_message_id: str, send_seconds: float) -> None:
        self.outcome.sent += 1  # counted first: a failing ledger write is retried on a new connection
        self.ledger.sent(row, esp_message_id=esp_message_id, send_seconds=send_seconds)
        services.edition_clear_errors(edition=row.edition)

    def stop(self, unsent: list[Delivery], problem: Exception) -> None:
        self.stopped, self.problem = unsent, problem

    @property
    def error(self) -> str:
        return "" if self.problem is None else str(self.problem)

    def handing_over(self, rows: list[Delivery]) -> None:
        """Record, before the provider sees them, that ``rows`` may from now on have been sent."""
        assert self.handover is not None, "send() starts the hand-over record"
        self.handover.before(rows)

    def build(self, row: Delivery) -> EmailMultiAlternatives | None:
        """The row's digest, or None: a rendering bug will not fix itself, so the row fails; a
        digest whose every paper was withdrawn after planning is skipped."""
        try:
            rendered = self.renderings.get(row.edition_id)
            if rendered is None:
                rendered = self.renderings[row.edition_id] = rendered_edition(row.edition)
            if row.paper_ids and not any(pid in rendered.paper_text for pid in row.paper_ids):
                finish_row(row, Delivery.Status.SKIPPED, last_error="every paper of this digest was withdrawn")
                self.outcome.skipped += 1
                return None
            return build_message(row, row.subscriber, rendered)
        except DatabaseError:
            raise  # the database, not the rendering: send_chunk deals with it
        except Exception as exc:
            logger.exception("rendering delivery %s failed", row.pk)
            self.fail(row, f"rendering failed: {exc.__class__.__name__}: {exc}")
            return None

    # --- one message per call ---

    def send_one_by_one(self, rows: list[Delivery]) -> None:
        """Each row is recorded only once the server's final reply for it has been read."""
        for index, row in enumerate(rows):
            message = self.build(row)
            if message is None:
                continue
            if not self._settle(rows) or not self._hand_over(rows, index, message):
                return
        self._settle(rows)

    def _hand_over(self, rows: list[Delivery], index: int, message: EmailMultiAlternatives) -> bool:
        """Give ``rows[index]``'s message to the provider. False once the provider has failed us."""
        wait_for_send_slot()
        self.handing_over([rows[index]])
        flight = InFlight(index, rows[index], message, time.monotonic())
        try:
            flight.read_reply = self.defer(message) if self.defer is not None else None
        except Exception as exc:  # a pipelined start: the server has not taken the message
            return self._refused(rows, flight, exc, handed_over=False)
        if flight.read_reply is None:
            try:
                self.mail.send_messages([message])
            except Exception as exc:  # the whole call: the message may have been handed over
                return self._refused(rows, flight, exc, handed_over=True)
        self.in_flight = flight
        return self._settle(rows) if flight.read_reply is None else True

    def _settle(self, rows: list[Delivery]) -> bool:
        """Read the final reply of the message in flight, if any, and record it. False once the provider failed."""
        flight, self.in_flight = self.in_flight, None
        if flight is None:
            return True
        if flight.read_reply is not None:
            try:
                flight.read_reply()
            except Exception as exc:
                return self._refused(rows, flight, exc, handed_over=True)
        esp_id = getattr(getattr(flight.message, "anymail_status", None), "message_id", None)
        self.sent(
            flight.row,
            esp_message_id="" if esp_id is None else str(esp_id),
            send_seconds=time.monotonic() - flight.started,
        )
        return True

    def _refused(self, rows: list[Delivery], flight: InFlight, exc: Exception, *, handed_over: bool) -> bool:
        """A recipient's permanent refusal fails that row; anything else (an account-level refusal
        included) stops the chunk from that row on. A row whose message was handed over without a
        clear answer (a timeout, a dropped connection) is 'unknown': the provider may have it, so it
        is never sent again blindly."""
        problem = classify(exc)
        if isinstance(problem, PermanentError):
            self.fail(flight.row, str(problem))
            return True
        if handed_over and outcome_unclear(exc):
            self.fail(
                flight.row,
                f"no clear answer after the message was handed over: {problem}",
                status=Delivery.Status.UNKNOWN,
            )
            self.stop(rows[flight.index + 1 :], problem)
            return False
        self.stop(rows[flight.index :], problem)
        return False

    # --- the chunk ---

    def send(self, rows: list[Delivery]) -> None:
        if not settings.DIGEST_ESP_BATCH_TEMPLATE:
            self.handover = handover.Handover(rows[0].claim, [row.pk for row in rows])
            self.send_one_by_one(rows)
            return
        html = [row for row in rows if row.subscriber.email_format == Subscriber.Format.HTML]
        text = [row for row in rows if row.subscriber.email_format != Subscriber.Format.HTML]
        self.handover = handover.Handover(rows[0].claim, [row.pk for row in html + text])
        esp_batch.send_in_batches(self, html)
        if self.problem is not None:
            self.stopped += text
        elif settings.DIGEST_ESP_BATCH_TEXT_TEMPLATE:
            esp_batch.send_in_batches(self, text, settings.DIGEST_ESP_BATCH_TEXT_TEMPLATE)
        else:
            self.send_one_by_one(text)

    def unsettled(self) -> tuple[list[int] | None, int]:
        """The hand-over record as this worker knows it: (send order, last position handed)."""
        if self.handover is None:
            return None, -1
        return list(self.handover.position), self.handover.handed

    def close(self) -> None:
        try:
            self.ledger.flush()
            if self.handover is not None:
                self.handover.forget()  # every outcome is recorded: nothing to reap
        finally:
            try:
                self.mail.close()
            except Exception:  # closing a broken connection must not hide what happened
                logger.warning("closing the email connection failed", exc_info=True)


def hand_back(rows: list[Delivery], error: str, outcome: ChunkOutcome, *, attempted: bool = True) -> None:
    """Unsent rows go back to pending (to retry after a backoff), or fail when out of attempts.
    ``attempted=False``: the provider refused the account, not these readers; the rows wait,
    their attempt uncounted, until an editor resumes the paused edition."""
    if not rows:
        return
    if not attempted:
        for row in rows:
            finish_row(row, Delivery.Status.PENDING, last_error=error, claimed_at=None, attempts=F("attempts") - 1)
        return
    outcome.retry_in = backoff(max(row.attempts for row in rows))
    retry_at = timezone.now() + dt.timedelta(seconds=outcome.retry_in)
    for row in rows:
        if row.attempts >= settings.DIGEST_MAX_ATTEMPTS:
            finish_row(row, Delivery.Status.FAILED, last_error=f"gave up after {row.attempts} attempts: {error}")
            outcome.failed += 1
        else:
            finish_row(row, Delivery.Status.PENDING, last_error=error, claimed_at=None, retry_at=retry_at)
            outcome.retry_ids.append(row.pk)
    if not outcome.retry_ids:
        outcome.retry_in = 0.0


def suppress_gone(rows: list[Delivery], outcome: ChunkOutcome) -> list[Delivery]:
    """Who is still receiving, once per chunk: a reader who left after planning gets nothing."""
    receiving = set(
        Subscriber.objects.filter(pk__in=id_list([row.subscriber_id for row in rows]), status=Subscriber.Status.ACTIVE)
        .order_by()
        .values_list("pk", flat=True)
    )
    gone = [row.pk for row in rows if row.subscriber_id not in receiving]
    if gone:
        Delivery.objects.filter(pk__in=gone, status=Delivery.Status.SENDING, claim=rows[0].claim).update(
            status=Delivery.Status.SUPPRESSED, last_error=""
        )
        outcome.suppressed = len(gone)
    return [row for row in rows if row.subscriber_id in receiving]


def provider_failed(rows: list[Delivery], problem: Exception, outcome: ChunkOutcome, edition: Edition) -> None:
    """The provider failed us before these rows went out (there may be none left: the call that
    failed was the chunk's last). An account-level refusal pauses the edition at once (its reason
    shown in admin) and fails nobody; anything else sends the rows back to retry and counts one
    consecutive error (enough of them pause the edition too)."""
    error = str(problem)
    if isinstance(problem, AccountError):
        hand_back(rows, error, outcome, attempted=False)
        reason = (
            f"The email provider refused the sending account (not a reader): {error}. "
            "Fix the email settings, then resume."
        )
        services.edition_pause(edition=edition, reason=reason)
        outcome.paused = True
    else:
        hand_back(rows, error, outcome)
        outcome.paused = services.edition_count_error(edition=edition, error=error)


def send_chunk(delivery_ids: list[int]) -> ChunkOutcome:
    outcome = ChunkOutcome()
    claimed = claim(delivery_ids)
    rows = suppress_gone(claimed, outcome) if claimed else []
    if not rows:
        return outcome
    try:
        mail = get_connection(fail_silently=False)
        mail.open()
    except Exception as exc:  # the provider is unreachable or refuses us: nothing was sent, all rows go back
        provider_failed(rows, classify(exc), outcome, rows[0].edition)
        return outcome
    sender = ChunkSender(mail, outcome)
    try:
        sender.send(rows)
        if sender.problem is not None:  # what was not sent goes back
            provider_failed(sender.stopped, sender.problem, outcome, rows[0].edition)
    except DatabaseError:
        # The database connection broke mid-chunk (a restart, a failover, pg_terminate_backend):
        # on a new connection, record what was sent and put back what was never handed over.
        logger.warning("the database failed while sending claim %s; reconnecting", rows[0].claim, exc_info=True)
        db.close()
        order, handed = sender.unsettled()
        sender.ledger.flush()
        unknown, pending = handover.release(rows[0].claim, order=order, handed=handed)
        outcome.retry_ids = []  # the next tick dispatches them (their enqueued_at is cleared)
        logger.warning("claim %s after the database error: %s unknown, %s pending", rows[0].claim, unknown, pending)
    finally:
        sender.close()
    return outcome


def reap_stale(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Claims a vanished worker left in 'sending' for DIGEST_SENDING_TIMEOUT_MINUTES: rows that
    may have reached the provider become 'unknown' (an editor may resend them, admin action); rows
    never handed over go back to pending and are sent at the next dispatch. Returns (unknown, requeued)."""
    cutoff = (now or timezone.now()) - dt.timedelta(minutes=settings.DIGEST_SENDING_TIMEOUT_MINUTES)
    return handover.reap(cutoff)
