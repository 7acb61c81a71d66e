"""An edition's page on the site (the digest's web view for everyone) in headless Chromium: the
same facts the digest shows of each paper, thumbnails in their fixed box, at 390 and 1280 px,
light and dark. Screenshots land in test-output/browser/archive-edition-*.png."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from newsletter import services
from tests.conftest import check_layout
from tests.factories import DailyEntryFactory, PaperFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
THUMBNAILS = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/"


def test_an_editions_page_fits_a_phone_and_a_desktop_in_light_and_dark(browser, live_server):
    day = dt.date(2026, 8, 21)
    DailyEntryFactory(
        day=day,
        upvotes=163,
        paper=PaperFactory(
            title="EnvHarness: Awakening Static Worlds for Agent Learning",
            ai_summary="EnvHarness reshapes static environments via programmable plugins.",
            thumbnail_url=f"{THUMBNAILS}2608.19880.png",
            organization="Google",
            submitter="taesiri",
            github_url="https://github.com/google-research/envharness",
            github_stars=8,
            project_url="https://envharness.com/",
            comments=1,
        ),
    )
    DailyEntryFactory(day=day, upvotes=12, paper=PaperFactory(title="A paper with nothing but an abstract"))
    edition = services.edition_publish(kind="daily", day=day)
    assert edition is not None
    context = browser.new_context()
    page = context.new_page()
    page.route(f"{THUMBNAILS}**", lambda route: route.abort())  # the box must hold without the image
    page.goto(live_server.url + reverse("newsletter:archive_edition", args=[edition.pk]))
    assert page.locator("article.paper").count() == 2
    assert page.locator("img.thumb").count() == 1
    box = page.locator("img.thumb").bounding_box()
    assert box is not None and (round(box["width"]), round(box["height"])) == (120, 68)
    assert page.get_by_text("Google · submitted by taesiri").is_visible()
    check_layout(
        page, "archive-edition", ["article.paper h3 a", ".meta", ".links a"], visible=("a[href='/papers/2026-08-21/']",)
    )
    context.close()
