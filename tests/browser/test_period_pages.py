"""The week page and a sorted day page in headless Chromium (issue 13, started): the site's navigation wraps on a phone,
nothing is wider than the screen, text is readable, at 390 and 1280 px, light and dark.
Screenshots land in test-output/browser/period-*.png."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import check_layout
from tests.factories import DailyEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_week_and_sorted_day_pages_fit_a_phone_and_a_desktop_in_light_and_dark(browser, live_server):
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
        check_layout(page, f"period-{name}", list(readable), visible=(".site-header nav a",))
    context.close()
