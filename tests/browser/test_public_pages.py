"""Every public page in headless Chromium through ``check_layout``: at 390 and 1280 px, light and
dark, nothing wider than the screen, text readable, and no serious or critical axe-core violation.
Screenshots land in test-output/browser/page-*.png. The week page, a day sorted by trending, the
feedback, picks, confirmed and preferences pages are in test_period_pages.py and
test_steering_pages.py; the admin is not public."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core import signing
from django.urls import reverse

from newsletter import services
from subscribers.models import Subscriber
from subscribers.tokens import CONFIRM_MAX_AGE, Purpose, make_token
from tests.conftest import check_layout
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DAY = dt.date(2026, 8, 19)  # a Wednesday
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis"
CARD_TEXT = [".paper h3 a", ".paper .meta", ".paper .summary", ".paper .keywords li"]


def papers_of_the_day() -> list:
    rich = PaperFactory(
        arxiv_id="2608.12345",
        title=f"Agents that read {LONG_WORD} papers: a benchmark",
        abstract="A long abstract. " * 40,
        ai_summary="A benchmark of 1,200 tasks shows that coding agents still fail on half of them.",
        ai_keywords=["coding agents", "benchmark", "software engineering", "LLM", "evaluation", "extra"],
        organization="Hugging Face",
        submitter="akhaliq",
        github_url="https://github.com/example/agents",
        github_stars=1234,
        comments=3,
        author_names=["Hendrik Kraß", "Anders Søgaard", "Jörg Hoffmann", "Alán Aspuru-Guzik"],
    )
    plain = PaperFactory(abstract="We study things. They are interesting. " * 12)
    DailyEntryFactory(day=DAY, paper=rich, upvotes=120)
    DailyEntryFactory(day=DAY, paper=plain, upvotes=40)
    DailyEntryFactory(day=DAY - dt.timedelta(days=1), upvotes=5)  # a day before, to link back to
    return [rich, plain]


def old_token(subscriber: Subscriber, purpose: Purpose, monkeypatch) -> str:
    """A token signed longer ago than a confirmation link lives."""
    with monkeypatch.context() as patch:
        then = time.time() - CONFIRM_MAX_AGE.total_seconds() - 3600
        patch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(int(then)))
        return make_token(subscriber, purpose)


@pytest.fixture
def page(site_page):
    return site_page


def test_home_day_month_and_paper_pages(page):
    rich, _ = papers_of_the_day()
    page.goto("/")
    assert page.locator("article.paper").count() == 2
    check_layout(page, "page-home", ["h1", *CARD_TEXT, ".signup label", ".signup .help"], visible=("#id_email",))

    page.goto(reverse("day_listing", args=[DAY]))
    check_layout(page, "page-day", ["h1", ".day-nav a", *CARD_TEXT])

    page.goto(reverse("month_listing", kwargs={"year": "2026", "month": "08"}))
    assert page.locator("article.paper").count() == 3
    check_layout(page, "page-month", ["h1", ".day-nav h2", *CARD_TEXT])

    page.goto(rich.get_absolute_url())
    check_layout(page, "page-paper", ["h1", ".paper-detail .meta", ".abstract", ".links a"])


def test_archive_pages(page):
    papers_of_the_day()
    edition = services.edition_publish(kind="daily", day=DAY)
    page.goto(reverse("newsletter:archive"))
    check_layout(page, "page-archive", ["h1", ".editions a", ".help"])
    page.goto(reverse("newsletter:archive_edition", args=[edition.pk]))
    check_layout(page, "page-archive-edition", ["h1"])


def test_signing_up_and_its_pages(page, settings):
    page.goto(reverse("subscribers:subscribe"))
    check_layout(page, "page-subscribe", ["h1", "label", ".help"], visible=("#id_email",))
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_selector(".form-error")
    check_layout(page, "page-subscribe-error", ["h1", ".form-error"])

    page.get_by_label("Email").fill("new.reader@example.org")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_selector("h1:text('Check your inbox')")
    check_layout(page, "page-check-inbox", ["h1", "p", ".help a"])

    reader = Subscriber.objects.get(email="new.reader@example.org")
    page.goto(reverse("subscribers:confirm", args=[make_token(reader, Purpose.CONFIRM)]))
    check_layout(page, "page-confirm", ["h1", "p"])

    settings.SIGNUP_RATE_PER_EMAIL = "1/h"
    for _ in range(2):
        page.goto(reverse("subscribers:subscribe"))
        page.get_by_label("Email").fill("eager.reader@example.org")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("Too many")
    check_layout(page, "page-rate-limited", ["h1", "p"])


def test_link_pages_unsubscribe_and_404(page, monkeypatch):
    reader = SubscriberFactory(status="pending")
    page.goto(reverse("subscribers:confirm", args=[old_token(reader, Purpose.CONFIRM, monkeypatch)]))
    assert page.locator("h1").inner_text() == "This confirmation link has expired"
    check_layout(page, "page-link-expired", ["h1", "p"], visible=("button",))

    page.goto(reverse("subscribers:confirm", args=["not-a-token"]))
    check_layout(page, "page-link-invalid", ["h1", "p"])

    reader = SubscriberFactory()
    page.goto(reverse("subscribers:unsubscribe", args=[make_token(reader, Purpose.UNSUBSCRIBE)]))
    check_layout(page, "page-unsubscribe", ["h1", "p"], visible=("button",))
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    reader.refresh_from_db()
    assert reader.status == "unsubscribed"
    check_layout(page, "page-unsubscribed", ["h1", "p"])

    page.goto(reverse("subscribers:preferences", args=[make_token(reader, Purpose.PREFERENCES)]))
    check_layout(page, "page-preferences", ["h1", "label"])

    response = page.goto("/no/such/page/")
    assert response is not None and response.status == 404
    check_layout(page, "page-404", ["h1"])
