"""A paper hidden or deleted after its edition was published (issue 11, point 5): it is left out
of every digest not yet handed to the provider, nobody's row fails for it, the web view and the
archive still answer, and the edition's admin page says what happened. Sent through a real SMTP
server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.urls import reverse

from newsletter import rendering, sending
from newsletter.links import view_token
from newsletter.models import Delivery
from papers.models import DailyEntry, Paper

pytestmark = [pytest.mark.usefixtures("digest_settings"), pytest.mark.django_db]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


@pytest.fixture
def inbox(smtp_server, use_smtp):
    server = smtp_server()
    use_smtp(server.port)
    return server


def test_a_paper_hidden_mid_edition_is_left_out_of_the_digests_still_to_go(inbox, planned_edition, statuses):
    edition, rows = planned_edition(6)
    withdrawn = Paper.objects.get(pk=edition.paper_ids[1])

    first = sending.send_chunk([row.pk for row in rows[:3]])  # 07:55: the first readers get it
    DailyEntry.objects.filter(paper=withdrawn).update(status=DailyEntry.Status.HIDDEN)
    rest = sending.send_chunk([row.pk for row in rows[3:]])  # 08:06: the rest do not

    assert (first.sent, rest.sent, first.failed + rest.failed) == (3, 3, 0)
    assert set(statuses(rows).values()) == {"sent"}
    assert inbox.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows})
    for row in rows:
        (message,) = inbox.messages_to(row.subscriber.email)
        carried = withdrawn.title in text_of(message)
        assert carried == (row in rows[:3]), row.subscriber.email
        assert (withdrawn.title in html_of(message)) == carried
        others = [Paper.objects.get(pk=pk).title for pk in row.paper_ids if pk != withdrawn.pk]
        assert others and all(title in text_of(message) for title in others), "the other papers are all there"


def test_a_paper_deleted_after_publishing_fails_nobody(inbox, planned_edition, statuses, client):
    edition, rows = planned_edition(4)
    deleted = Paper.objects.get(pk=edition.paper_ids[0])
    title = deleted.title
    deleted.delete()

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.failed) == (4, 0)
    assert set(statuses(rows).values()) == {"sent"}
    assert not any(title in text_of(message) for _, message in inbox.received)

    row = rows[0]
    response = client.get(f"/d/{view_token(row.pk, row.subscriber.link_key)}/")
    assert response.status_code == 200, "the web view of a digest with a deleted paper still answers"
    assert title not in response.content.decode()


def test_a_digest_whose_every_paper_was_withdrawn_is_skipped(inbox, planned_edition, statuses):
    edition, rows = planned_edition(2)
    only = edition.paper_ids[2]
    Delivery.objects.filter(pk=rows[0].pk).update(paper_ids=[only])  # this reader matched one paper
    DailyEntry.objects.filter(paper_id=only).update(status=DailyEntry.Status.HIDDEN)

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.skipped, outcome.failed) == (1, 1, 0)
    assert statuses(rows) == {rows[0].pk: "skipped", rows[1].pk: "sent"}
    assert Delivery.objects.get(pk=rows[0].pk).last_error == "every paper of this digest was withdrawn"
    assert inbox.messages_to(rows[0].subscriber.email) == []


def test_the_admin_and_the_archive_say_what_was_withdrawn(inbox, planned_edition, admin_client, client):
    edition, rows = planned_edition(3)
    hidden, deleted = (Paper.objects.get(pk=pk) for pk in edition.paper_ids[:2])
    sending.send_chunk([rows[0].pk])
    DailyEntry.objects.filter(paper=hidden).update(status=DailyEntry.Status.HIDDEN)
    deleted.delete()

    page = admin_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode()
    assert "Hidden after publishing: left out of every digest not yet handed to the provider (1 already sent" in page
    assert f"paper #{edition.paper_ids[1]}" in page
    assert "Deleted after publishing: left out of every digest not yet handed to the provider (1 already sent" in page

    archive = client.get(reverse("newsletter:archive_edition", args=[edition.pk])).content.decode()
    assert hidden.title not in archive
    assert Paper.objects.get(pk=edition.paper_ids[2]).title in archive


def test_a_paper_without_an_entry_in_the_period_is_not_withdrawn(planned_edition):
    """Only an editor's act withdraws a paper: one listed on another day (an edition put together by
    hand, a benchmark's) stays, hidden ones and deleted ones go."""
    edition, _ = planned_edition(1)
    stray, hidden, deleted = edition.paper_ids[:3]
    DailyEntry.objects.filter(paper_id=stray).update(day=edition.period_start - dt.timedelta(days=30))
    DailyEntry.objects.filter(paper_id=hidden).update(status=DailyEntry.Status.HIDDEN)
    Paper.objects.filter(pk=deleted).delete()

    assert rendering.withdrawn_papers(edition) == {hidden: "hidden", deleted: "deleted"}


def test_the_archive_lists_and_counts_only_papers_with_a_page_here(planned_edition, client):
    """A pasted paper without an arXiv id went out in the email (with an arXiv search link), but no
    public page lists it until an editor completes it: the archive's count and page agree on that."""
    edition, _ = planned_edition(2)
    pasted = Paper.objects.get(pk=edition.paper_ids[0])
    Paper.objects.filter(pk=pasted.pk).update(arxiv_id=None)
    shown = len(edition.paper_ids) - 1

    archive = client.get(reverse("newsletter:archive")).content.decode()
    assert f"({shown} paper{'s' if shown != 1 else ''})" in archive
    page = client.get(reverse("newsletter:archive_edition", args=[edition.pk])).content.decode()
    assert pasted.title not in page
    assert all(Paper.objects.get(pk=pk).title in page for pk in edition.paper_ids[1:])
