"""An edition's lifecycle. Every change of ``Edition.status`` happens here:

    draft --publish--> scheduled --first readers planned--> sending --nothing left--> sent
                           |                                  |   ^
                           +------------- pause ------------->+   | requeue (a resend of sent rows)
                                       paused --resume--> scheduled / sending

Reads live on the model's queryset (``Edition.objects.running()``).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F, IntegerField, Max, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from newsletter.models import Delivery, Edition
from papers.models import DailyEntry

logger = logging.getLogger(__name__)
WEEKLY_MAX_PAPERS = 50


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def candidate_papers(kind: str, start: dt.date, end: dt.date) -> tuple[list[int], list[int]]:
    """(paper ids in listing order, pinned paper ids) of the approved entries in the period."""
    entries = DailyEntry.objects.approved().filter(day__gte=start, day__lte=end)
    if kind == Edition.Kind.DAILY:
        rows = list(entries.in_listing_order().values_list("paper_id", "pinned"))
    else:
        # The week's best: each paper once, at its best day's upvotes; pins first.
        best = (
            entries.values("paper_id")
            .annotate(upvotes=Max("upvotes"), pinned=Max(Cast("pinned", IntegerField())))
            .order_by("-pinned", "-upvotes", "paper_id")
        )
        rows = [(row["paper_id"], bool(row["pinned"])) for row in best[:WEEKLY_MAX_PAPERS]]
    paper_ids = list(dict.fromkeys(paper_id for paper_id, _ in rows))
    pinned = [paper_id for paper_id, is_pinned in rows if is_pinned]
    return paper_ids, list(dict.fromkeys(pinned))


@transaction.atomic
def edition_prepare(*, kind: str, day: dt.date) -> Edition:
    """The draft edition covering ``day`` (created if needed), its papers refreshed while it is a draft."""
    start, end = (day, day) if kind == Edition.Kind.DAILY else week_of(day)
    edition, _ = Edition.objects.select_for_update().get_or_create(
        kind=kind, period_start=start, defaults={"period_end": end}
    )
    if edition.status == Edition.Status.DRAFT:
        edition.paper_ids, edition.pinned_ids = candidate_papers(kind, start, end)
        edition.save(update_fields=["paper_ids", "pinned_ids"])
    return edition


@transaction.atomic
def edition_publish(*, kind: str, day: dt.date) -> Edition | None:
    """Freeze the edition's papers and let readers receive it as their hour comes.

    Publishing twice changes nothing; a period with no approved papers is not published."""
    edition = edition_prepare(kind=kind, day=day)
    if edition.status != Edition.Status.DRAFT:
        return edition
    if not edition.paper_ids:
        logger.info("%s: no approved papers, not published", edition)
        return None
    edition.status = Edition.Status.SCHEDULED
    edition.published_at = timezone.now()
    edition.save(update_fields=["status", "published_at"])
    logger.info("%s published with %s papers", edition, len(edition.paper_ids))
    return edition


def editions_publish_due(*, cutoff_hour: int, now: dt.datetime | None = None) -> list[Edition]:
    """At and after the cut-off hour (UTC): today's daily edition, and on Sundays the week's."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    if now.hour < cutoff_hour:
        return []
    published = [edition_publish(kind=Edition.Kind.DAILY, day=now.date())]
    if now.weekday() == 6:
        published.append(edition_publish(kind=Edition.Kind.WEEKLY, day=now.date()))
    return [edition for edition in published if edition]


def edition_start_sending(*, edition: Edition) -> None:
    """Its first readers are planned: a scheduled edition is now sending."""
    if Edition.objects.filter(pk=edition.pk, status=Edition.Status.SCHEDULED).update(status=Edition.Status.SENDING):
        edition.status = Edition.Status.SENDING


def edition_pause(*, edition: Edition, reason: str) -> bool:
    """Stop sending a running edition (rows already handed to the provider stay sent). True if paused."""
    paused = Edition.objects.running().filter(pk=edition.pk).update(status=Edition.Status.PAUSED, pause_reason=reason)
    if paused:
        edition.status, edition.pause_reason = Edition.Status.PAUSED, reason
        logger.warning("%s paused: %s", edition, reason)
    return bool(paused)


@transaction.atomic
def edition_resume(*, edition: Edition) -> bool:
    """Let a paused edition send again, its error count reset. True if it was paused."""
    has_rows = Delivery.objects.filter(edition=edition).exists()
    status = Edition.Status.SENDING if has_rows else Edition.Status.SCHEDULED
    resumed = Edition.objects.filter(pk=edition.pk, status=Edition.Status.PAUSED).update(
        status=status, consecutive_errors=0, pause_reason=""
    )
    if resumed:
        edition.status, edition.consecutive_errors, edition.pause_reason = status, 0, ""
        # Rows a send task put back while the edition was paused wait for no stale timer.
        Delivery.objects.filter(edition=edition, status=Delivery.Status.PENDING).update(enqueued_at=None, retry_at=None)
    return bool(resumed)


def edition_count_error(*, edition: Edition, error: str) -> bool:
    """Count a consecutive send error; past DIGEST_PAUSE_AFTER_ERRORS the edition pauses. True if it paused."""
    Edition.objects.filter(pk=edition.pk).update(consecutive_errors=F("consecutive_errors") + 1)
    edition.refresh_from_db(fields=["consecutive_errors", "status"])
    if edition.consecutive_errors < settings.DIGEST_PAUSE_AFTER_ERRORS:
        return False
    reason = f"Paused after {edition.consecutive_errors} consecutive send errors. Last: {error}"
    return edition_pause(edition=edition, reason=reason)


def edition_clear_errors(*, edition: Edition) -> None:
    """A message went out: the streak of consecutive errors is over."""
    if edition.consecutive_errors:
        Edition.objects.filter(pk=edition.pk).update(consecutive_errors=0)
        edition.consecutive_errors = 0


@transaction.atomic
def deliveries_requeue(*, rows: QuerySet[Delivery], note: str) -> tuple[int, list[Edition]]:
    """Move ``rows`` back to pending so the next dispatch sends them; an edition already marked
    sent becomes 'sending' again (``editions_finish`` closes it once nothing is left). Returns the
    number of rows moved and the affected editions that are paused (their rows wait for resume)."""
    edition_ids = set(rows.values_list("edition_id", flat=True))
    moved = rows.update(
        status=Delivery.Status.PENDING, last_error=note, claim="", claimed_at=None, enqueued_at=None, retry_at=None
    )
    Edition.objects.filter(pk__in=edition_ids, status=Edition.Status.SENT).update(status=Edition.Status.SENDING)
    return moved, list(Edition.objects.filter(pk__in=edition_ids, status=Edition.Status.PAUSED))


def latest_running(kind: str) -> Edition | None:
    return Edition.objects.running().filter(kind=kind).order_by("-period_start").first()


def editions_finish() -> int:
    """Running editions older than their kind's latest, with nothing left to send, are sent."""
    finished = 0
    for kind in Edition.Kind.values:
        latest = latest_running(kind)
        if latest is None:
            continue
        done = (
            Edition.objects.running()
            .filter(kind=kind, period_start__lt=latest.period_start)
            .exclude(deliveries__status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING])
        )
        finished += done.update(status=Edition.Status.SENT)
    return finished
