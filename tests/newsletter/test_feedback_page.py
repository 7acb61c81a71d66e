"""The "more / less like this" page: GET asks, POST records and says what changes, Undo restores
what was there before, "less" offers to mute the paper's topics, and a link leads back to the digest."""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from newsletter import services
from newsletter.links import view_token
from newsletter.models import Delivery, Feedback
from subscribers.tokens import Purpose, make_token
from tests.factories import DailyEntryFactory, DeliveryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 6, 1)
UNKNOWN = SimpleNamespace(pk=999_999)  # no such paper


@pytest.fixture(autouse=True)
def steady_tokens(monkeypatch):
    """Tokens carry the second they were signed: one the page signs and one the test signs to compare
    must not straddle a second (the tests compare whole addresses)."""
    now = signing.b62_encode(int(time.time()))
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: now)


@pytest.fixture
def reader():
    return SubscriberFactory(interests="", muted_topics=[])


@pytest.fixture
def paper():
    return PaperFactory(
        title="Coding agents resolve terminal tasks",
        abstract="Terminal agents run commands.",
        ai_keywords=["large language models", "coding agents", "terminal tasks", "pass@1"],
    )


def vote_url(reader, paper, vote: str) -> str:
    return reverse("newsletter:feedback", args=[make_token(reader, Purpose.FEEDBACK), paper.pk, vote])


def action_url(name: str, reader, paper) -> str:
    return reverse(f"newsletter:{name}", args=[make_token(reader, Purpose.FEEDBACK), paper.pk])


def votes(reader) -> dict[int, int]:
    return dict(Feedback.objects.filter(subscriber=reader).values_list("paper_id", "vote"))


def test_get_only_asks(client, reader, paper):
    for vote in ("more", "less"):
        page = client.get(vote_url(reader, paper, vote))
        assert page.status_code == 200
        assert "Coding agents resolve terminal tasks" in page.text
        assert "Undo" not in page.text and "Mute" not in page.text
    assert votes(reader) == {}, "opening the links (a mail scanner) records nothing"


def test_a_vote_says_what_changes_and_undo_deletes_the_row_it_created(client, reader, paper):
    done = client.post(vote_url(reader, paper, "more"))
    assert done.status_code == 200
    assert "Your next digest will have more papers like “Coding agents resolve terminal tasks”." in done.text
    assert 'name="restore" value="none"' in done.text
    assert "Mute" not in done.text, "muting is offered after “less”, not after “more”"
    assert votes(reader) == {paper.pk: 1}

    undone = client.post(action_url("feedback_undo", reader, paper), {"restore": "none"})
    assert undone.status_code == 200 and "Undone" in undone.text
    assert "withdrawn" in undone.text
    assert votes(reader) == {}


def test_undo_restores_the_earlier_vote(client, reader, paper):
    Feedback.objects.create(subscriber=reader, paper=paper, vote=Feedback.Vote.MORE)
    done = client.post(vote_url(reader, paper, "less"))
    assert "Your next digest will have fewer papers like “Coding agents resolve terminal tasks”" in done.text
    assert votes(reader) == {paper.pk: -1}
    assert 'name="restore" value="more"' in done.text

    undone = client.post(action_url("feedback_undo", reader, paper), {"restore": "more"})
    assert "Back to “more like this”" in undone.text
    assert votes(reader) == {paper.pk: 1}


def test_a_broken_undo_changes_nothing(client, reader, paper):
    Feedback.objects.create(subscriber=reader, paper=paper, vote=Feedback.Vote.LESS)
    broken = client.post(action_url("feedback_undo", reader, paper), {"restore": "maybe"})
    assert broken.status_code == 400 and "Nothing changed" in broken.text
    assert votes(reader) == {paper.pk: -1}
    assert client.get(action_url("feedback_undo", reader, paper)).status_code == 302, "a GET only leads back"
    assert votes(reader) == {paper.pk: -1}


def test_less_offers_to_mute_the_papers_topics_and_one_click_mutes_with_an_undo(client, reader, paper):
    done = client.post(vote_url(reader, paper, "less"))
    assert "Not interested in the topic at all?" in done.text
    assert "Mute “coding agents”?" in done.text and "Mute “terminal tasks”?" in done.text
    assert "large language models" not in done.text

    muted = client.post(action_url("feedback_mute", reader, paper), {"topic": "coding agents"})
    assert muted.status_code == 200
    assert "Muted “coding agents”" in muted.text
    assert "Papers that mention “coding agents” will not appear in your digests." in muted.text
    assert "Mute “terminal tasks”?" in muted.text and "Mute “coding agents”?" not in muted.text
    assert "“coding agents” is muted" not in muted.text, "the phrase just muted has its Undo above"
    reader.refresh_from_db()
    assert reader.muted_topics == ["coding agents"]
    other = client.post(action_url("feedback_mute", reader, paper), {"topic": "terminal tasks"})
    assert "“coding agents” is muted" in other.text, "one muted before: shown as muted, with Unmute"

    again = client.post(action_url("feedback_mute", reader, paper), {"topic": "Coding Agents"})
    assert again.status_code == 200
    reader.refresh_from_db()
    assert reader.muted_topics == ["coding agents", "terminal tasks"], "muting twice keeps one"

    unmuted = client.post(action_url("feedback_unmute", reader, paper), {"topic": "coding agents"})
    assert "“coding agents” is no longer muted" in unmuted.text
    assert "Mute “coding agents”?" in unmuted.text
    reader.refresh_from_db()
    assert reader.muted_topics == ["terminal tasks"]


def test_keywords_an_editor_mistyped_do_not_break_the_page(client, reader):
    paper = PaperFactory(title="Agents that browse", ai_keywords=[3, None, {"a": 1}, "web agents"])
    assert "Mute “web agents”?" in client.post(vote_url(reader, paper, "less")).text
    paper.ai_keywords = {"not": "a list"}
    paper.save()
    assert "Mute “agents”?" in client.post(vote_url(reader, paper, "less")).text


def test_a_mute_that_cannot_be_done_says_why(client, paper):
    full = SubscriberFactory(muted_topics=[f"topic {n}" for n in range(20)])
    refused = client.post(action_url("feedback_mute", full, paper), {"topic": "coding agents"})
    assert refused.status_code == 400
    assert "You already mute 20 topics" in refused.text
    empty = client.post(action_url("feedback_mute", full, paper), {"topic": "  "})
    assert empty.status_code == 400
    full.refresh_from_db()
    assert len(full.muted_topics) == 20


def test_hostile_titles_and_topics_are_escaped(client, reader):
    hostile = PaperFactory(
        title="<script>alert(1)</script> agents", ai_keywords=["<img src=x onerror=alert(1)> agents"]
    )
    page = client.post(vote_url(reader, hostile, "less")).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; agents" in page
    muted = client.post(action_url("feedback_mute", reader, hostile), {"topic": '"><b>bold</b> agents'}).text
    assert "<b>bold</b>" not in muted and "&lt;b&gt;bold&lt;/b&gt; agents" in muted
    reader.refresh_from_db()
    assert reader.muted_topics == ['"><b>bold</b> agents'], "stored as typed; escaped where shown"


def test_forged_tokens_and_unknown_papers(client, reader, paper):
    forged = reverse("newsletter:feedback", args=[make_token(reader, Purpose.UNSUBSCRIBE), paper.pk, "less"])
    assert client.post(forged).status_code == 400
    for name in ("feedback_undo", "feedback_mute", "feedback_unmute"):
        url = reverse(f"newsletter:{name}", args=["not-a-token", paper.pk])
        assert client.post(url, {"topic": "agents", "restore": "none"}).status_code == 400
        assert client.post(action_url(name, reader, UNKNOWN), {"topic": "agents"}).status_code == 404
    assert client.post(vote_url(reader, UNKNOWN, "more")).status_code == 404
    reader.refresh_from_db()
    assert votes(reader) == {} and reader.muted_topics == []


def test_an_erased_readers_links_are_dead(client, reader, paper):
    url = vote_url(reader, paper, "less")
    reader.link_key = "rotated"
    reader.save()
    assert client.post(url).status_code == 400
    assert votes(reader) == {}


def test_every_post_needs_the_csrf_token(reader, paper):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(vote_url(reader, paper, "less")).status_code == 403
    assert strict.post(action_url("feedback_mute", reader, paper), {"topic": "agents"}).status_code == 403
    reader.refresh_from_db()
    assert votes(reader) == {} and reader.muted_topics == []


# --- The way back to the digest -------------------------------------------------------------------


def back_link(page: str) -> str:
    start = page.index('<p class="way-back"><a href="') + len('<p class="way-back"><a href="')
    return page[start : page.index('"', start)]


def test_the_way_back_is_the_web_view_of_the_digest_that_carried_the_paper(client, reader, paper):
    other = PaperFactory()
    carried = DeliveryFactory(subscriber=reader, status=Delivery.Status.SENT, paper_ids=[paper.pk, other.pk])
    later = DeliveryFactory(
        subscriber=reader,
        status=Delivery.Status.SENT,
        paper_ids=[other.pk],
        edition__period_start=dt.date(2026, 1, 7),
        local_date=dt.date(2026, 1, 7),
    )
    page = client.post(vote_url(reader, paper, "more")).text
    assert back_link(page) == reverse("newsletter:view_digest", args=[view_token(carried.pk, reader.link_key)])
    assert "← Back to your digest" in page
    assert client.get(back_link(page)).status_code == 200, "the link opens the digest"

    page = client.post(vote_url(reader, PaperFactory(), "more")).text
    assert back_link(page) == reverse("newsletter:view_digest", args=[view_token(later.pk, reader.link_key)]), (
        "a paper no digest carried: the latest digest"
    )


def test_without_a_sent_digest_the_way_back_is_the_editions_archive_page(client, reader, paper):
    DeliveryFactory(subscriber=reader, status=Delivery.Status.PENDING, paper_ids=[paper.pk])
    DailyEntryFactory(day=DAY, paper=paper)
    edition = services.edition_publish(kind="daily", day=DAY)
    page = client.post(vote_url(reader, paper, "more")).text
    assert back_link(page) == reverse("newsletter:archive_edition", args=[edition.pk])
    assert "← Back to the digest" in page

    page = client.post(vote_url(reader, PaperFactory(), "more")).text
    assert back_link(page) == reverse("newsletter:archive") and "← All digests" in page


def test_the_same_vote_twice_then_undo_leaves_no_vote(client, reader, paper):
    """Pressing "less like this" again (a second visit) and then Undo takes the vote back; it
    must never restore the vote it undoes."""
    client.post(vote_url(reader, paper, "less"))
    again = client.post(vote_url(reader, paper, "less"))
    assert 'name="restore" value="none"' in again.text
    client.post(action_url("feedback_undo", reader, paper), {"restore": "none"})
    assert votes(reader) == {}


def test_opening_an_undo_or_mute_address_again_leads_to_the_vote_page(client, reader, paper):
    client.post(vote_url(reader, paper, "more"))
    for name in ("feedback_undo", "feedback_mute", "feedback_unmute"):
        answer = client.get(action_url(name, reader, paper))
        assert (answer.status_code, answer["Location"]) == (302, vote_url(reader, paper, "more")), name
    assert votes(reader) == {paper.pk: Feedback.Vote.MORE}, "a GET changes nothing"


def test_the_pages_after_a_vote_and_a_mute_link_to_the_preferences(client, reader, paper):
    preferences = reverse("subscribers:preferences", args=[make_token(reader, Purpose.PREFERENCES)])
    assert f'href="{preferences}"' in client.post(vote_url(reader, paper, "less")).text
    muted = client.post(action_url("feedback_mute", reader, paper), {"topic": "coding agents"})
    assert f'href="{preferences}"' in muted.text
