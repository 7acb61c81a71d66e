"""Digest tasks. Every task takes ids only and is safe to run twice."""

from __future__ import annotations

import datetime as dt
import functools
import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import id_list
from newsletter import planning, sending, services
from newsletter.models import RUNNING_STATUSES, Delivery

logger = logging.getLogger(__name__)


def dispatch(*, stale_after_minutes: int = 10) -> int:
    """Enqueue chunk tasks for pending rows of running editions that no task is (recently)
    carrying and whose backoff is over. Claims make a duplicate enqueue harmless; this only avoids waste."""
    now = timezone.now()
    stale = now - dt.timedelta(minutes=stale_after_minutes)
    pending = (
        Delivery.objects.filter(status=Delivery.Status.PENDING, edition__status__in=RUNNING_STATUSES)
        .exclude(enqueued_at__gte=stale)
        .exclude(retry_at__gt=now)
    )
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():
        Delivery.objects.filter(pk__in=id_list(ids)).update(enqueued_at=now)
        return enqueue(ids)


def enqueue(ids: list[int]) -> int:
    """Chunk tasks for rows already marked enqueued, published once the transaction commits."""
    size = settings.DIGEST_CHUNK_SIZE
    for start in range(0, len(ids), size):
        transaction.on_commit(functools.partial(send_chunk.delay, ids[start : start + size]))
    return len(ids)


@shared_task(name="newsletter.tick")
def tick() -> dict[str, int]:
    """Every few minutes: publish due editions, reap stale rows, plan due readers, dispatch."""
    published = services.editions_publish_due(cutoff_hour=settings.DIGEST_CUTOFF_HOUR)
    unknown, requeued = sending.reap_stale()
    dispatched = 0

    def dispatch_planned(new_ids: list[int] | None) -> None:  # each planned batch starts sending at once
        nonlocal dispatched
        # The planner stored its new rows as enqueued and says which they are (on PostgreSQL),
        # sparing a query over every pending row and an UPDATE of the batch.
        dispatched += dispatch() if new_ids is None else enqueue(new_ids)

    planned = planning.plan_due(after_batch=dispatch_planned)
    dispatched += dispatch()  # anything else pending: retries due, rows handed back
    finished = services.editions_finish()
    summary = {
        "published": len(published),
        "unknown": unknown,
        "requeued": requeued,
        "planned": planned,
        "dispatched": dispatched,
        "finished": finished,
    }
    logger.info("newsletter tick: %s", summary)
    return summary


@shared_task(name="newsletter.send_chunk")
def send_chunk(delivery_ids: list[int]) -> dict[str, int]:
    outcome = sending.send_chunk(delivery_ids)
    if outcome.retry_ids and not outcome.paused:
        send_chunk.apply_async(args=(outcome.retry_ids,), countdown=outcome.retry_in)
    return {
        "sent": outcome.sent,
        "failed": outcome.failed,
        "suppressed": outcome.suppressed,
        "retrying": len(outcome.retry_ids),
    }
