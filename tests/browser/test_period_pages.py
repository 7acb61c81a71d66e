"""The week page and a sorted day page in headless Chromium (issue 13, started): the site's navigation wraps on a phone,
nothing is wider than the screen, text is readable, at 390 and 1280 px, light and dark.
Screenshots land in test-output/browser/period-*.png."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import ROOT, contrast
from tests.factories import DailyEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = ROOT / "test-output" / "browser"


def test_the_week_and_sorted_day_pages_fit_a_phone_and_a_desktop_in_light_and_dark(browser, live_server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    monday = dt.date(2026, 8, 17)
    for n in range(4):
        DailyEntryFactory(day=monday + dt.timedelta(days=n), upvotes=10 * n, paper__title=f"A paper of day {n}")
    DailyEntryFactory(day=monday + dt.timedelta(days=8), upvotes=1)  # a next week to link to
    context = browser.new_context()
    page = context.new_page()
    pages = [
        ("week", "/papers/week/2026-W34/", (".site-header nav a", "article.paper h3 a", ".period-dates")),
        ("day-trending", "/papers/2026-08-18/?sort=trending", (".sorts a", ".sorts a[aria-current]")),
    ]
    for name, url, readable in pages:
        page.goto(live_server.url + url)
        assert page.locator("article.paper").count() >= 1
        for width, height in [(390, 844), (1280, 900)]:
            for scheme in ["light", "dark"]:
                page.set_viewport_size({"width": width, "height": height})
                page.emulate_media(color_scheme=scheme)
                page.screenshot(path=SCREENSHOTS / f"period-{name}-{width}-{scheme}.png", full_page=True)
                widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                assert widths[0] <= widths[1] == width, f"{name} scrolls sideways at {width} px {scheme}: {widths}"
                for selector in readable:
                    assert contrast(page, selector) >= 4.5, f"{name} {selector} at {width} px {scheme}"
                assert page.locator(".site-header nav a").last.is_visible()
    context.close()
