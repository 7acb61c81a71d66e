"""Planning: which readers are due, and which papers each of them gets (one Delivery row each)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from common.db import id_list, insert_rows
from newsletter import services
from newsletter.models import Delivery, Edition, Feedback
from newsletter.ranking import PaperInfo, Pick, ReaderInfo, Weights, paper_text, rank_readers
from papers import taxonomy
from papers.models import DailyEntry, Paper
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)
PLAN_BATCH = 10_000
HISTORY_DAYS = 120  # papers sent longer ago than this are old news anyway


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
    semantic = settings.RANKING_EMBEDDINGS
    return [
        PaperInfo(
            id=pk,
            text=paper_text(papers[pk].title, papers[pk].abstract, papers[pk].ai_summary, papers[pk].ai_keywords),
            upvotes=upvotes.get(pk, papers[pk].upvotes),
            categories=taxonomy.paper_keys(papers[pk].categories),
            authors=tuple(authors[pk]),
            pinned=pk in pinned,
            embedding=_embedding(papers[pk]) if semantic else None,
        )
        for pk in edition.paper_ids
        if pk in papers
    ]


def _embedding(paper: Paper) -> bytes | None:
    return None if paper.embedding is None else bytes(paper.embedding)


def reader_infos(subscriber_ids: list[int]) -> list[ReaderInfo]:
    ids = id_list(subscriber_ids)
    since = timezone.now() - dt.timedelta(days=HISTORY_DAYS)
    sent: dict[int, set[int]] = defaultdict(set)
    for subscriber_id, paper_ids in (
        Delivery.objects.filter(subscriber_id__in=ids, created_at__gte=since)
        .exclude(status__in=[Delivery.Status.SKIPPED, Delivery.Status.SUPPRESSED, Delivery.Status.FAILED])
        .values_list("subscriber_id", "paper_ids")
    ):
        sent[subscriber_id].update(paper_ids)
    liked: dict[int, set[int]] = defaultdict(set)
    disliked: dict[int, set[int]] = defaultdict(set)
    for subscriber_id, paper_id, vote in Feedback.objects.filter(subscriber_id__in=ids).values_list(
        "subscriber_id", "paper_id", "vote"
    ):
        (liked if vote > 0 else disliked)[subscriber_id].add(paper_id)
    voted_ids = set().union(*liked.values(), *disliked.values())
    texts = {
        pk: paper_text(title, abstract, summary, keywords)
        for pk, title, abstract, summary, keywords in Paper.objects.filter(pk__in=voted_ids).values_list(
            "pk", "title", "abstract", "ai_summary", "ai_keywords"
        )
    }
    none: frozenset[int] = frozenset()

    def listed(text: str) -> tuple[str, ...]:  # most readers have no filters: skip the JSON parse
        return () if text in ("[]", "") else tuple(json.loads(text))

    def category_filter(text: str) -> tuple[str, ...]:  # aliases as one name; no stored non-category
        return () if text in ("[]", "") else taxonomy.reader_keys(json.loads(text))

    rows = (
        Subscriber.objects.filter(pk__in=ids)
        # As text, parsed here only when not empty: Django would parse 2 JSON values per reader.
        .annotate(categories_text=Cast("categories", TextField()), authors_text=Cast("followed_authors", TextField()))
        .annotate(muted_text=Cast("muted_topics", TextField()))
        .values_list(
            "pk", "interests", "categories_text", "authors_text", "muted_text", "papers_per_digest", "skip_if_no_match"
        )
    )
    return [
        ReaderInfo(
            id=pk,
            interests=interests,
            categories=category_filter(categories),
            followed_authors=listed(authors),
            count=count,
            skip_if_no_match=skip,
            sent=frozenset(sent[pk]) if pk in sent else none,
            liked=frozenset(liked[pk]) if pk in liked else none,
            disliked=frozenset(disliked[pk]) if pk in disliked else none,
            liked_texts=tuple(texts[paper] for paper in sorted(liked[pk]) if paper in texts) if pk in liked else (),
            disliked_texts=tuple(texts[p] for p in sorted(disliked[pk]) if p in texts) if pk in disliked else (),
            muted=listed(muted),
        )
        for pk, interests, categories, authors, muted, count, skip in rows
    ]


def weights() -> Weights:
    return Weights(popularity=settings.RANKING_POPULARITY_WEIGHT, relevance=settings.RANKING_RELEVANCE_WEIGHT)


def rank(papers: list[PaperInfo], subscriber_ids: list[int]) -> dict[int, Pick]:
    """Subscriber id -> their Pick for an edition's ``paper_infos``: what the planner stores (and
    what ``send_digest --dry-run`` and the relevance benchmark rank with)."""
    embed = None
    if settings.RANKING_EMBEDDINGS:
        from papers.embeddings import embed_texts  # imports torch: only when asked for

        embed = embed_texts
    return rank_readers(papers, reader_infos(subscriber_ids), weights=weights(), embed=embed)


def insert_deliveries(
    edition: Edition, picks: list[tuple[int, dt.date, Pick]], *, enqueued_at: dt.datetime | None = None
) -> list[int] | None:
    """One Delivery row per (subscriber id, local date, their Pick: papers with reasons),
    skipping any that would break a unique constraint (planned already). A reader with no papers
    is 'skipped'. (COPY on PostgreSQL: common.db.insert_rows.)

    With ``enqueued_at`` (the caller enqueues the new rows itself, at once) the rows are stored
    as enqueued then and the new pending rows' ids are returned; None where the database cannot
    say which rows were new (not PostgreSQL), and then nothing is marked enqueued."""
    status = {True: Delivery.Status.PENDING, False: Delivery.Status.SKIPPED}
    postgresql = connection.vendor == "postgresql"
    enqueued_at = enqueued_at if postgresql else None
    with transaction.atomic():
        if postgresql:
            # Planned rows may be lost if PostgreSQL crashes in the next moment: nothing was sent
            # for them yet, and the next tick plans them again. So the commit need not wait for the disk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        inserted = insert_rows(
            Delivery,
            (
                "edition_id",
                "kind",
                "subscriber_id",
                "local_date",
                "paper_ids",
                "reasons",
                "unmatched",
                "status",
                "enqueued_at",
            ),
            [
                (
                    edition.pk,
                    edition.kind,
                    subscriber_id,
                    local_date,
                    chosen.paper_ids,
                    chosen.reasons,  # tuples: stored as JSON lists all the same
                    chosen.unmatched,
                    status[bool(chosen.paper_ids)],
                    enqueued_at if chosen.paper_ids else None,
                )
                for subscriber_id, local_date, chosen in picks
            ],
            skip_conflicts=True,
            returning=("id", "status") if enqueued_at else (),
        )
    if enqueued_at is None or inserted is None:
        return None
    return [pk for pk, row_status in inserted if row_status == Delivery.Status.PENDING]


def plan_deliveries(
    edition: Edition,
    readers: Iterable[tuple[int, dt.date]],
    *,
    after_batch: Callable[[list[int] | None], object] | None = None,
) -> int:
    """Rank and create the Delivery rows, PLAN_BATCH readers at a time; idempotent (existing rows
    are left alone). ``after_batch`` runs once each batch is stored, with the ids of its new
    pending rows, stored as enqueued (None where they are not known: see insert_deliveries): the
    tick enqueues them, so the first digests go out while later readers are still being ranked.
    Returns the number of readers planned."""
    readers = list(readers)
    papers = paper_infos(edition)
    planned = 0
    for start in range(0, len(readers), PLAN_BATCH):
        batch = readers[start : start + PLAN_BATCH]
        local_dates = dict(batch)
        picks = rank(papers, list(local_dates))
        rows = [(subscriber_id, local_dates[subscriber_id], chosen) for subscriber_id, chosen in picks.items()]
        enqueued_at = timezone.now() if after_batch is not None else None
        new_ids = insert_deliveries(edition, rows, enqueued_at=enqueued_at)
        planned += len(rows)
        if after_batch is not None:
            after_batch(new_ids)
    if planned:
        services.edition_start_sending(edition=edition)
    logger.info("%s: planned %s readers", edition, planned)
    return planned


def plan_due(*, now: dt.datetime | None = None, after_batch: Callable[[list[int] | None], object] | None = None) -> int:
    now = now or timezone.now()
    planned = 0
    for kind in (Edition.Kind.DAILY, Edition.Kind.WEEKLY):
        edition = services.latest_running(kind)
        if edition is not None:
            planned += plan_deliveries(edition, due_readers(edition, now=now), after_batch=after_batch)
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
