"""The editor's dashboard (newsletter/dashboard.py, /admin/dashboard/): the numbers against rows
made here, the deliverability warnings at the bulk-sender limits, CSV export, staff only, a
bounded number of queries, the vote's edition, and the sample history command."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from newsletter import dashboard
from newsletter.management.commands.demo_history import DOMAIN
from newsletter.models import Click, Delivery, Edition, Feedback, TrackingEvent
from newsletter.steering import feedback_vote
from papers.models import IngestRun
from subscribers.models import Subscriber
from tests.factories import DailyEntryFactory, DeliveryFactory, EditionFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 12, 4)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("editor", "editor@example.org", "pw"))
    return client


def reader(status: str, *, confirmed: dt.date | None, changed: dt.date | None = None, created: dt.date | None = None):
    subscriber = SubscriberFactory.create(status=status)
    Subscriber.objects.filter(pk=subscriber.pk).update(
        created_at=at(created or confirmed or TODAY),
        confirmed_at=at(confirmed) if confirmed else None,
        status_changed_at=at(changed or confirmed or TODAY),
    )
    subscriber.refresh_from_db()
    return subscriber


def test_subscribers_per_day_walk_back_from_today():
    reader("active", confirmed=TODAY - dt.timedelta(days=200))  # before the window: counted throughout
    reader("active", confirmed=TODAY - dt.timedelta(days=10))
    reader("paused", confirmed=TODAY - dt.timedelta(days=5))  # paused is still on the list
    reader("unsubscribed", confirmed=TODAY - dt.timedelta(days=20), changed=TODAY - dt.timedelta(days=3))
    reader("bounced", confirmed=TODAY - dt.timedelta(days=300), changed=TODAY - dt.timedelta(days=2))
    reader("complained", confirmed=TODAY - dt.timedelta(days=30), changed=TODAY - dt.timedelta(days=1))
    reader("pending", confirmed=None, created=TODAY - dt.timedelta(days=4))  # never on the list

    days = {row.day: row for row in dashboard.subscriber_days(days=40, end=TODAY)}
    assert len(days) == 40

    def on(ago: int) -> dashboard.SubscriberDay:
        return days[TODAY - dt.timedelta(days=ago)]

    # "subscribed" is at the end of the day: who left that day is gone, who confirmed is there.
    assert [on(ago).subscribed for ago in (0, 1, 2, 3, 4, 5, 6, 10, 11, 39)] == [3, 3, 4, 5, 6, 6, 5, 5, 4, 2]
    assert (on(1).complained, on(2).bounced, on(3).unsubscribed) == (1, 1, 1)
    assert (on(5).confirmed, on(10).confirmed, on(4).confirmed) == (1, 1, 0)  # pending signups never count


def test_the_signup_confirmation_rate():
    reader("active", confirmed=TODAY - dt.timedelta(days=3))
    reader("pending", confirmed=None, created=TODAY - dt.timedelta(days=3))
    reader("active", confirmed=TODAY - dt.timedelta(days=200))  # signed up before the window
    signups = dashboard.signups(days=90, end=TODAY)
    assert (signups.signups, signups.confirmed, signups.rate) == (2, 1, 0.5)
    assert dashboard.Signups(0, 0).rate is None


def sent_edition(count: int, *, day: dt.date = TODAY, **statuses: int) -> tuple[Edition, list[Delivery]]:
    edition = EditionFactory.create(period_start=day, status=Edition.Status.SENT, published_at=at(day, 6))
    rows = [DeliveryFactory.create(edition=edition, status="sent", sent_at=at(day, 8)) for _ in range(count)]
    start = 0
    for status, number in statuses.items():
        Delivery.objects.filter(pk__in=[row.pk for row in rows[start : start + number]]).update(status=status)
        start += number
    return edition, rows


def test_an_editions_numbers_come_from_its_rows():
    edition, rows = sent_edition(10, failed=1, unknown=1, skipped=1)
    papers = [PaperFactory(), PaperFactory()]
    Delivery.objects.filter(pk__in=[rows[3].pk, rows[4].pk]).update(clicked_at=at(TODAY, 9), opened_at=at(TODAY, 9))
    Click.objects.create(delivery=rows[3], paper=papers[0], link="page")
    Click.objects.create(delivery=rows[3], paper=papers[1], link="pdf")
    Click.objects.create(delivery=rows[4], paper=papers[0], link="arxiv")
    Feedback.objects.create(subscriber=rows[3].subscriber, paper=papers[0], vote=1, edition=edition)
    Feedback.objects.create(subscriber=rows[4].subscriber, paper=papers[1], vote=-1, edition=edition)
    TrackingEvent.objects.create(event_id="b1", event_type="bounced", delivery=rows[5])
    leaver = rows[6].subscriber
    Subscriber.objects.filter(pk=leaver.pk).update(status="unsubscribed", status_changed_at=at(TODAY, 20))
    other, _ = sent_edition(3, day=TODAY - dt.timedelta(days=1))

    row, before = dashboard.edition_rows()
    assert (row.edition, before.edition) == (edition, other)
    assert (row.sent, row.failed, row.unknown, row.skipped) == (7, 1, 1, 1)
    assert (row.clicked, row.opened, row.more, row.less) == (2, 2, 1, 1)
    assert (row.bounced, row.complained, row.unsubscribed) == (1, 0, 1)
    assert row.delivered == 8 and row.click_rate == 2 / 8 and row.bounce_rate == 1 / 8
    assert row.bounce_alarm and "Bounces 12.50%" in row.warnings[0]
    assert (before.sent, before.clicked, before.unsubscribed, before.warnings) == (3, 0, 0, [])


def test_an_unsubscribe_is_put_down_to_the_readers_last_digest_before_it():
    first, rows = sent_edition(1, day=TODAY - dt.timedelta(days=2))
    second = EditionFactory(period_start=TODAY - dt.timedelta(days=1), status="sent", published_at=at(TODAY, 1))
    DeliveryFactory(
        edition=second, subscriber=rows[0].subscriber, status="sent", sent_at=at(TODAY - dt.timedelta(days=1), 8)
    )
    Subscriber.objects.filter(pk=rows[0].subscriber_id).update(
        status="unsubscribed", status_changed_at=at(TODAY - dt.timedelta(days=1), 20)
    )
    numbers = {row.edition: row.unsubscribed for row in dashboard.edition_rows()}
    assert numbers == {second: 1, first: 0}


@pytest.mark.parametrize(
    ("complaints", "sent", "expected"),
    [(0, 1000, None), (1, 1000, "keep them under 0.1 %"), (3, 1000, "start refusing"), (1, 2000, None)],
)
def test_complaint_warnings_at_the_bulk_sender_limits(complaints, sent, expected):
    row = dashboard.EditionRow(Edition(), *([0] * 13))
    row.sent, row.complained = sent, complaints
    warnings = dashboard.deliverability_warnings(row)
    if expected is None:
        assert warnings == [] and not row.complaint_alarm
    else:
        assert expected in warnings[0] and row.complaint_alarm


def test_top_papers_by_clicks_and_by_more_votes():
    _, rows = sent_edition(3)
    liked, clicked = PaperFactory(title="Liked"), PaperFactory(title="Clicked")
    for row in rows:
        Click.objects.create(delivery=row, paper=clicked, link="page")
    Click.objects.create(delivery=rows[0], paper=liked, link="page")
    Feedback.objects.create(subscriber=rows[0].subscriber, paper=liked, vote=1)
    Feedback.objects.create(subscriber=rows[1].subscriber, paper=clicked, vote=-1)  # not a "more"
    old = Click.objects.create(delivery=rows[1], paper=liked, link="pdf")
    Click.objects.filter(pk=old.pk).update(created_at=at(TODAY - dt.timedelta(days=45)))  # outside 30 days
    assert [(p.title, p.count) for p in dashboard.top_papers("clicks", end=TODAY)] == [("Clicked", 3), ("Liked", 1)]
    assert [(p.title, p.count) for p in dashboard.top_papers("more", end=TODAY)] == [("Liked", 1)]


def test_ingest_health_and_papers_per_day():
    for status in ("succeeded", "failed", "partial"):
        IngestRun.objects.create(source="hf", status=status, created=5)
    IngestRun.objects.create(source="arxiv", status="succeeded", created=2)
    DailyEntryFactory(day=TODAY)
    DailyEntryFactory(day=TODAY, status="pending")
    health = {s.source: (s.runs, s.failed, s.partial, s.created) for s in dashboard.ingest_health(end=TODAY)}
    assert health == {"arxiv": (1, 0, 0, 2), "hf": (3, 1, 1, 15)}
    days = dashboard.papers_per_day(days=3, end=TODAY)
    assert [(d.day, d.listed, d.approved) for d in days][-1] == (TODAY, 2, 1)
    assert len(days) == 3


def test_a_vote_records_the_edition_that_carried_the_paper():
    edition, rows = sent_edition(1)
    paper = PaperFactory()
    Delivery.objects.filter(pk=rows[0].pk).update(paper_ids=[paper.pk])
    feedback_vote(subscriber=rows[0].subscriber, paper=paper, vote=1)
    assert Feedback.objects.get(subscriber=rows[0].subscriber).edition == edition
    elsewhere = PaperFactory()
    feedback_vote(subscriber=rows[0].subscriber, paper=elsewhere, vote=1)  # from a pick page: no digest
    assert Feedback.objects.get(paper=elsewhere).edition is None


# --- The pages --------------------------------------------------------------------------------------


def test_the_dashboard_is_staff_only_and_linked_first_on_the_admin_index(client, staff_client):
    url = reverse("admin:dashboard")
    assert url == "/admin/dashboard/"
    anonymous = client.__class__().get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    index = staff_client.get(reverse("admin:index")).content.decode()
    assert index.index(f'href="{url}"') < index.index("Authentication and Authorization")


def test_the_dashboard_renders_in_a_fixed_number_of_queries(staff_client):
    sent_edition(3)
    staff_client.get(reverse("admin:dashboard"))
    with CaptureQueriesContext(connection) as few:
        assert staff_client.get(reverse("admin:dashboard")).status_code == 200
    for number in range(1, 6):
        sent_edition(4, day=TODAY - dt.timedelta(days=number))
    with CaptureQueriesContext(connection) as many:
        page = staff_client.get(reverse("admin:dashboard"))
    assert len(many.captured_queries) == len(few.captured_queries)
    html = page.content.decode()
    assert html.count('<svg class="chart ') == 4 and "Download as CSV" in html


def test_each_table_downloads_as_csv_and_a_title_is_no_formula(staff_client):
    _, rows = sent_edition(2)
    paper = PaperFactory(title='=HYPERLINK("http://evil.example")')
    Click.objects.create(delivery=rows[0], paper=paper, link="page")
    response = staff_client.get(reverse("admin:dashboard_csv", args=["top-clicks"]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table[0] == ["paper", "arXiv id", "clicks"]
    assert table[1][0].startswith("'=HYPERLINK") and table[1][2] == "1"
    for name in ("subscribers", "editions", "top-more", "ingest", "papers"):
        assert staff_client.get(reverse("admin:dashboard_csv", args=[name])).status_code == 200
    assert staff_client.get("/admin/dashboard/nothing.csv").status_code == 404


# --- The sample history ------------------------------------------------------------------------------


def test_the_sample_history_fills_the_dashboard_and_replaces_itself(settings):
    for number in range(6):
        DailyEntryFactory(day=timezone.localdate() - dt.timedelta(days=number))
    call_command("demo_history", days=20, readers=60, stdout=io.StringIO())
    first = (Subscriber.objects.count(), Edition.objects.count(), Delivery.objects.count(), Click.objects.count())
    assert first[0] == 60 and first[1] == 20 and first[2] > 0 and first[3] > 0
    assert not Subscriber.objects.exclude(email__endswith="@" + DOMAIN).exists()
    call_command("demo_history", days=20, readers=60, stdout=io.StringIO())
    again = (Subscriber.objects.count(), Edition.objects.count(), Delivery.objects.count(), Click.objects.count())
    assert again == first  # the same seeded history, not a second one beside it
    rows = dashboard.edition_rows()
    assert len(rows) == 20 and sum(row.sent for row in rows) > 0

    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="does not run in production"):
        call_command("demo_history", days=5)


def test_the_dashboard_on_sqlite_with_a_sample_history(tmp_path):
    """The embedded default (``make demo HISTORY=30`` then ``make run``): migrations, the history and
    every query of the page on SQLite."""
    from tests.conftest import clean_env, run_python

    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", DJANGO_SETTINGS_MODULE="config.settings")
    code = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("ingest", source="hf", file="papers/samples/hf_daily_papers_sample.json", verbosity=0)
from papers.models import DailyEntry
DailyEntry.objects.update(status="approved")
call_command("demo_history", days=30, readers=100)
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.create_superuser("e", "e@example.org", "pw"))
page = client.get("/admin/dashboard/")
print(page.status_code, page.content.count(b'<svg class="chart '))
print(client.get("/admin/dashboard/editions.csv").content.decode().splitlines()[1].split(",")[0])
"""
    result = run_python(code, env, timeout=120)
    assert result.returncode == 0, result.stderr
    status, first_edition = result.stdout.strip().splitlines()[-2:]
    assert status == "200 4"
    assert first_edition.startswith("Daily digest ")


def test_clicks_are_listed_in_admin_with_reader_paper_and_edition(staff_client):
    _, rows = sent_edition(1)
    paper = PaperFactory(title="A clicked paper")
    Click.objects.create(delivery=rows[0], paper=paper, link="pdf")
    page = staff_client.get(reverse("admin:newsletter_click_changelist")).content.decode()
    assert rows[0].subscriber.email in page and "A clicked paper" in page and "Daily digest" in page
    assert staff_client.get(reverse("admin:newsletter_click_add")).status_code == 403
