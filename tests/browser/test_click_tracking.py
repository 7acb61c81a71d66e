"""A tracked link followed in headless Chromium, from the web view of a real digest: the browser
lands on the paper's page on the site, with no trace of the token in its address or referrer, and
the click is recorded once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from newsletter import planning, services
from newsletter.links import view_token
from newsletter.models import Click, Delivery
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DAY = dt.date(2026, 6, 10)


def test_a_readers_click_in_the_web_view_lands_on_the_paper_and_counts_once(browser, live_server, settings):
    settings.SITE_URL = live_server.url
    paper = PaperFactory(title="Streaming speech recognition on device")
    DailyEntryFactory(day=DAY, paper=paper, upvotes=30)
    reader = SubscriberFactory(confirmed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), interests="")
    edition = services.edition_publish(kind="daily", day=DAY)
    assert edition is not None
    planning.plan_deliveries(edition, [(reader.pk, DAY)])
    row = Delivery.objects.get()

    context = browser.new_context()
    page = context.new_page()
    arxiv: list[str] = []  # arxiv.org is not reached: a stand-in answers, noting the Referer it got
    page.route(
        "https://arxiv.org/**",
        lambda route: (
            arxiv.append(route.request.headers.get("referer", "")),
            route.fulfill(status=200, body="arXiv stand-in"),
        ),
    )
    page.goto(live_server.url + reverse("newsletter:view_digest", args=[view_token(row.pk, reader.link_key)]))
    title = page.get_by_role("link", name=paper.title)
    assert "/c/" in (title.get_attribute("href") or "")
    title.click()
    page.wait_for_url(f"{live_server.url}/papers/{paper.arxiv_id}/")
    assert page.get_by_role("heading", name=paper.title).is_visible()
    assert page.evaluate("document.referrer") == "", "the redirect hands the token to nobody"
    page.go_back()
    page.get_by_role("link", name="arXiv", exact=True).click()
    page.wait_for_url(f"https://arxiv.org/abs/{paper.arxiv_id}")
    assert arxiv == [""], "no Referer reaches the paper's host"
    context.close()

    click = Click.objects.get()  # the second link of the same paper added no row
    assert (click.delivery_id, click.paper_id, click.link) == (row.pk, paper.pk, "page")
    row.refresh_from_db()
    assert row.clicked_at is not None
