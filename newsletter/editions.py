"""Editions: the day's (or week's) approved papers, frozen at the curation cut-off."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import IntegerField, Max
from django.db.models.functions import Cast
from django.utils import timezone

from newsletter.models import Edition
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


def publish_due(*, now: dt.datetime | None = None, cutoff_hour: int) -> list[Edition]:
    """At and after the cut-off hour (UTC): today's daily edition, and on Sundays the week's."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    if now.hour < cutoff_hour:
        return []
    published = [edition_publish(kind=Edition.Kind.DAILY, day=now.date())]
    if now.weekday() == 6:
        published.append(edition_publish(kind=Edition.Kind.WEEKLY, day=now.date()))
    return [edition for edition in published if edition]
