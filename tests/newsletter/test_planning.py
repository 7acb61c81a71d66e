"""Editions and planning: frozen papers, local delivery hours, one digest per local day (DST too)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db import connection
from django.utils import timezone

from newsletter import planning, services
from newsletter.models import Delivery, Edition
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 27)  # a Friday; Europe's clocks go forward on Sunday the 29th
UTC = dt.UTC


def at(year, month, day, hour, minute=0, zone="UTC") -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=zoneinfo.ZoneInfo(zone))


@pytest.fixture
def day_papers():
    return [
        DailyEntryFactory(day=DAY, paper=PaperFactory(title=f"Paper {n}"), upvotes=10 * n, pinned=n == 1)
        for n in range(1, 5)
    ]


def reader(**fields):
    fields.setdefault("confirmed_at", at(2026, 1, 1, 0))
    return SubscriberFactory(**fields)


def test_publish_freezes_the_approved_papers_in_order(day_papers):
    DailyEntryFactory(day=DAY, status="hidden")
    edition = services.edition_publish(kind="daily", day=DAY)
    assert edition.status == Edition.Status.SCHEDULED
    first, *rest = edition.paper_ids
    assert first == day_papers[0].paper_id, "pinned first"
    assert rest == [entry.paper_id for entry in reversed(day_papers[1:])], "then by upvotes"
    assert edition.pinned_ids == [day_papers[0].paper_id]

    DailyEntryFactory(day=DAY, paper=PaperFactory(title="Late addition"), upvotes=999)
    again = services.edition_publish(kind="daily", day=DAY)
    assert again.pk == edition.pk and again.paper_ids == edition.paper_ids, "published editions are frozen"


def test_nothing_approved_publishes_nothing():
    assert services.edition_publish(kind="daily", day=DAY) is None
    assert Edition.objects.get().status == Edition.Status.DRAFT


def test_weekly_edition_takes_the_weeks_best(day_papers):
    monday = DAY - dt.timedelta(days=DAY.weekday())
    top = DailyEntryFactory(day=monday, paper=PaperFactory(title="Monday hit"), upvotes=500)
    DailyEntryFactory(day=monday, paper=day_papers[3].paper, upvotes=5)  # listed twice: counted once
    DailyEntryFactory(day=monday - dt.timedelta(days=1), paper=PaperFactory(title="Last week"), upvotes=900)
    edition = services.edition_publish(kind="weekly", day=DAY)
    assert (edition.period_start, edition.period_end) == (monday, monday + dt.timedelta(days=6))
    assert edition.paper_ids[:2] == [day_papers[0].paper_id, top.paper_id]
    assert len(edition.paper_ids) == len(set(edition.paper_ids)) == 5


def test_publish_due_waits_for_the_cutoff(day_papers):
    assert services.editions_publish_due(now=at(2026, 3, 27, 21, 59), cutoff_hour=22) == []
    (edition,) = services.editions_publish_due(now=at(2026, 3, 27, 22, 0), cutoff_hour=22)
    assert edition.period_start == DAY


def test_readers_are_due_at_their_local_hour(day_papers):
    edition = services.edition_publish(kind="daily", day=DAY)
    berlin = reader(time_zone="Europe/Berlin", send_hour=8)
    tokyo = reader(time_zone="Asia/Tokyo", send_hour=8)
    new_york = reader(time_zone="America/New_York", send_hour=8)
    reader(time_zone="Europe/Berlin", send_hour=8, status="paused")
    reader(time_zone="Europe/Berlin", send_hour=8, frequency="weekly")

    # 07:30 UTC on the 28th = 08:30 in Berlin, 16:30 in Tokyo, 03:30 in New York.
    due = planning.due_readers(edition, now=at(2026, 3, 28, 7, 30))
    assert sorted(due) == sorted([(berlin.pk, dt.date(2026, 3, 28)), (tokyo.pk, dt.date(2026, 3, 28))])
    assert new_york.pk not in dict(due)


def test_a_reader_who_confirmed_after_todays_hour_starts_tomorrow(day_papers):
    edition = services.edition_publish(kind="daily", day=DAY)
    reader(time_zone="UTC", send_hour=8, confirmed_at=at(2026, 3, 28, 9))
    assert planning.due_readers(edition, now=at(2026, 3, 28, 10)) == []


def test_planning_twice_creates_nothing_new(day_papers):
    edition = services.edition_publish(kind="daily", day=DAY)
    for _ in range(3):
        reader(time_zone="UTC", send_hour=6)
    now = at(2026, 3, 28, 7)
    assert planning.plan_due(now=now) == 3
    assert planning.plan_due(now=now) == 0
    assert planning.plan_deliveries(edition, [(row.subscriber_id, row.local_date) for row in Delivery.objects.all()])
    assert Delivery.objects.count() == 3
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENDING


@pytest.mark.parametrize(
    ("zone", "ticks"),
    [
        # Spring forward in Berlin (2026-03-29 02:00 -> 03:00): the 02:00 hour never exists.
        ("Europe/Berlin", [at(2026, 3, 29, hour, minute) for hour in range(0, 6) for minute in (0, 5, 30, 55)]),
        # Fall back in New York (2026-11-01 02:00 -> 01:00): 01:xx happens twice.
        ("America/New_York", [at(2026, 11, 1, hour, minute) for hour in range(4, 9) for minute in (0, 5, 30, 55)]),
    ],
)
def test_dst_changes_never_give_two_digests_on_one_local_day(zone, ticks):
    """Every 5-minute tick through a DST change; a new edition published mid-day included."""
    first_day = ticks[0].astimezone(zoneinfo.ZoneInfo(zone)).date()
    DailyEntryFactory(day=first_day - dt.timedelta(days=1), paper=PaperFactory())
    services.edition_publish(kind="daily", day=first_day - dt.timedelta(days=1))
    early = reader(time_zone=zone, send_hour=1)
    late = reader(time_zone=zone, send_hour=2)
    for number, now in enumerate(ticks):
        if number == len(ticks) // 2:  # the next edition appears in the middle of the local day
            DailyEntryFactory(day=first_day, paper=PaperFactory())
            services.edition_publish(kind="daily", day=first_day)
        planning.plan_due(now=now)
    for subscriber in (early, late):
        rows = list(Delivery.objects.filter(subscriber=subscriber).values_list("local_date", flat=True))
        assert len(rows) == len(set(rows)) == 1, f"{subscriber.send_hour}:00 in {zone} got {rows}"


def test_database_refuses_a_second_digest_on_the_same_local_day(day_papers):
    from django.db import IntegrityError, transaction

    first = services.edition_publish(kind="daily", day=DAY)
    second = Edition.objects.create(kind="daily", period_start=DAY + dt.timedelta(days=1), period_end=DAY)
    subscriber = reader()
    Delivery.objects.create(edition=first, subscriber=subscriber, kind="daily", local_date=DAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(edition=second, subscriber=subscriber, kind="daily", local_date=DAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(edition=first, subscriber=subscriber, kind="daily", local_date=DAY + dt.timedelta(1))


def test_papers_are_never_sent_twice_to_a_reader(day_papers):
    subscriber = reader(papers_per_digest=2, interests="")
    first = services.edition_publish(kind="daily", day=DAY)
    planning.plan_deliveries(first, [(subscriber.pk, DAY)])
    got_first = Delivery.objects.get(edition=first).paper_ids
    Delivery.objects.filter(edition=first).update(status="sent")

    next_day = DAY + dt.timedelta(days=1)
    for entry in day_papers:
        DailyEntryFactory(day=next_day, paper=entry.paper, upvotes=entry.upvotes)
    second = services.edition_publish(kind="daily", day=next_day)
    planning.plan_deliveries(second, [(subscriber.pk, next_day)])
    got_second = Delivery.objects.get(edition=second).paper_ids
    assert len(got_first) == len(got_second) == 2
    assert not set(got_first) & set(got_second)


def test_skip_when_nothing_matches_creates_a_skipped_row(day_papers):
    edition = services.edition_publish(kind="daily", day=DAY)
    picky = reader(interests="medieval tapestry conservation", skip_if_no_match=True)
    planning.plan_deliveries(edition, [(picky.pk, DAY)])
    row = Delivery.objects.get()
    assert (row.status, row.paper_ids) == ("skipped", [])


def test_all_readers_ignores_the_hour_but_not_the_local_day(day_papers):
    edition = services.edition_publish(kind="daily", day=DAY)
    night_owl = reader(time_zone="Pacific/Auckland", send_hour=23)
    done = reader()
    berlin_today = timezone.now().astimezone(zoneinfo.ZoneInfo(done.time_zone)).date()
    Delivery.objects.create(edition=edition, subscriber=done, kind="daily", local_date=berlin_today)
    due = dict(planning.all_readers(edition))
    assert night_owl.pk in due and done.pk not in due


def test_planned_rows_carry_the_model_defaults(day_papers):
    """Rows go in through COPY on PostgreSQL (bulk_create elsewhere): the same row either way."""
    edition = services.edition_publish(kind="daily", day=DAY)
    keen = reader(time_zone="UTC", send_hour=6, papers_per_digest=2)
    picky = reader(time_zone="UTC", send_hour=6, interests="zzzz qqqq", skip_if_no_match=True)
    before = timezone.now()

    assert planning.plan_due(now=at(2026, 3, 28, 7)) == 2

    rows = {row.subscriber_id: row for row in Delivery.objects.all()}
    fresh = Delivery()
    for row in rows.values():
        assert (row.edition_id, row.kind, row.local_date) == (edition.pk, "daily", dt.date(2026, 3, 28))
        for name in ("attempts", "last_error", "message_id", "esp_message_id", "claim"):
            assert getattr(row, name) == getattr(fresh, name), name
        assert row.claimed_at is row.enqueued_at is row.sent_at is row.opened_at is row.clicked_at is None
        assert before <= row.created_at <= timezone.now()
    assert rows[keen.pk].status == "pending" and len(rows[keen.pk].paper_ids) == 2
    assert all(isinstance(pk, int) for pk in rows[keen.pk].paper_ids)
    assert (rows[picky.pk].status, rows[picky.pk].paper_ids) == ("skipped", [])


def test_each_planned_batch_is_handed_on_as_soon_as_it_is_stored(day_papers, monkeypatch):
    """The tick dispatches after every batch: sending starts before the last reader is ranked."""
    monkeypatch.setattr(planning, "PLAN_BATCH", 2)
    services.edition_publish(kind="daily", day=DAY)
    for _ in range(5):
        reader(time_zone="UTC", send_hour=6)
    stored_at_each_call = []
    handed_on = []

    def after_batch(new_ids):
        stored_at_each_call.append(Delivery.objects.count())
        handed_on.append(new_ids)

    planned = planning.plan_due(now=at(2026, 3, 28, 7), after_batch=after_batch)

    assert planned == 5
    assert stored_at_each_call == [2, 4, 5]
    if connection.vendor == "postgresql":  # the database says which rows are new
        rows = Delivery.objects.order_by("pk")
        assert [sorted(ids) for ids in handed_on] == [[r.pk for r in rows[i : i + 2]] for i in (0, 2, 4)]
        assert all(row.enqueued_at is not None for row in rows)
    else:  # the tick then dispatches the pending rows, none marked enqueued before it
        assert handed_on == [None, None, None]
        assert not Delivery.objects.filter(enqueued_at__isnull=False).exists()


def test_only_new_pending_rows_are_handed_on_as_enqueued(day_papers):
    """A reader with no papers (skipped) is not enqueued; a reader planned already is not new."""
    if connection.vendor != "postgresql":
        pytest.skip("the planner hands on new rows' ids on PostgreSQL only (RETURNING)")
    edition = services.edition_publish(kind="daily", day=DAY)
    keen = reader()
    picky = reader(interests="medieval tapestry conservation", skip_if_no_match=True)
    earlier = reader()
    planning.plan_deliveries(edition, [(earlier.pk, DAY)])
    handed_on = []

    planning.plan_deliveries(
        edition, [(keen.pk, DAY), (picky.pk, DAY), (earlier.pk, DAY)], after_batch=handed_on.append
    )

    rows = {row.subscriber_id: row for row in Delivery.objects.all()}
    assert handed_on == [[rows[keen.pk].pk]]
    assert rows[keen.pk].enqueued_at is not None
    assert rows[picky.pk].status == "skipped" and rows[picky.pk].enqueued_at is None
    assert rows[earlier.pk].enqueued_at is None, "a row planned before is left as it was"


def test_reader_infos_carry_every_preference():
    keen = reader(
        categories=["cs.LG", "cs.CL"], followed_authors=["Ada Lovelace"], interests="graphs", papers_per_digest=7
    )
    plain = reader(categories=[], followed_authors=[], interests="")

    infos = {info.id: info for info in planning.reader_infos([keen.pk, plain.pk])}

    assert infos[keen.pk].categories == ("cs.LG", "cs.CL")
    assert infos[keen.pk].followed_authors == ("Ada Lovelace",)
    assert (infos[keen.pk].interests, infos[keen.pk].count) == ("graphs", 7)
    assert (infos[plain.pk].categories, infos[plain.pk].followed_authors) == ((), ())
    assert infos[plain.pk].sent == infos[plain.pk].liked == frozenset()


# --- categories (issue 11, point 4) ---------------------------------------------------------------


def test_papers_of_unknown_category_stay_in_a_category_filtered_digest():
    """HF papers carry no categories: a reader who picked cs.LG and cs.CL still gets them (ranked by
    interests as usual); a paper whose known categories are only astro-ph.GA is left out."""
    hf_picks = [
        DailyEntryFactory(day=DAY, paper=PaperFactory(title=title, categories=[]), upvotes=upvotes)
        for title, upvotes in [
            ("Speech recognition with small language models", 40),
            ("A benchmark of video generation", 90),
            ("Robot grasping from demonstrations", 60),
        ]
    ]
    language = DailyEntryFactory(day=DAY, paper=PaperFactory(title="Parsing", categories=["cs.CL"]), upvotes=5)
    galaxies = DailyEntryFactory(
        day=DAY, paper=PaperFactory(title="Language of galaxy spectra", categories=["astro-ph.GA"]), upvotes=500
    )
    edition = services.edition_publish(kind="daily", day=DAY)
    assert len(edition.paper_ids) == 5
    keen = reader(categories=["cs.LG", "cs.CL"], interests="speech recognition", papers_per_digest=10)

    planning.plan_deliveries(edition, [(keen.pk, DAY)])

    delivery = Delivery.objects.get(subscriber=keen)
    assert delivery.status == Delivery.Status.PENDING
    assert set(delivery.paper_ids) == {entry.paper_id for entry in [*hf_picks, language]}
    assert galaxies.paper_id not in delivery.paper_ids
    assert delivery.paper_ids[0] == hf_picks[0].paper_id, "ranked by the reader's interests as usual"


def test_aliases_match_and_stored_values_that_are_no_category_are_ignored():
    control = DailyEntryFactory(day=DAY, paper=PaperFactory(title="Control", categories=["eess.SY"]), upvotes=5)
    galaxies = DailyEntryFactory(day=DAY, paper=PaperFactory(title="Galaxies", categories=["astro-ph.GA"]))
    edition = services.edition_publish(kind="daily", day=DAY)
    systems = reader(categories=["cs.SY"])  # an alias of eess.SY
    stale = reader(categories=["cs.FOO"])  # stored before categories were checked: matches nothing, so no filter

    planning.plan_deliveries(edition, [(systems.pk, DAY), (stale.pk, DAY)])

    sent = dict(Delivery.objects.values_list("subscriber_id", "paper_ids"))
    assert sent[systems.pk] == [control.paper_id]
    assert set(sent[stale.pk]) == {control.paper_id, galaxies.paper_id}


# --- reasons, mutes and votes (issue 12) -------------------------------------------------------


def test_planned_rows_store_why_each_paper_was_chosen():
    """Through COPY: the reasons line up with paper_ids; a reader whose interests matched nothing
    is flagged; muted topics and disliked papers' texts are read from the database."""
    from newsletter.models import Feedback

    protein = DailyEntryFactory(day=DAY, paper=PaperFactory(title="Protein folding with transformers"), upvotes=3)
    robots = DailyEntryFactory(day=DAY, paper=PaperFactory(title="Robots that sort laundry"), upvotes=50)
    viral = DailyEntryFactory(day=DAY, paper=PaperFactory(title="Scaling laws for everything"), upvotes=900)
    old = PaperFactory(title="Robots in warehouses: grasping boxes")
    edition = services.edition_publish(kind="daily", day=DAY)
    keen = reader(interests="protein folding", papers_per_digest=2)
    lost = reader(interests="medieval tapestry conservation", papers_per_digest=2)
    muted = reader(interests="protein folding", muted_topics=["protein"], papers_per_digest=3)
    voter = reader(papers_per_digest=3)
    Feedback.objects.create(subscriber=voter, paper=old, vote=Feedback.Vote.LESS)

    planning.plan_deliveries(edition, [(r.pk, DAY) for r in (keen, lost, muted, voter)])

    rows = {row.subscriber_id: row for row in Delivery.objects.all()}
    assert rows[keen.pk].paper_ids == [protein.paper_id, viral.paper_id]
    assert rows[keen.pk].reasons == [["interest:protein folding"], ["trending"]]
    assert not rows[keen.pk].unmatched
    assert rows[lost.pk].paper_ids == [viral.paper_id, robots.paper_id]
    assert rows[lost.pk].reasons == [["trending"], ["trending"]] and rows[lost.pk].unmatched
    assert protein.paper_id not in rows[muted.pk].paper_ids
    # The disliked warehouse-robots paper (of no edition) pushes the laundry robots from second
    # (by popularity alone) to last.
    assert rows[voter.pk].paper_ids[-1] == robots.paper_id
