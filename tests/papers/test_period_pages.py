"""Weekly and monthly views (issue 13, started): each paper once at its best day's upvotes, most
upvoted first, previous/next only where there are papers, "this week/month" at the newest papers,
and the site's navigation and feed autodiscovery on every page."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.factories import DailyEntryFactory, PaperFactory

pytestmark = pytest.mark.django_db
MONDAY = dt.date(2026, 8, 17)  # ISO week 34 of 2026


def titles(page: str) -> list[str]:
    return re.findall(r'<h3>(?:<span class="badge">Pinned</span> )?<a href="[^"]+">([^<]+)</a></h3>', page)


def test_a_week_lists_each_paper_once_at_its_best_upvotes(client):
    twice = PaperFactory(title="Listed on two days")
    DailyEntryFactory(day=MONDAY, paper=twice, upvotes=30)
    DailyEntryFactory(day=MONDAY + dt.timedelta(days=2), paper=twice, upvotes=120)
    DailyEntryFactory(day=MONDAY + dt.timedelta(days=6), paper__title="Sunday paper", upvotes=50)
    DailyEntryFactory(day=MONDAY + dt.timedelta(days=7), paper__title="Next week", upvotes=999)
    DailyEntryFactory(day=MONDAY, paper__title="Hidden one", upvotes=500, status="hidden")
    page = client.get("/papers/week/2026-W34/")
    assert page.status_code == 200
    assert titles(page.text) == ["Listed on two days", "Sunday paper"]
    assert "▲ 120" in page.text and "▲ 30" not in page.text
    assert 'rel="next" href="/papers/week/2026-W35/"' in page.text and 'rel="prev"' not in page.text
    assert "Week 34, 2026" in page.text


def test_a_month_and_its_neighbours(client):
    DailyEntryFactory(day=dt.date(2026, 7, 31), paper__title="July paper", upvotes=5)
    DailyEntryFactory(day=dt.date(2026, 8, 1), paper__title="First of August", upvotes=7)
    DailyEntryFactory(day=dt.date(2026, 8, 31), paper__title="Last of August", upvotes=9)
    page = client.get("/papers/month/2026-08/")
    assert titles(page.text) == ["Last of August", "First of August"]
    assert 'rel="prev" href="/papers/month/2026-07/"' in page.text and 'rel="next"' not in page.text
    december = client.get("/papers/month/2025-12/")
    assert december.status_code == 200 and 'rel="next" href="/papers/month/2026-01/"' in december.text


@pytest.mark.parametrize("url", ["/papers/week/2026-W54/", "/papers/week/2026-W00/", "/papers/month/2026-13/"])
def test_periods_that_do_not_exist_are_404(client, url):
    assert client.get(url).status_code == 404


def test_this_week_and_this_month_open_the_newest_papers_period(client):
    DailyEntryFactory(day=MONDAY + dt.timedelta(days=3), upvotes=1)
    assert client.get("/papers/week/")["Location"] == "/papers/week/2026-W34/"
    assert client.get("/papers/month/")["Location"] == "/papers/month/2026-08/"


def test_every_page_has_the_navigation_and_feed_autodiscovery(client):
    DailyEntryFactory(day=MONDAY, upvotes=1)
    for url in ("/", "/papers/2026-08-17/", "/papers/week/2026-W34/", "/digests/"):
        page = client.get(url).text
        for link in ('href="/papers/week/"', 'href="/papers/month/"', 'href="/digests/"'):
            assert link in page, (url, link)
        assert re.search(r'<link rel="alternate" type="application/atom\+xml"[^>]+href="/feed/atom/"', page), url


def test_a_day_sorts_by_upvotes_newest_or_trending(client):
    from django.utils import timezone

    day = dt.date(2026, 8, 21)
    now = timezone.now()
    old_hit = DailyEntryFactory(day=day, upvotes=300, paper__title="Old hit", paper__published=dt.date(2026, 8, 10))
    fresh = DailyEntryFactory(day=day, upvotes=40, paper__title="Fresh", paper__published=dt.date(2026, 8, 1))
    middle = DailyEntryFactory(day=day, upvotes=100, paper__title="Middle", paper__published=dt.date(2026, 8, 20))
    type(old_hit).objects.filter(pk=old_hit.pk).update(created_at=now - dt.timedelta(hours=100))  # 3 an hour
    type(old_hit).objects.filter(pk=middle.pk).update(created_at=now - dt.timedelta(hours=20))  # 5 an hour
    type(old_hit).objects.filter(pk=fresh.pk).update(created_at=now - dt.timedelta(hours=2))  # 20 an hour
    url = "/papers/2026-08-21/"
    assert titles(client.get(url).text) == ["Old hit", "Middle", "Fresh"]
    assert titles(client.get(url + "?sort=newest").text) == ["Middle", "Old hit", "Fresh"]
    trending = client.get(url + "?sort=trending").text
    assert titles(trending) == ["Fresh", "Middle", "Old hit"]
    assert '<a href="?sort=trending" aria-current="page">Trending</a>' in trending
    assert titles(client.get(url + "?sort=%3Cscript%3E").text) == ["Old hit", "Middle", "Fresh"], "unknown: default"


def test_a_paper_page_shows_its_people_keywords_and_discussion(client):
    paper = PaperFactory(
        title="A discussed paper",
        organization="Example Lab",
        submitter="ada",
        comments=7,
        github_url="https://github.com/example/repo",
        github_stars=42,
        ai_keywords=["sparse attention", "<b>long context</b>"],
    )
    DailyEntryFactory(day=MONDAY, paper=paper)
    page = client.get(paper.get_absolute_url()).text
    assert "Example Lab · submitted by ada" in page
    assert f'<a href="{paper.hf_url}#community">7 comments on Hugging Face</a>' in page
    assert "GitHub ★ 42" in page and "Keywords: sparse attention, &lt;b&gt;long context&lt;/b&gt;" in page
    assert 'href="/papers/2026-08-17/"' in page, "the days it was listed"


@pytest.mark.parametrize(
    "url",
    [
        "/papers/week/9999-W52/",
        "/papers/week/0001-W01/",
        "/papers/week/0000-W01/",
        "/papers/month/0001-01/",
        "/papers/month/9999-12/",
        "/papers/month/0000-01/",
        "/papers/month/2026-13/",
    ],
)
def test_periods_at_the_calendars_edges_are_not_found_not_an_error(client, url):
    assert client.get(url).status_code == 404
