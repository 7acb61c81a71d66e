"""Digest tasks. Every task takes ids only and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import id_list
from newsletter import delivery, editions, planning
from newsletter.models import Delivery, Edition

logger = logging.getLogger(__name__)
RUNNING = [Edition.Status.SCHEDULED, Edition.Status.SENDING]


def dispatch(*, stale_after_minutes: int = 10) -> int:
    """Enqueue chunk tasks for pending rows of running editions that no task is (recently)
    carrying. Claims make a duplicate enqueue harmless; this only avoids waste."""
    now = timezone.now()
    stale = now - timezone.timedelta(minutes=stale_after_minutes)
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING, edition__status__in=RUNNING).exclude(
        enqueued_at__gte=stale
    )
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    size = settings.DIGEST_CHUNK_SIZE
    chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
    with transaction.atomic():
        Delivery.objects.filter(pk__in=id_list(ids)).update(enqueued_at=now)
        for chunk in chunks:
            transaction.on_commit(lambda chunk=chunk: send_chunk.delay(chunk))
    return len(ids)


def finish_superseded() -> int:
    """Older editions with nothing left to send are done."""
    done = 0
    for kind in (Edition.Kind.DAILY, Edition.Kind.WEEKLY):
        latest = planning.latest_published(kind)
        if latest is None:
            continue
        older = Edition.objects.filter(kind=kind, status__in=RUNNING, period_start__lt=latest.period_start).exclude(
            deliveries__status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
        )
        done += older.update(status=Edition.Status.SENT)
    return done


@shared_task(name="newsletter.tick")
def tick() -> dict:
    """Every few minutes: publish due editions, reap stale rows, plan due readers, dispatch."""
    published = editions.publish_due(cutoff_hour=settings.DIGEST_CUTOFF_HOUR)
    unknown = delivery.reap_stale()
    dispatched = 0

    def dispatch_planned() -> None:  # each planned batch starts sending at once
        nonlocal dispatched
        dispatched += dispatch()

    planned = planning.plan_due(after_batch=dispatch_planned)
    dispatch_planned()
    finished = finish_superseded()
    summary = {
        "published": len(published),
        "unknown": unknown,
        "planned": planned,
        "dispatched": dispatched,
        "finished": finished,
    }
    logger.info("newsletter tick: %s", summary)
    return summary


@shared_task(name="newsletter.send_chunk", bind=True)
def send_chunk(self, delivery_ids: list[int]) -> dict:
    outcome = delivery.send_chunk(delivery_ids)
    if outcome.retry_ids and not outcome.paused:
        send_chunk.apply_async(args=[outcome.retry_ids], countdown=outcome.retry_in)
    return {
        "sent": outcome.sent,
        "failed": outcome.failed,
        "suppressed": outcome.suppressed,
        "retrying": len(outcome.retry_ids),
    }
