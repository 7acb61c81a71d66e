"""Planning: which readers are due, and which papers each of them gets (one Delivery row each)."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from newsletter.models import Delivery, Edition, Feedback
from newsletter.ranking import PaperInfo, ReaderInfo, Weights, score_papers
from papers.models import DailyEntry, Paper
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)
PLAN_BATCH = 10_000
HISTORY_DAYS = 120  # papers sent longer ago than this are old news anyway


def latest_published(kind: str) -> Edition | None:
    return (
        Edition.objects.filter(kind=kind, status__in=[Edition.Status.SCHEDULED, Edition.Status.SENDING])
        .order_by("-period_start")
        .first()
    )


def due_readers(edition: Edition, *, now: dt.datetime) -> list[tuple[int, dt.date]]:
    """(subscriber id, their local date) for active readers of ``edition``'s kind whose local
    delivery hour has come today, who confirmed before it, and who have not had this edition nor
    any digest of this kind on that local date. Grouped by time zone: one query per zone."""
    readers = Subscriber.objects.receiving().filter(frequency=edition.kind)
    already = Delivery.objects.filter(subscriber=OuterRef("pk"))
    due: list[tuple[int, dt.date]] = []
    for zone_name in readers.values_list("time_zone", flat=True).distinct().order_by():
        local = now.astimezone(zoneinfo.ZoneInfo(zone_name))
        hours = Q()
        for hour in range(local.hour + 1):
            send_time = dt.datetime.combine(local.date(), dt.time(hour), tzinfo=local.tzinfo)
            hours |= Q(send_hour=hour, confirmed_at__lt=send_time)
        in_zone = readers.filter(hours, time_zone=zone_name)
        if edition.kind == Edition.Kind.WEEKLY:
            in_zone = in_zone.filter(weekly_day=local.weekday())
        in_zone = in_zone.exclude(Exists(already.filter(edition=edition))).exclude(
            Exists(already.filter(kind=edition.kind, local_date=local.date()))
        )
        due.extend((pk, local.date()) for pk in in_zone.values_list("pk", flat=True))
    return due


def paper_infos(edition: Edition) -> list[PaperInfo]:
    papers = Paper.objects.in_bulk(edition.paper_ids)
    upvotes = dict(
        DailyEntry.objects.filter(
            paper_id__in=edition.paper_ids, day__gte=edition.period_start, day__lte=edition.period_end
        ).values_list("paper_id", "upvotes")
    )
    authors: dict[int, list[str]] = defaultdict(list)
    for paper_id, name in (
        Paper.authors.through.objects.filter(paper_id__in=edition.paper_ids)
        .values_list("paper_id", "author__name")
        .order_by("paper_id", "position")
    ):
        authors[paper_id].append(name)
    pinned = set(edition.pinned_ids)
    return [
        PaperInfo(
            id=pk,
            text=f"{papers[pk].title} {papers[pk].abstract}",
            upvotes=upvotes.get(pk, papers[pk].upvotes),
            categories=tuple(papers[pk].categories),
            authors=tuple(authors[pk]),
            pinned=pk in pinned,
        )
        for pk in edition.paper_ids
        if pk in papers
    ]


def reader_infos(subscriber_ids: list[int]) -> list[ReaderInfo]:
    since = timezone.now() - dt.timedelta(days=HISTORY_DAYS)
    sent: dict[int, set[int]] = defaultdict(set)
    for subscriber_id, paper_ids in (
        Delivery.objects.filter(subscriber_id__in=subscriber_ids, created_at__gte=since)
        .exclude(status__in=[Delivery.Status.SKIPPED, Delivery.Status.SUPPRESSED, Delivery.Status.FAILED])
        .values_list("subscriber_id", "paper_ids")
    ):
        sent[subscriber_id].update(paper_ids)
    liked: dict[int, set[int]] = defaultdict(set)
    disliked: dict[int, set[int]] = defaultdict(set)
    for subscriber_id, paper_id, vote in Feedback.objects.filter(subscriber_id__in=subscriber_ids).values_list(
        "subscriber_id", "paper_id", "vote"
    ):
        (liked if vote > 0 else disliked)[subscriber_id].add(paper_id)
    liked_ids = set().union(*liked.values()) if liked else set()
    texts = {
        pk: f"{title} {abstract}"
        for pk, title, abstract in Paper.objects.filter(pk__in=liked_ids).values_list("pk", "title", "abstract")
    }
    return [
        ReaderInfo(
            id=row["pk"],
            interests=row["interests"],
            categories=tuple(row["categories"]),
            followed_authors=tuple(row["followed_authors"]),
            count=row["papers_per_digest"],
            skip_if_no_match=row["skip_if_no_match"],
            sent=frozenset(sent[row["pk"]]),
            liked=frozenset(liked[row["pk"]]),
            disliked=frozenset(disliked[row["pk"]]),
            liked_texts=tuple(texts[pk] for pk in sorted(liked[row["pk"]]) if pk in texts),
        )
        for row in Subscriber.objects.filter(pk__in=subscriber_ids).values(
            "pk", "interests", "categories", "followed_authors", "papers_per_digest", "skip_if_no_match"
        )
    ]


def weights() -> Weights:
    return Weights(popularity=settings.RANKING_POPULARITY_WEIGHT, relevance=settings.RANKING_RELEVANCE_WEIGHT)


def plan_deliveries(edition: Edition, readers: Iterable[tuple[int, dt.date]]) -> int:
    """Rank and create the Delivery rows; idempotent (existing rows are left alone). Returns the
    number of readers planned."""
    readers = list(readers)
    papers = paper_infos(edition)
    planned = 0
    for start in range(0, len(readers), PLAN_BATCH):
        batch = readers[start : start + PLAN_BATCH]
        local_dates = dict(batch)
        picks = score_papers(papers, reader_infos(list(local_dates)), weights=weights())
        rows = [
            Delivery(
                edition=edition,
                subscriber_id=subscriber_id,
                kind=edition.kind,
                local_date=local_dates[subscriber_id],
                paper_ids=chosen,
                status=Delivery.Status.PENDING if chosen else Delivery.Status.SKIPPED,
            )
            for subscriber_id, chosen in picks.items()
        ]
        Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
        planned += len(rows)
    if planned and edition.status == Edition.Status.SCHEDULED:
        Edition.objects.filter(pk=edition.pk, status=Edition.Status.SCHEDULED).update(status=Edition.Status.SENDING)
    logger.info("%s: planned %s readers", edition, planned)
    return planned


def plan_due(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    planned = 0
    for kind in (Edition.Kind.DAILY, Edition.Kind.WEEKLY):
        edition = latest_published(kind)
        if edition is not None:
            planned += plan_deliveries(edition, due_readers(edition, now=now))
    return planned


def all_readers(edition: Edition, *, now: dt.datetime | None = None) -> list[tuple[int, dt.date]]:
    """Every active reader of ``edition``'s kind who has not had it (nor a digest of that kind
    on their local date) — for an operator sending an edition now, whatever the hour."""
    now = now or timezone.now()
    already = Delivery.objects.filter(subscriber=OuterRef("pk"))
    readers = (
        Subscriber.objects.receiving()
        .filter(frequency=edition.kind)
        .exclude(Exists(already.filter(edition=edition)))
        .values_list("pk", "time_zone")
    )
    due = []
    for pk, zone_name in readers:
        local_date = now.astimezone(zoneinfo.ZoneInfo(zone_name)).date()
        due.append((pk, local_date))
    taken = set(
        Delivery.objects.filter(kind=edition.kind, subscriber_id__in=[pk for pk, _ in due]).values_list(
            "subscriber_id", "local_date"
        )
    )
    return [(pk, local_date) for pk, local_date in due if (pk, local_date) not in taken]
