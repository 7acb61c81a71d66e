"""An edition's numbers at the top of its admin page, counted in the database from rows made here,
and the link to the editor's dashboard."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from newsletter.admin.editions import edition_numbers
from newsletter.models import Click, Delivery, Edition, Feedback
from tests.factories import DeliveryFactory, EditionFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
Status = Delivery.Status


@pytest.fixture
def edition() -> Edition:
    """Sent 5 (3 opened; 2 clicked, one of them on two papers), failed 2, unknown 1, skipped 1,
    pending 2, sending 1; votes 3 more and 1 less; an other edition's rows that must not count."""
    edition = EditionFactory.create(status=Edition.Status.SENDING)
    papers = PaperFactory.create_batch(2)
    now = timezone.now()
    sent = DeliveryFactory.create_batch(5, edition=edition, status=Status.SENT, sent_at=now)
    for delivery in sent[:3]:
        Delivery.objects.filter(pk=delivery.pk).update(opened_at=now)
    Click.objects.create(delivery=sent[0], paper=papers[0], link=Click.Link.PAGE)
    Click.objects.create(delivery=sent[0], paper=papers[1], link=Click.Link.PDF)
    Click.objects.create(delivery=sent[4], paper=papers[0], link=Click.Link.ARXIV)
    for status, count in [(Status.FAILED, 2), (Status.UNKNOWN, 1), (Status.SKIPPED, 1), (Status.PENDING, 2)]:
        DeliveryFactory.create_batch(count, edition=edition, status=status)
    DeliveryFactory.create(edition=edition, status=Status.SENDING)
    for vote in [1, 1, 1, -1]:
        Feedback.objects.create(subscriber=SubscriberFactory.create(), paper=papers[0], vote=vote, edition=edition)

    other = EditionFactory.create(period_start=edition.period_start.replace(day=1), status=Edition.Status.SENT)
    elsewhere = DeliveryFactory.create(edition=other, status=Status.SENT, opened_at=now)
    Click.objects.create(delivery=elsewhere, paper=papers[0], link=Click.Link.PAGE)
    Feedback.objects.create(subscriber=SubscriberFactory.create(), paper=papers[1], vote=-1, edition=other)
    Feedback.objects.create(subscriber=SubscriberFactory.create(), paper=papers[1], vote=1)  # no edition recorded
    return edition


def test_the_numbers_are_counted_in_two_queries(edition, django_assert_num_queries):
    with django_assert_num_queries(2):
        numbers = edition_numbers(edition)
    assert (numbers.sent, numbers.failed, numbers.unknown, numbers.skipped, numbers.pending) == (5, 2, 1, 1, 3)
    assert (numbers.opened, numbers.clicked, numbers.clicks) == (3, 2, 3)
    assert (numbers.click_rate, numbers.open_rate) == ("40.0%", "60.0%")
    assert (numbers.more, numbers.less) == (3, 1)


def test_an_edition_with_nothing_sent_has_no_rates():
    numbers = edition_numbers(EditionFactory.create())
    assert (numbers.sent, numbers.clicked, numbers.click_rate, numbers.open_rate) == (0, 0, "—", "—")


def test_the_edition_page_shows_its_numbers_near_the_top(admin_client, edition):
    page = BeautifulSoup(
        admin_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).text, "html.parser"
    )
    table = page.select_one("#edition-numbers table")
    assert table is not None
    rows = {row.th.get_text(strip=True): row.td.get_text(" ", strip=True) for row in table.select("tr")}
    assert rows == {
        "Sent": "5",
        "Failed": "2",
        "Unknown": "1",
        "Skipped (nothing matched)": "1",
        "Pending": "3",
        "Opened": "3 60.0%",
        "Clicked": "2 40.0%",
        "Papers clicked": "3",
        "“More like this”": "3",
        "“Less like this”": "1",
    }
    numbers, tools = page.select_one("#edition-numbers"), page.select_one("#edition-tools")
    assert numbers.find_next(id="edition-tools") is tools, "the numbers come before the editor's tools"
    link = page.select_one("#edition-numbers a")
    assert link is not None and (link.text, link["href"]) == ("Dashboard", "/admin/dashboard/")
