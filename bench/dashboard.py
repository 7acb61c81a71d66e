"""The editor's dashboard at 1M Delivery rows: 90 sent daily editions to ~11,000 readers (with
opens, first-party clicks, votes, bounces and unsubscribes in realistic shares), rendered through
the real admin view as a logged-in staff member. Baseline: the admin's index page, same client,
same run. Other modules' readers and editions are removed first, and these rows afterwards (the
run's database is shared by the modules)."""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time

from bench.db import bench_database, log
from bench.results import Result

EDITIONS = 90
DELIVERIES = 1_000_000
RENDERS = 30


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _fill(editions: int, readers: int) -> int:
    from django.db import connection
    from django.utils import timezone

    from common.db import insert_rows
    from newsletter.models import Click, Delivery, Edition, Feedback, TrackingEvent
    from papers.models import Paper
    from subscribers.models import Subscriber

    rng = random.Random(7)  # noqa: S311 (made-up data)
    today = timezone.localdate()
    papers = [Paper.objects.create(arxiv_id=f"2612.{90000 + n}", title=f"Dashboard bench paper {n}") for n in range(20)]
    start = timezone.now() - dt.timedelta(days=editions + 30)
    people = []
    for n in range(readers):
        confirmed = start + dt.timedelta(minutes=rng.randrange(60 * 24 * 30))
        people.append(
            Subscriber(
                email=f"dash{n}@bench.invalid",
                status=rng.choices(["active", "unsubscribed", "bounced", "complained"], [88, 10, 1.5, 0.5])[0],
                confirmed_at=confirmed,
                status_changed_at=confirmed + dt.timedelta(days=rng.randrange(20, editions + 25)),
            )
        )
    Subscriber.objects.bulk_create(people, batch_size=5000)
    ids = [person.pk for person in people]
    total = 0
    for number in range(editions):
        day = today - dt.timedelta(days=editions - number)
        edition = Edition.objects.create(
            kind="daily",
            period_start=day,
            period_end=day,
            status="sent",
            paper_ids=[paper.pk for paper in papers[:8]],
            published_at=timezone.make_aware(dt.datetime.combine(day, dt.time(6))),
        )
        sent_at = timezone.make_aware(dt.datetime.combine(day, dt.time(8)))
        rows: list[tuple[object, ...]] = []
        for subscriber_id in ids:
            roll = rng.random()
            status = "sent" if roll > 0.005 else "failed"
            opened = sent_at if roll < 0.45 else None
            clicked = sent_at if roll < 0.18 else None
            rows.append((edition.pk, subscriber_id, "daily", day, status, [], sent_at, opened, clicked))
        names = ("edition_id", "subscriber_id", "kind", "local_date", "status", "paper_ids", "sent_at", "opened_at")
        insert_rows(Delivery, (*names, "clicked_at"), rows)
        total += len(rows)
        clicked_rows = Delivery.objects.filter(edition=edition, clicked_at__isnull=False).values_list(
            "pk", "subscriber_id"
        )
        clicks, votes = [], []
        for delivery_id, subscriber_id in clicked_rows:
            clicks.append((delivery_id, rng.choice(papers).pk, "page"))
            if rng.random() < 0.1:
                votes.append((subscriber_id, rng.choice(papers).pk, 1, edition.pk))
        insert_rows(Click, ("delivery_id", "paper_id", "link"), clicks)
        insert_rows(Feedback, ("subscriber_id", "paper_id", "vote", "edition_id"), votes, skip_conflicts=True)
        bounced = Delivery.objects.filter(edition=edition).values_list("pk", flat=True)[:20]
        TrackingEvent.objects.bulk_create(
            [TrackingEvent(event_id=f"bench-{pk}", event_type="bounced", delivery_id=pk) for pk in bounced]
        )
        if number % 10 == 9:
            log(f"dashboard data: {total:,} deliveries in {number + 1} editions")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # as autovacuum would have, after a day's inserts
    return total


def _clear() -> None:
    """Readers and editions of no other module: in `make bench` the earlier modules leave theirs
    (the send benchmarks' 100,000 readers, all signed up days ago, and their deliveries; the
    ranking's million deleted readers as dead rows), which made a different dashboard than the
    one described (486 ms p99 on 2026-12-07; 214 ms with only the send benchmark's readers and
    deliveries added, measured by hand)."""
    from django.db import connection

    from newsletter.models import Edition
    from subscribers.models import Subscriber

    if connection.vendor == "postgresql":
        tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in (Subscriber, Edition))
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} CASCADE")  # and every row that refers to them
    else:
        Edition.objects.all().delete()
        Subscriber.objects.all().delete()


def _cleanup() -> None:
    from newsletter.models import Edition
    from papers.models import Paper
    from subscribers.models import Subscriber

    Edition.objects.all().delete()  # deliveries, clicks and events with them
    Subscriber.objects.filter(email__endswith="@bench.invalid").delete()
    Paper.objects.filter(title__startswith="Dashboard bench paper").delete()


def run(*, quick: bool) -> list[Result]:
    database = bench_database()
    from django.contrib.auth import get_user_model
    from django.test import Client

    editions = 10 if quick else EDITIONS
    readers = (20_000 if quick else DELIVERIES) // editions
    started = time.monotonic()
    _clear()
    total = _fill(editions, readers)
    log(f"dashboard data: {total:,} deliveries, {readers:,} readers, in {time.monotonic() - started:.0f} s")

    staff = get_user_model().objects.create_superuser("bench-editor", "editor@bench.invalid", "bench password")
    client = Client()
    client.force_login(staff)

    def timed(url: str) -> float:
        began = time.perf_counter()
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        return (time.perf_counter() - began) * 1000

    for _ in range(2):  # warm: templates, the first queries' plans
        timed("/admin/dashboard/")
        timed("/admin/")
    renders = [timed("/admin/dashboard/") for _ in range(RENDERS)]
    index = [timed("/admin/") for _ in range(RENDERS)]
    p50, p99 = statistics.median(renders), _percentile(renders, 0.99)
    baseline = statistics.median(index)
    log(f"dashboard: p50 {p50:.0f} ms, p99 {p99:.0f} ms over {RENDERS} renders; admin index p50 {baseline:.0f} ms")
    _cleanup()
    staff.delete()
    notes = (
        f"GET /admin/dashboard/ as staff through Django's test client, {RENDERS} renders after 2 warm-ups, "
        f"{total:,} Delivery rows ({editions} sent editions × {readers:,} readers, 45% opened, 18% clicked, "
        f"a first-party click per clicked delivery), {database}; baseline: the admin index page, p50"
    )
    return [
        Result(
            "dashboard",
            f"render p99, {total:,} deliveries",
            p99,
            "ms",
            baseline=baseline,
            target="< 300 ms",
            met=None if quick else p99 < 300,
            notes=notes,
        ),
        Result("dashboard", "render p50", p50, "ms", baseline=baseline, notes="as above"),
    ]
