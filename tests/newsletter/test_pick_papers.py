"""Cold start, "pick papers you like": the page lists the last days' best papers, one click records
a "more like this" vote (or takes it back), and a reader with no interests who picks three papers
gets a first digest built around them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from newsletter import planning, services
from newsletter.models import Delivery, Feedback
from newsletter.ranking import score_papers
from newsletter.steering import PICK_LIMIT
from subscribers.tokens import Purpose, make_token, read_token
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 6, 10)


def picks_url(reader) -> str:
    return reverse("newsletter:pick_papers", args=[make_token(reader, Purpose.PREFERENCES)])


def pick_url(reader, paper) -> str:
    return reverse("newsletter:pick_paper", args=[make_token(reader, Purpose.PREFERENCES), paper.pk])


def listed_ids(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li id="paper-(\d+)"', page)]


def liked(reader) -> set[int]:
    return set(Feedback.objects.filter(subscriber=reader, vote=Feedback.Vote.MORE).values_list("paper_id", flat=True))


def test_the_page_lists_the_last_three_listed_days_best_papers_each_once(client):
    old = DailyEntryFactory(day=DAY - dt.timedelta(days=3), upvotes=500).paper
    hidden = DailyEntryFactory(day=DAY, upvotes=400, status="hidden").paper
    incomplete = DailyEntryFactory(day=DAY, upvotes=300, paper__arxiv_id=None).paper
    twice = PaperFactory(title="On two days")
    DailyEntryFactory(day=DAY - dt.timedelta(days=2), paper=twice, upvotes=40)
    DailyEntryFactory(day=DAY, paper=twice, upvotes=90)
    others = [DailyEntryFactory(day=DAY - dt.timedelta(days=n % 3), upvotes=n).paper for n in range(1, 40)]

    page = client.get(picks_url(SubscriberFactory()))
    assert page.status_code == 200
    shown = listed_ids(page.text)
    assert shown[0] == twice.pk and shown.count(twice.pk) == 1, "by its best day's upvotes, once"
    assert len(shown) == PICK_LIMIT
    assert shown[1:] == [paper.pk for paper in reversed(others)][: PICK_LIMIT - 1], "most upvoted first"
    assert not {old.pk, hidden.pk, incomplete.pk} & set(shown), "older than three days, hidden or incomplete"
    assert "None picked yet." in page.text


def test_one_click_picks_a_paper_and_undo_takes_it_back(client):
    reader = SubscriberFactory(interests="")
    papers = [DailyEntryFactory(day=DAY, upvotes=10 + n).paper for n in range(4)]

    token = make_token(reader, Purpose.PREFERENCES)
    response = client.post(reverse("newsletter:pick_paper", args=[token, papers[0].pk]), {"action": "pick"})
    assert response.status_code == 302
    assert response["Location"] == reverse("newsletter:pick_papers", args=[token]) + f"#paper-{papers[0].pk}"
    assert liked(reader) == {papers[0].pk}
    client.post(pick_url(reader, papers[1]), {"action": "pick"})
    client.post(pick_url(reader, papers[1]), {"action": "pick"})  # a double click is one pick
    assert Feedback.objects.filter(subscriber=reader).count() == 2

    page = client.get(picks_url(reader)).text
    assert "<strong>2 picked</strong>: your next digest will be built around them." in page
    assert page.count("✓ Picked") == 2 and page.count(">I like this</button>") == 2
    assert f"Picked “{papers[1].title}”." in page

    client.post(pick_url(reader, papers[0]), {"action": "unpick"})
    assert liked(reader) == {papers[1].pk}
    page = client.get(picks_url(reader)).text
    assert "<strong>1 picked</strong>: your next digest will be built around it." in page
    assert f"Unpicked “{papers[0].title}”." in page


def test_a_pick_overrides_less_like_this_and_undo_keeps_a_less_vote(client):
    reader = SubscriberFactory()
    disliked, picked = (DailyEntryFactory(day=DAY).paper for _ in range(2))
    Feedback.objects.create(subscriber=reader, paper=disliked, vote=Feedback.Vote.LESS)
    client.post(pick_url(reader, picked), {"action": "unpick"})  # nothing to take back: nothing happens
    client.post(pick_url(reader, disliked), {"action": "unpick"})
    assert Feedback.objects.get(subscriber=reader, paper=disliked).vote == Feedback.Vote.LESS
    client.post(pick_url(reader, disliked), {"action": "pick"})
    assert liked(reader) == {disliked.pk}


def test_unknown_unlisted_and_forged(client):
    reader = SubscriberFactory()
    listed = DailyEntryFactory(day=DAY).paper
    hidden = DailyEntryFactory(day=DAY, status="hidden").paper
    assert (
        client.post(
            reverse("newsletter:pick_paper", args=[make_token(reader, Purpose.PREFERENCES), 999_999])
        ).status_code
        == 404
    )
    assert client.post(pick_url(reader, hidden), {"action": "pick"}).status_code == 404
    for token in ("forged", make_token(reader, Purpose.UNSUBSCRIBE), make_token(reader, Purpose.FEEDBACK)):
        assert client.get(reverse("newsletter:pick_papers", args=[token])).status_code == 400
        assert client.post(reverse("newsletter:pick_paper", args=[token, listed.pk])).status_code == 400
    assert client.get(pick_url(reader, listed)).status_code == 405, "a pick is a POST"
    assert not Feedback.objects.exists()


def test_a_pick_needs_the_csrf_token():
    reader = SubscriberFactory()
    paper = DailyEntryFactory(day=DAY).paper
    assert Client(enforce_csrf_checks=True).post(pick_url(reader, paper), {"action": "pick"}).status_code == 403
    assert not Feedback.objects.exists()


def test_hostile_titles_are_escaped(client):
    reader = SubscriberFactory()
    paper = DailyEntryFactory(day=DAY, paper__title="<script>alert(1)</script>").paper
    client.post(pick_url(reader, paper), {"action": "pick"})
    page = client.get(picks_url(reader)).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_no_papers_yet_says_so(client):
    page = client.get(picks_url(SubscriberFactory())).text
    assert "There are no papers to pick from yet" in page


def test_the_confirmed_page_and_the_preference_center_lead_here(client):
    reader = SubscriberFactory(status="pending")
    confirmed = client.post(reverse("subscribers:confirm", args=[make_token(reader, Purpose.CONFIRM)])).text
    preferences = client.get(reverse("subscribers:preferences", args=[make_token(reader, Purpose.PREFERENCES)])).text
    for page in (confirmed, preferences):
        (token,) = re.findall(r'href="/picks/([^/"]+)/">Pick papers you like</a>', page)
        assert read_token(token, Purpose.PREFERENCES) == reader


# --- The point of it: a personalized first digest -------------------------------------------------

PROTEIN = [
    ("Protein structure prediction from single sequences", "Protein folding and structure prediction."),
    ("Protein language models for folding", "Predicting protein structure with sequence embeddings."),
    ("Designing binders with protein folding models", "Protein design and structure prediction."),
]
POPULAR = [
    ("Scaling laws for chatbots", "Chat assistants and their benchmarks.", 300),
    ("Video generation at scale", "Diffusion video models for long clips.", 250),
    ("Agents that browse the web", "Web agents complete shopping tasks.", 200),
    ("Speech recognition for meetings", "Automatic speech recognition in noisy rooms.", 150),
]


def test_an_empty_interest_reader_who_picks_three_papers_gets_a_first_digest_built_around_them(client):
    # The last days: the protein papers were not the most popular ones.
    earlier = DAY - dt.timedelta(days=1)
    for title, abstract, upvotes in POPULAR:
        DailyEntryFactory(day=earlier, paper__title=f"Yesterday: {title}", paper__abstract=abstract, upvotes=upvotes)
    picks = [DailyEntryFactory(day=earlier, paper__title=t, paper__abstract=a, upvotes=20).paper for t, a in PROTEIN]
    confirmed = timezone.now() - dt.timedelta(days=1)
    picker, newcomer = (SubscriberFactory(interests="", papers_per_digest=3, confirmed_at=confirmed) for _ in range(2))
    for paper in picks:
        assert client.post(pick_url(picker, paper), {"action": "pick"}).status_code == 302

    # Today's edition: popular papers on other subjects, two less popular ones about proteins.
    popular = [DailyEntryFactory(day=DAY, paper__title=t, paper__abstract=a, upvotes=u).paper for t, a, u in POPULAR]
    similar = [
        DailyEntryFactory(day=DAY, paper__title=title, paper__abstract=abstract, upvotes=upvotes).paper
        for title, abstract, upvotes in [
            ("Fast protein structure prediction", "Protein folding without alignments.", 12),
            ("Protein folding dynamics", "Folding pathways and structure of proteins.", 8),
        ]
    ]
    edition = services.edition_publish(kind="daily", day=DAY)

    # The planner's own path, as the tick runs it.
    ranked = score_papers(
        planning.paper_infos(edition), planning.reader_infos([picker.pk, newcomer.pk]), weights=planning.weights()
    )
    assert ranked[picker.pk][:2] == [similar[0].pk, similar[1].pk], "led by papers like the picks"
    assert ranked[newcomer.pk] == [paper.pk for paper in popular[:3]], "no picks: the most popular papers"

    assert planning.plan_deliveries(edition, [(picker.pk, DAY), (newcomer.pk, DAY)]) == 2
    digests = dict(Delivery.objects.filter(edition=edition).values_list("subscriber_id", "paper_ids"))
    assert digests == {picker.pk: ranked[picker.pk], newcomer.pk: ranked[newcomer.pk]}


def test_papers_the_reader_muted_are_not_offered(client):
    """The ranking would never send them; the page does not offer them either (same rule: all the
    phrase's words in order, as stems)."""
    agents = DailyEntryFactory(day=DAY, upvotes=90, paper__title="Verifier-guided web agents for long tasks").paper
    protein = DailyEntryFactory(day=DAY, upvotes=10, paper__title="Protein folding at scale").paper
    reader = SubscriberFactory(muted_topics=["web agent"])
    shown = listed_ids(client.get(picks_url(reader)).text)
    assert protein.pk in shown and agents.pk not in shown
    assert agents.pk in listed_ids(client.get(picks_url(SubscriberFactory())).text)
