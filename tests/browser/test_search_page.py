"""The search page in headless Chromium, as a reader uses it: type words, press Enter, narrow by
dates, page through, and read a clear error; through ``check_layout`` (390 and 1280 px, light and
dark, axe-core) with screenshots in test-output/browser/page-search-*.png."""

from __future__ import annotations

import datetime as dt

import pytest

from papers.search import index_all
from tests.conftest import check_layout
from tests.factories import DailyEntryFactory, PaperFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DAY = dt.date(2026, 8, 19)
RESULT_TEXT = ["h1", ".paper h2 a", ".paper .meta", ".paper .summary", ".paper mark", ".help"]


@pytest.fixture
def page(site_page):
    return site_page


@pytest.fixture
def papers():
    for number in range(23):
        paper = PaperFactory(
            title=f"Sparse attention for long-context models, variant {number}",
            abstract="We make attention sparse. " + "Long contexts need memory; sparse attention saves it. " * 6,
            author_names=["Hendrik Kraß", "Anders Søgaard", "Jörg Hoffmann", "Alán Aspuru-Guzik"],
            thumbnail_url="" if number % 2 else "https://cdn-thumbnails.huggingface.co/x.png",
            upvotes=100 - number,
        )
        DailyEntryFactory(day=DAY - dt.timedelta(days=number), paper=paper)
    DailyEntryFactory(day=DAY, paper__title="Graph neural networks for molecules")
    index_all()


def test_a_reader_searches_narrows_by_date_and_pages_through(page, papers):
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    check_layout(page, "page-search-empty", ["h1", "label", ".help", "legend"], visible=("input[type=search]",))

    page.get_by_role("searchbox", name="Search papers").fill("sparse attention")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/?q=sparse+attention*")
    assert page.get_by_role("status").inner_text() == "23 papers match sparse attention · page 1 of 2"
    assert page.locator("article.paper").count() == 20
    assert page.locator(".paper h2 mark").first.inner_text().lower() == "sparse"
    check_layout(page, "page-search-results", RESULT_TEXT, visible=(".pager a[rel=next]",))

    page.locator(".pager a[rel=next]").click()
    assert page.locator("article.paper").count() == 3
    assert "page 2 of 2" in page.get_by_role("status").inner_text()

    page.get_by_label("From").fill((DAY - dt.timedelta(days=4)).isoformat())
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("status").inner_text() == "5 papers match sparse attention"
    assert page.get_by_role("searchbox", name="Search papers").input_value() == "sparse attention"


def test_an_inverted_date_range_and_no_match_read_clearly(page, papers):
    page.goto("/search/?q=sparse&since=2026-08-19&until=2026-08-01")
    error = page.locator("#until-errors")
    assert "must not be before its start" in error.inner_text()
    assert page.get_by_label("To").get_attribute("aria-describedby") == "until-errors"
    check_layout(page, "page-search-error", ["h1", ".form-error"])

    page.goto("/search/?q=xylophone")
    assert "No listed paper matches xylophone" in page.locator(".empty").inner_text()
    check_layout(page, "page-search-nothing", ["h1", ".empty"])
