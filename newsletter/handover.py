"""Which claimed rows were handed to the provider: the line between 'may have been sent' and
'never attempted' when a worker dies mid-chunk.

A chunk's claim writes its send order to the cache (Redis in production) before the first
message, and the position of the last row handed over before each hand-over: one cache write
per message (or per ESP batch call). A claim left in 'sending' by a vanished worker then splits
cleanly: rows up to that position may have reached the provider and become 'unknown' (never sent
again blindly); the rows after it were never attempted and go back to pending. When the record
is missing (Redis restarted, the key expired) nobody can tell, and every row of the claim is
'unknown', as if there were no record at all.
"""

from __future__ import annotations

import datetime as dt

from django.core.cache import cache
from django.utils import timezone

from common.db import id_list
from newsletter.models import Delivery

# Far longer than DIGEST_SENDING_TIMEOUT_MINUTES: the record must outlive any reaper delay.
RECORD_SECONDS = 7 * 24 * 3600
UNKNOWN_NOTE = "the worker sending this row stopped before recording the outcome"
NOT_ATTEMPTED_NOTE = "the worker sending this chunk stopped before this row was handed over; queued again"


def _order_key(claim: str) -> str:
    return f"paperboy:handover:{claim}:order"


def _position_key(claim: str) -> str:
    return f"paperboy:handover:{claim}:handed"


class Handover:
    """The hand-over record of one claim, kept by the worker that holds it."""

    def __init__(self, claim: str, order: list[int]) -> None:
        self.claim = claim
        self.position = {pk: index for index, pk in enumerate(order)}
        self.handed = -1  # index in ``order`` of the last row handed over
        cache.set(_order_key(claim), order, timeout=RECORD_SECONDS)

    def before(self, rows: list[Delivery]) -> None:
        """``rows`` are about to be handed over (one message, or one ESP batch)."""
        last = max(self.position[row.pk] for row in rows)
        if last > self.handed:
            self.handed = last
            cache.set(_position_key(self.claim), last, timeout=RECORD_SECONDS)

    def forget(self) -> None:
        cache.delete_many([_order_key(self.claim), _position_key(self.claim)])


def release(claim: str, *, order: list[int] | None, handed: int) -> tuple[int, int]:
    """Settle the rows of ``claim`` still in 'sending': up to position ``handed`` of ``order``
    'unknown', after it 'pending' again (``order`` None: all unknown). Returns (unknown, pending)."""
    stuck = Delivery.objects.filter(status=Delivery.Status.SENDING, claim=claim)
    never = order[handed + 1 :] if order is not None else []
    pending = 0
    if never:
        pending = stuck.filter(pk__in=id_list(never)).update(
            status=Delivery.Status.PENDING, last_error=NOT_ATTEMPTED_NOTE, claimed_at=None, enqueued_at=None
        )
    # Everything else of the claim may have reached the provider.
    unknown = stuck.update(status=Delivery.Status.UNKNOWN, last_error=UNKNOWN_NOTE)
    return unknown, pending


def reap(cutoff: dt.datetime | None = None) -> tuple[int, int]:
    """Claims whose rows sat in 'sending' since before ``cutoff``: their worker vanished. Each is
    settled by its hand-over record. Returns (unknown, pending) over all of them."""
    cutoff = cutoff or timezone.now()
    claims = set(
        Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=cutoff)
        .order_by()
        .values_list("claim", flat=True)
        .distinct()
    )
    unknown = pending = 0
    for claim in claims:
        record = cache.get_many([_order_key(claim), _position_key(claim)])
        order = record.get(_order_key(claim))
        counts = release(claim, order=order, handed=record.get(_position_key(claim), -1))
        unknown, pending = unknown + counts[0], pending + counts[1]
        cache.delete_many([_order_key(claim), _position_key(claim)])
    return unknown, pending
