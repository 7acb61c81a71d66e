"""Cached public pages (papers/pagecache.py): served without a query, current at once after a
curation change, an ingest or a new day, and with every visitor's own CSRF token."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from papers import services
from papers.models import DailyEntry
from papers.search import index_all
from subscribers.models import Subscriber
from tests.factories import DailyEntryFactory, PaperFactory

pytestmark = pytest.mark.django_db
MONDAY, TUESDAY = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
HF_DAY = dt.date(2026, 8, 21)
PAGES = ["/", "/papers/2026-03-03/", "/papers/week/2026-W10/", "/papers/month/2026-03/", "/search/?q=okapi"]


@pytest.fixture(autouse=True)
def page_cache(settings):
    settings.PAGE_CACHE_SECONDS = 300


@pytest.fixture
def day():
    """A listed paper on Tuesday, the latest day, found by "okapi"."""
    entry = DailyEntryFactory(day=TUESDAY, paper=PaperFactory(title="Okapi sightings in the wild"))
    index_all()
    return entry


TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def token_in(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.mark.parametrize("url", PAGES)
def test_a_second_visit_is_served_from_the_cache_without_a_query(client, day, url, django_assert_num_queries):
    first = client.get(url)
    assert first.status_code == 200 and "sightings in the wild" in first.text
    with django_assert_num_queries(0):
        second = Client().get(url)
    assert second.status_code == 200
    assert TOKEN.sub("", second.text) == TOKEN.sub("", first.text)  # but for the signup form's token
    # Headers are the middleware's, on every answer: the security policy is not lost on a hit.
    assert "default-src 'self'" in second["Content-Security-Policy"]


@pytest.mark.parametrize("url", PAGES)
def test_a_curation_change_shows_at_once(client, day, url):
    assert "sightings in the wild" in client.get(url).text
    DailyEntry.objects.filter(pk=day.pk).update(status=DailyEntry.Status.HIDDEN)  # an admin action's write
    assert "sightings in the wild" not in client.get(url).text
    DailyEntry.objects.filter(pk=day.pk).update(status=DailyEntry.Status.APPROVED)
    assert "sightings in the wild" in client.get(url).text


def test_an_admin_edit_shows_at_once(client, day):
    assert "sightings in the wild" in Client().get("/").text
    editor = get_user_model().objects.create_superuser("editor", "editor@example.org", "pw")
    client.force_login(editor)
    paper = day.paper
    paper.title = "Okapi census, revised"
    paper.save()  # as the admin's change form saves it
    html = Client().get("/").text
    assert "Okapi census, revised" in html and "sightings in the wild" not in html


def test_a_new_day_and_an_ingest_show_at_once(client, day, fixtures_dir, settings):
    assert "sightings in the wild" in client.get("/").text
    DailyEntryFactory(day=dt.date(2026, 3, 4), paper=PaperFactory(title="Wednesday news"))
    html = client.get("/").text
    assert "Wednesday news" in html and "sightings in the wild" not in html
    # An ingest of a later day, its entries approved on arrival: the home page is that day at once.
    settings.PAPERBOY_NEW_ENTRY_STATUS = DailyEntry.Status.APPROVED
    services.ingest("hf", day=HF_DAY, path=fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json")
    assert "EnvHarness" in client.get("/").text
    assert "EnvHarness" in client.get(f"/papers/{HF_DAY}/").text


def test_each_visitor_of_a_cached_page_gets_a_csrf_token_of_their_own_that_works(day):
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_token = token_in(first.get("/").text)  # rendered
    second_page = second.get("/").text  # from the cache
    second_token = token_in(second_page)
    assert first_token not in second_page
    assert first.cookies["csrftoken"].value != second.cookies["csrftoken"].value
    subscribe = reverse("subscribers:subscribe")
    # One visitor's token does not pass with another's cookie.
    stolen = second.post(subscribe, {"email": "stolen@example.org", "csrfmiddlewaretoken": first_token})
    assert stolen.status_code == 403
    for client, token, email in (
        (first, first_token, "first@example.org"),
        (second, second_token, "second@example.org"),
    ):
        response = client.post(subscribe, {"email": email, "csrfmiddlewaretoken": token, "time_zone": "UTC"})
        assert response.status_code == 302, response.content[:500]
    assert set(Subscriber.objects.values_list("email", flat=True)) == {"first@example.org", "second@example.org"}


def test_a_visitor_with_a_session_gets_the_page_rendered(client, day, django_assert_num_queries):
    Client().get("/")  # now in the cache
    editor = get_user_model().objects.create_superuser("editor", "editor@example.org", "pw")
    client.force_login(editor)
    response = client.get("/")
    assert response.status_code == 200
    assert len(response.context["entries"]) == 1  # rendered: a cached answer has no template context


def test_nothing_is_cached_when_turned_off(settings, day, django_assert_num_queries):
    settings.PAGE_CACHE_SECONDS = 0
    Client().get("/")
    response = Client().get("/")
    assert response.context is not None and len(response.context["entries"]) == 1
