"""The editor's dashboard: how the newsletter is doing, aggregated in the database (one query per
chart or table), for ``newsletter.admin.dashboard`` to draw and export.

History comes from what the rows keep: a subscriber's signup, confirmation and *latest* status
change (``status_changed_at``), deliveries with their ESP open/click times, first-party clicks
(``Click``), votes (``Feedback``, with the edition the vote came from), the ESP's bounce and
complaint events (``TrackingEvent``) and ingest runs. A reader who left and came back counts from
their latest change only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from newsletter.models import Click, Delivery, Edition, Feedback, TrackingEvent
from papers.models import DailyEntry, IngestRun
from subscribers.models import Subscriber

HISTORY_DAYS = 90
TOP_DAYS = 30
EDITIONS_SHOWN = 30
TOP_PAPERS = 10

# Bulk-sender limits (Gmail's and Yahoo's 2024 rules; every large mailbox provider says much the same).
COMPLAINT_WARNING = 0.001  # keep complaints under 0.1 % of what was delivered...
COMPLAINT_LIMIT = 0.003  # ...and never let them reach 0.3 %: mail starts to be refused
BOUNCE_WARNING = 0.02  # over 2 % bounces: the list has stale addresses
LEFT = (Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED)
SUBSCRIBED = (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)  # on the list: receiving, or paused
BOUNCE_EVENTS = ("bounced", "rejected")
COMPLAINT_EVENTS = ("complained",)


def today() -> dt.date:
    return timezone.localdate()


def _window(days: int, end: dt.date) -> tuple[dt.date, dt.datetime]:
    """The first day of the ``days`` days that end with ``end``, and its start as an aware time."""
    first = end - dt.timedelta(days=days - 1)
    return first, timezone.make_aware(dt.datetime.combine(first, dt.time.min))


# --- Subscribers over time -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriberDay:
    day: dt.date
    subscribed: int  # active or paused, at the end of the day
    confirmed: int
    unsubscribed: int
    bounced: int
    complained: int


def subscriber_days(days: int = HISTORY_DAYS, end: dt.date | None = None) -> list[SubscriberDay]:
    """Each day's new confirmations and departures, and the readers subscribed at its end (walked
    back from today's count: each earlier day adds back who left after it, less who joined)."""
    end = end or today()
    first, since = _window(days, end)
    confirmed = Q(confirmed_at__gte=since)
    left = Q(status__in=LEFT, status_changed_at__gte=since, confirmed_at__isnull=False)
    rows = (
        Subscriber.objects.filter(confirmed | left | Q(status__in=SUBSCRIBED))
        .annotate(joined=TruncDate("confirmed_at"), changed=TruncDate("status_changed_at"))
        .values("joined", "changed", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    joins: dict[dt.date, int] = {}
    leaves: dict[tuple[dt.date, str], int] = {}
    subscribed_now = 0
    for row in rows:
        if row["status"] in SUBSCRIBED:
            subscribed_now += row["n"]
        if row["joined"] and row["joined"] >= first:
            joins[row["joined"]] = joins.get(row["joined"], 0) + row["n"]
        if row["status"] in LEFT and row["changed"] and row["changed"] >= first:
            key = (row["changed"], row["status"])
            leaves[key] = leaves.get(key, 0) + row["n"]
    result: list[SubscriberDay] = []
    subscribed = subscribed_now
    for offset in range(days):
        day = end - dt.timedelta(days=offset)
        out = {status: leaves.get((day, status), 0) for status in LEFT}
        result.append(
            SubscriberDay(
                day,
                subscribed,
                joins.get(day, 0),
                out[Subscriber.Status.UNSUBSCRIBED],
                out[Subscriber.Status.BOUNCED],
                out[Subscriber.Status.COMPLAINED],
            )
        )
        subscribed = subscribed - joins.get(day, 0) + sum(out.values())  # the day before's end
    return result[::-1]


@dataclass(frozen=True)
class Signups:
    signups: int
    confirmed: int

    @property
    def rate(self) -> float | None:
        return self.confirmed / self.signups if self.signups else None


def signups(days: int = HISTORY_DAYS, end: dt.date | None = None) -> Signups:
    """Signups of the last ``days`` days and how many of them confirmed."""
    _, since = _window(days, end or today())
    counts = Subscriber.objects.filter(created_at__gte=since).aggregate(
        signups=Count("pk"), confirmed=Count("pk", filter=Q(confirmed_at__isnull=False))
    )
    return Signups(counts["signups"], counts["confirmed"])


# --- Editions ------------------------------------------------------------------------------------


@dataclass
class EditionRow:
    edition: Edition
    sent: int
    failed: int
    unknown: int
    skipped: int
    suppressed: int
    waiting: int  # pending or being sent
    opened: int  # deliveries the ESP reported opened
    clicked: int  # readers who clicked: deliveries with a click (first-party or ESP-reported)
    more: int
    less: int
    bounced: int
    complained: int
    unsubscribed: int  # readers whose last digest before they unsubscribed was this one
    warnings: list[str] = field(default_factory=list, init=False)

    @property
    def delivered(self) -> int:
        """What reached the mailbox provider: what the rates are rates of."""
        return self.sent + self.unknown

    def _rate(self, count: int) -> float | None:
        return count / self.delivered if self.delivered else None

    @property
    def click_rate(self) -> float | None:
        return self._rate(self.clicked)

    @property
    def open_rate(self) -> float | None:
        return self._rate(self.opened)

    @property
    def bounce_rate(self) -> float | None:
        return self._rate(self.bounced)

    @property
    def complaint_rate(self) -> float | None:
        return self._rate(self.complained)

    @property
    def complaint_alarm(self) -> bool:
        rate = self.complaint_rate
        return rate is not None and rate >= COMPLAINT_WARNING

    @property
    def bounce_alarm(self) -> bool:
        rate = self.bounce_rate
        return rate is not None and rate > BOUNCE_WARNING


def edition_rows(limit: int = EDITIONS_SHOWN, editions: Sequence[int] | None = None) -> list[EditionRow]:
    """The latest published editions (or those of ``editions``) with their numbers, newest first.
    Each source is counted in one grouped query over these editions' rows only (not a subquery
    per edition and number, which at 1M deliveries scans each edition's rows a dozen times)."""
    chosen = Edition.objects.filter(pk__in=editions) if editions is not None else Edition.objects.published()
    shown = list(chosen.order_by("-period_start", "-pk")[:limit])
    ids = [edition.pk for edition in shown]
    numbers: dict[int, dict[str, int]] = {pk: dict.fromkeys(_NUMBERS, 0) for pk in ids}

    def add(rows: Any, key: str = "edition") -> None:
        for row in rows:
            numbers[row.pop(key)].update({name: value for name, value in row.items() if value})

    status = Delivery.Status
    # Statuses from the (edition, status) index alone, opens and clicks from their partial indexes
    # (migration 0007): none of the three reads the table's rows (1M deliveries: 70 ms, not 180 ms).
    named = {status.SENT: "sent", status.FAILED: "failed", status.UNKNOWN: "unknown", status.SKIPPED: "skipped"}
    named |= {status.SUPPRESSED: "suppressed", status.PENDING: "waiting", status.SENDING: "waiting"}
    by_status = Delivery.objects.filter(edition_id__in=ids).values_list("edition", "status").annotate(n=Count("*"))
    for edition_id, state, count in by_status.order_by():
        numbers[edition_id][named[state]] += count
    for field_name, number in (("opened_at", "opened"), ("clicked_at", "clicked")):
        add(
            Delivery.objects.filter(edition_id__in=ids, **{f"{field_name}__isnull": False})
            .values("edition")
            .annotate(**{number: Count("*")})
            .order_by()
        )
    add(
        Feedback.objects.filter(edition_id__in=ids)
        .values("edition")
        .annotate(
            more=Count("pk", filter=Q(vote=Feedback.Vote.MORE)), less=Count("pk", filter=Q(vote=Feedback.Vote.LESS))
        )
        .order_by()
    )
    add(
        TrackingEvent.objects.filter(delivery__edition_id__in=ids)
        .values("delivery__edition")
        .annotate(
            bounced=Count("pk", filter=Q(event_type__in=BOUNCE_EVENTS)),
            complained=Count("pk", filter=Q(event_type__in=COMPLAINT_EVENTS)),
        )
        .order_by(),
        key="delivery__edition",
    )
    # An unsubscribe is put down to the reader's last digest before it: found walking back their
    # rows of the (subscriber, kind, local_date) index from the day they left, for the readers who
    # left since the oldest edition shown (a daily reader's last daily digest, else their last weekly).
    oldest = min((edition.period_start for edition in shown), default=None)

    def last_digest(kind: str) -> Subquery:
        return Subquery(
            Delivery.objects.filter(
                subscriber=OuterRef("pk"),
                kind=kind,
                local_date__lte=OuterRef("left_on"),
                status__in=[status.SENT, status.UNKNOWN],
            )
            .order_by("-local_date")
            .values("edition_id")[:1]
        )

    if oldest is not None:
        add(
            Subscriber.objects.filter(status=Subscriber.Status.UNSUBSCRIBED, status_changed_at__date__gte=oldest)
            .annotate(left_on=TruncDate("status_changed_at"))
            .annotate(last_edition=Coalesce(last_digest(Edition.Kind.DAILY), last_digest(Edition.Kind.WEEKLY)))
            .filter(last_edition__in=ids)
            .values("last_edition")
            .annotate(unsubscribed=Count("pk"))
            .order_by(),
            key="last_edition",
        )
    result = []
    for edition in shown:
        row = EditionRow(edition, **numbers[edition.pk])
        row.warnings = deliverability_warnings(row)
        result.append(row)
    return result


_NUMBERS = [field.name for field in dataclasses.fields(EditionRow) if field.type == "int"]


def deliverability_warnings(row: EditionRow) -> list[str]:
    """What an editor should do about an edition's bounce and complaint rates, worst first."""
    warnings = []
    complaints, bounces = row.complaint_rate, row.bounce_rate
    if complaints is not None and complaints >= COMPLAINT_LIMIT:
        warnings.append(
            f"Complaints {complaints:.2%}: at 0.3 % mailbox providers start refusing bulk mail. Pause sending, "
            "check that every reader confirmed (double opt-in) and that the unsubscribe link is easy to find."
        )
    elif complaints is not None and complaints >= COMPLAINT_WARNING:
        warnings.append(
            f"Complaints {complaints:.2%}: keep them under 0.1 %. Make the unsubscribe link prominent and the "
            "subject say what the email is."
        )
    if bounces is not None and bounces > BOUNCE_WARNING:
        warnings.append(
            f"Bounces {bounces:.2%}: over 2 % means stale or mistyped addresses. Bounced addresses are "
            "suppressed already; look at recent imports and signups."
        )
    return warnings


# --- Papers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopPaper:
    paper_id: int
    title: str
    arxiv_id: str | None
    count: int


def top_papers(kind: str, days: int = TOP_DAYS, end: dt.date | None = None) -> list[TopPaper]:
    """The papers with the most clicks (``kind="clicks"``) or "more like this" votes (``"more"``)
    in the last ``days`` days."""
    _, since = _window(days, end or today())
    counted: QuerySet[Any]
    if kind == "clicks":
        counted = Click.objects.filter(created_at__gte=since)
    else:
        counted = Feedback.objects.filter(vote=Feedback.Vote.MORE, created_at__gte=since)
    rows = (
        counted.values("paper_id", "paper__title", "paper__arxiv_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "paper_id")[:TOP_PAPERS]
    )
    return [TopPaper(row["paper_id"], row["paper__title"], row["paper__arxiv_id"], row["n"]) for row in rows]


# --- Ingest ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceHealth:
    source: str
    runs: int
    failed: int
    partial: int
    created: int
    last_run: dt.datetime | None


def ingest_health(days: int = TOP_DAYS, end: dt.date | None = None) -> list[SourceHealth]:
    _, since = _window(days, end or today())
    rows = (
        IngestRun.objects.filter(started_at__gte=since)
        .values("source")
        .annotate(
            runs=Count("pk"),
            failed=Count("pk", filter=Q(status=IngestRun.Status.FAILED)),
            partial=Count("pk", filter=Q(status=IngestRun.Status.PARTIAL)),
            created=Coalesce(Sum("created"), 0),
            last_run=Max("started_at"),
        )
        .order_by("source")
    )
    return [SourceHealth(**row) for row in rows]


@dataclass(frozen=True)
class PapersDay:
    day: dt.date
    listed: int  # entries on the day (any status)
    approved: int


def papers_per_day(days: int = TOP_DAYS, end: dt.date | None = None) -> list[PapersDay]:
    end = end or today()
    first, _ = _window(days, end)
    rows = (
        DailyEntry.objects.filter(day__gte=first, day__lte=end)
        .values("day")
        .annotate(listed=Count("pk"), approved=Count("pk", filter=Q(status=DailyEntry.Status.APPROVED)))
    )
    counts = {row["day"]: row for row in rows}
    return [
        PapersDay(day, counts.get(day, {}).get("listed", 0), counts.get(day, {}).get("approved", 0))
        for day in (first + dt.timedelta(days=n) for n in range(days))
    ]
