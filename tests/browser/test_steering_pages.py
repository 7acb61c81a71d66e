"""The reader-steering pages in headless Chromium: "less like this" with its mute buttons and undo,
"more like this" undone, the way back to the digest, and "pick papers you like" without JavaScript.
Each page at 390 px (a phone) and 1280 px, light and dark: nothing wider than the screen, text
readable. Screenshots land in test-output/browser/steer-*.png."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from newsletter import services
from newsletter.models import Delivery, Feedback
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token
from tests.conftest import ROOT, check_layout
from tests.factories import DailyEntryFactory, DeliveryFactory, PaperFactory, SubscriberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = ROOT / "test-output" / "browser"
DAY = dt.date(2026, 6, 10)
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis"


@pytest.fixture
def steering_page(browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[tuple[str, str]] = []
    page.on("console", lambda message: problems.append((page.url, message.text)) if message.type == "error" else None)
    yield page
    context.close()
    # Expected: a form with errors answers 400; the digest's web view (/d/...) is an email's HTML,
    # which names no icon, so Chromium asks for /favicon.ico.
    unexpected = [(url, text) for url, text in problems if "/d/" not in url and "status of 400" not in text]
    assert unexpected == []


def test_less_like_this_then_mute_with_undo_and_back_to_the_digest(steering_page, live_server):
    page = steering_page
    reader = SubscriberFactory(interests="")
    paper = PaperFactory(
        title=f"SWE-bench Science: Can Coding Agents Resolve Engineering Tasks in {LONG_WORD}?",
        abstract="Coding agents and scientific software.",
        ai_keywords=["SWE-bench Science", "scientific software engineering", "coding agents", "pass@1"],
    )
    DailyEntryFactory(day=DAY, paper=paper)
    edition = services.edition_publish(kind="daily", day=DAY)
    DeliveryFactory(edition=edition, subscriber=reader, status=Delivery.Status.SENT, paper_ids=[paper.pk])
    token = make_token(reader, Purpose.FEEDBACK)

    page.goto(live_server.url + reverse("newsletter:feedback", args=[token, paper.pk, "less"]))
    assert page.locator("h1").inner_text() == "Fewer papers like this?"
    check_layout(page, "steer-less-ask", ["h1", ".paper-title", ".help"])
    assert not Feedback.objects.exists(), "opening the page votes for nobody"

    page.get_by_role("button", name="Yes, less like this").click()
    page.wait_for_selector("h1:text('Thanks — noted')")
    assert page.locator(".outcome").inner_text().startswith("Your next digest will have fewer papers like “SWE-bench")
    assert page.locator(".mute-options button").all_inner_texts() == [
        "Mute “scientific software engineering”?",
        "Mute “coding agents”?",
    ]
    check_layout(page, "steer-less-voted", ["h1", ".outcome", ".mute-offer .help", ".way-back a"])
    assert Feedback.objects.get().vote == Feedback.Vote.LESS

    page.get_by_role("button", name="Mute “coding agents”?").click()
    page.wait_for_selector("h1:text('Muted “coding agents”')")
    reader.refresh_from_db()
    assert reader.muted_topics == ["coding agents"]
    assert page.locator(".mute-options button").all_inner_texts() == ["Mute “scientific software engineering”?"]
    check_layout(page, "steer-muted", ["h1", ".outcome", ".mute-options button"])

    page.locator("form", has=page.locator("input[name=topic][value='coding agents']")).first.get_by_role(
        "button", name="Undo"
    ).click()
    page.wait_for_selector("h1:text('“coding agents” is no longer muted')")
    reader.refresh_from_db()
    assert reader.muted_topics == []

    page.get_by_role("link", name="Back to your digest").click()
    page.wait_for_load_state()
    assert paper.title in page.content(), "the web view of the digest that carried the paper"


def test_more_like_this_undone(steering_page, live_server):
    page = steering_page
    reader = SubscriberFactory()
    paper = PaperFactory(title="Protein structure prediction from single sequences")
    page.goto(
        live_server.url + reverse("newsletter:feedback", args=[make_token(reader, Purpose.FEEDBACK), paper.pk, "more"])
    )
    page.get_by_role("button", name="Yes, more like this").click()
    page.wait_for_selector("text=Your next digest will have more papers like “Protein structure prediction")
    assert page.locator(".mute-offer").count() == 0
    check_layout(page, "steer-more-voted", ["h1", ".outcome", ".way-back a"])
    assert Feedback.objects.filter(subscriber=reader, paper=paper, vote=1).exists()

    page.get_by_role("button", name="Undo").click()
    page.wait_for_selector("h1:text('Undone')")
    assert "withdrawn" in page.locator(".outcome").inner_text()
    check_layout(page, "steer-more-undone", ["h1", ".outcome"])
    assert not Feedback.objects.exists()
    assert page.get_by_role("link", name="All digests").count() == 1, "no digest yet: the archive"


def test_pick_papers_without_javascript(browser, live_server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    titles = [
        f"{LONG_WORD} and other words: a paper with a long title, {n}" if n == 0 else f"Trending paper number {n}"
        for n in range(8)
    ]
    papers = [
        DailyEntryFactory(day=DAY - dt.timedelta(days=n % 3), paper__title=title, upvotes=100 - n).paper
        for n, title in enumerate(titles)
    ]
    reader: Subscriber = SubscriberFactory(interests="")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", java_script_enabled=False
    )
    page = context.new_page()
    try:
        page.goto(live_server.url + reverse("newsletter:pick_papers", args=[make_token(reader, Purpose.PREFERENCES)]))
        assert page.locator("h1").inner_text() == "Pick papers you like"
        assert page.locator(".pick-count").inner_text() == "None picked yet."
        check_layout(page, "steer-picks-empty", ["h1", ".pick-title a", ".pick .meta", ".pick-count"])

        for paper in papers[:3]:
            page.locator(f"#paper-{paper.pk}").get_by_role("button", name="I like this").click()
            page.wait_for_selector(f"#paper-{paper.pk} .picked-mark")
        assert page.locator(".pick-count").inner_text() == "3 picked: your next digest will be built around them."
        assert page.locator(".pick.picked").count() == 3
        check_layout(page, "steer-picks-three", ["h1", ".pick-count", ".pick.picked .picked-mark", ".messages li"])
        assert set(Feedback.objects.filter(subscriber=reader, vote=1).values_list("paper_id", flat=True)) == {
            paper.pk for paper in papers[:3]
        }

        page.locator(f"#paper-{papers[1].pk}").get_by_role("button", name="Undo").click()
        page.wait_for_selector(f"#paper-{papers[1].pk} button:text('I like this')")
        assert page.locator(".pick-count").inner_text() == "2 picked: your next digest will be built around them."
        assert Feedback.objects.filter(subscriber=reader).count() == 2

        page.get_by_role("link", name="Back to your preferences").click()
        page.wait_for_selector("h1:text('Your preferences')")
    finally:
        context.close()


def test_the_confirmed_page_leads_to_the_picks(steering_page, live_server):
    page = steering_page
    DailyEntryFactory(day=DAY, paper__title="A paper to pick")
    reader = SubscriberFactory(status="pending")
    page.goto(live_server.url + reverse("subscribers:confirm", args=[make_token(reader, Purpose.CONFIRM)]))
    page.get_by_role("button", name="Confirm my subscription").click()
    page.wait_for_selector("text=You're subscribed")
    check_layout(page, "steer-confirmed", ["h1", "h2", ".actions .button"])
    page.get_by_role("link", name="Pick papers you like").click()
    page.wait_for_selector("h1:text('Pick papers you like')")
    assert page.locator(".pick-title").inner_text() == "A paper to pick"


def test_muted_topics_in_the_preference_center(steering_page, live_server):
    page = steering_page
    reader = SubscriberFactory(muted_topics=["crypto"])
    page.goto(live_server.url + reverse("subscribers:preferences", args=[make_token(reader, Purpose.PREFERENCES)]))
    field = page.get_by_label("Never show me papers about")
    assert field.input_value() == "crypto"
    field.fill("LLM agents, x, " + "y" * 61)
    page.get_by_role("button", name="Save preferences").click()
    page.wait_for_selector("text=Please fix the fields marked below.")
    errors = page.locator(".field-muted_topics .form-error").all_inner_texts()
    assert errors == [
        "“x” is too short: a muted topic needs at least 2 characters.",
        f"“{'y' * 60}…” is too long: at most 60 characters per muted topic.",
    ]
    check_layout(
        page, "steer-preferences-muted-error", [".field-muted_topics label", ".field-muted_topics .form-error"]
    )
    reader.refresh_from_db()
    assert reader.muted_topics == ["crypto"]

    page.get_by_label("Never show me papers about").fill("LLM agents,  autonomous   driving, llm agents")
    page.get_by_role("button", name="Save preferences").click()
    page.wait_for_selector("text=Saved.")
    reader.refresh_from_db()
    assert reader.muted_topics == ["LLM agents", "autonomous driving"]
    assert page.get_by_label("Never show me papers about").input_value() == "LLM agents, autonomous driving"
