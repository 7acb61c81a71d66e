"""The JSON API (issue 13): HF-shaped listings of a day, week and month, a paper by id; only listed
entries; paginated with bounded queries; cached until papers change; rate-limited; read-only."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse

from papers import services
from papers.models import DailyEntry, Paper
from papers.text import html_to_text
from papers.views import _period_entries
from tests.factories import DailyEntryFactory, PaperFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("api")]
DAY = dt.date(2026, 8, 21)
MONDAY = dt.date(2026, 8, 17)  # ISO week 34 of 2026
CHANGELIST = reverse("admin:papers_dailyentry_changelist")


def get(client, url, **params):
    response = client.get(url, params)
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response


def ids(response) -> list[str]:
    return [item["paper"]["id"] for item in response.json()["results"]]


def test_a_day_lists_its_approved_papers_pinned_first_then_by_upvotes(client):
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00001", upvotes=5)
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00002", upvotes=50)
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00003", upvotes=1, pinned=True)
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00004", upvotes=900, status="hidden")
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00005", upvotes=900, status="pending")
    DailyEntryFactory(day=DAY, paper__arxiv_id=None, upvotes=900)  # a text dump's paper: no page yet
    DailyEntryFactory(day=DAY + dt.timedelta(days=1), paper__arxiv_id="2608.00006")
    response = get(client, "/api/v1/papers/2026-08-21/")
    assert response.status_code == 200
    assert ids(response) == ["2608.00003", "2608.00002", "2608.00001"]
    body = response.json()
    assert (body["start"], body["end"], body["count"], body["next"], body["previous"]) == (
        "2026-08-21",
        "2026-08-21",
        3,
        None,
        None,
    )
    assert [item["date"] for item in body["results"]] == ["2026-08-21"] * 3
    assert body["results"][0]["pinned"] is True


def test_an_item_has_hf_field_names_and_paperboys_own(client):
    paper = PaperFactory(
        arxiv_id="2608.19880",
        title="EnvHarness",
        abstract="LLM agents learn.",
        author_names=["Chengsong Huang", "Zifeng Wang"],
        published=dt.date(2026, 8, 20),
        upvotes=163,
        comments=1,
        github_url="https://github.com/google-research/envharness",
        github_stars=8,
        project_url="https://envharness.com/",
        ai_summary="EnvHarness reshapes environments.",
        ai_keywords=["LLM agents", "EnvRigger"],
        organization="Google",
        submitter="taesiri",
        thumbnail_url="https://cdn.example.org/2608.19880.png",
        categories=["cs.AI", "cs.LG"],
        primary_category="cs.AI",
    )
    DailyEntryFactory(day=DAY, paper=paper, rank=1, upvotes=150, note="Worth a read.")
    item = get(client, "/api/v1/papers/2026-08-21/").json()["results"][0]
    assert item == {
        "paper": {
            "id": "2608.19880",
            "title": "EnvHarness",
            "summary": "LLM agents learn.",
            "authors": [{"name": "Chengsong Huang"}, {"name": "Zifeng Wang"}],
            "publishedAt": "2026-08-20T00:00:00.000Z",
            "upvotes": 163,
            "ai_summary": "EnvHarness reshapes environments.",
            "ai_keywords": ["LLM agents", "EnvRigger"],
            "githubRepo": "https://github.com/google-research/envharness",
            "githubStars": 8,
            "projectPage": "https://envharness.com/",
            "organization": {"fullname": "Google"},
            "submittedOnDailyBy": {"fullname": "taesiri"},
            "url": "http://127.0.0.1:8000/papers/2608.19880/",
            "arxivUrl": "https://arxiv.org/abs/2608.19880",
            "pdfUrl": "https://arxiv.org/pdf/2608.19880",
            "hfUrl": "https://huggingface.co/papers/2608.19880",
            "categories": ["cs.AI", "cs.LG"],
            "primaryCategory": "cs.AI",
        },
        "title": "EnvHarness",
        "thumbnail": "https://cdn.example.org/2608.19880.png",
        "numComments": 1,
        "submittedBy": {"fullname": "taesiri"},
        "rank": 1,
        "date": "2026-08-21",
        "upvotes": 150,
        "pinned": False,
        "note": "Worth a read.",
    }


def test_what_a_paper_lacks_is_null_not_an_empty_string(client):
    DailyEntryFactory(day=DAY, paper__published=None, note="")
    item = get(client, "/api/v1/papers/2026-08-21/").json()["results"][0]
    paper = item["paper"]
    assert [paper[name] for name in ("publishedAt", "ai_summary", "githubRepo", "githubStars", "projectPage")] == [
        None
    ] * 5
    assert (paper["organization"], paper["submittedOnDailyBy"], paper["primaryCategory"]) == (None, None, None)
    assert (item["thumbnail"], item["submittedBy"], item["note"]) == (None, None, None)
    assert paper["ai_keywords"] == [] and paper["categories"] == []


def test_the_real_hf_day_comes_back_with_the_sources_fields(client, fixtures_dir):
    path = fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json"
    source = json.loads(path.read_text())
    services.ingest("hf", day=DAY, path=path)
    body = get(client, "/api/v1/papers/2026-08-21/").json()
    assert body["count"] == len(source)
    ours = {item["paper"]["id"]: item for item in body["results"]}
    assert ours.keys() == {entry["paper"]["id"] for entry in source}
    for entry in source:
        theirs, item = entry["paper"], ours[entry["paper"]["id"]]
        paper = item["paper"]
        assert paper["title"] == theirs["title"]
        assert paper["summary"] == html_to_text(theirs["summary"])  # as ingest stores text: plain
        assert [a["name"] for a in paper["authors"]] == [a["name"] for a in theirs["authors"] if not a.get("hidden")]
        assert paper["publishedAt"] == theirs["publishedAt"][:10] + "T00:00:00.000Z"  # Paperboy keeps the day
        assert paper["upvotes"] == theirs["upvotes"]
        for name in ("ai_summary", "githubRepo", "githubStars", "projectPage"):
            assert paper[name] == theirs.get(name), name
        assert paper["ai_keywords"] == theirs.get("ai_keywords", [])
        organization = theirs.get("organization")
        assert paper["organization"] == ({"fullname": html_to_text(organization["fullname"])} if organization else None)
        assert item["title"] == entry["title"]
        assert item["numComments"] == entry["numComments"]
        assert item["thumbnail"] == entry["thumbnail"]
        assert item["submittedBy"] == {"fullname": entry["submittedBy"]["fullname"]}
    ranks = [ours[entry["paper"]["id"]]["rank"] for entry in source]
    assert ranks == list(range(1, len(source) + 1))  # HF's own order is kept as rank


def test_pages_with_limit_and_offset(client):
    for n in range(5):
        DailyEntryFactory(day=DAY, paper__arxiv_id=f"2608.0000{n}", upvotes=100 - n)
    first = get(client, "/api/v1/papers/2026-08-21/", limit=2).json()
    assert [item["paper"]["id"] for item in first["results"]] == ["2608.00000", "2608.00001"]
    assert first["count"] == 5
    assert first["next"] == "http://testserver/api/v1/papers/2026-08-21/?limit=2&offset=2"
    assert first["previous"] is None
    second = get(client, first["next"]).json()
    assert [item["paper"]["id"] for item in second["results"]] == ["2608.00002", "2608.00003"]
    assert second["previous"] == "http://testserver/api/v1/papers/2026-08-21/?limit=2"
    beyond = get(client, "/api/v1/papers/2026-08-21/", offset=10**30).json()
    assert (beyond["count"], beyond["results"]) == (5, [])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": ""}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_a_bad_page_parameter_is_a_400_naming_it(client, params, field):
    response = get(client, "/api/v1/papers/2026-08-21/", **params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_latest_is_the_newest_listed_day(client):
    assert get(client, "/api/v1/papers/latest/").status_code == 404
    DailyEntryFactory(day=DAY - dt.timedelta(days=1), paper__arxiv_id="2608.00001")
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00002")
    DailyEntryFactory(day=DAY + dt.timedelta(days=1), paper__arxiv_id="2608.00003", status="pending")
    response = get(client, "/api/v1/papers/latest/")
    assert response.json()["start"] == "2026-08-21"
    assert ids(response) == ["2608.00002"]


def test_a_week_lists_each_paper_once_at_its_best_upvotes_as_the_site_does(client):
    twice = PaperFactory(arxiv_id="2608.00001")
    DailyEntryFactory(day=MONDAY, paper=twice, upvotes=30)
    DailyEntryFactory(day=MONDAY + dt.timedelta(days=2), paper=twice, upvotes=120)
    tie = PaperFactory(arxiv_id="2608.00002")
    DailyEntryFactory(day=MONDAY, paper=tie, upvotes=50)
    DailyEntryFactory(day=MONDAY + dt.timedelta(days=3), paper=tie, upvotes=50)  # a tie: the later day
    DailyEntryFactory(day=MONDAY + dt.timedelta(days=6), paper__arxiv_id="2608.00003", upvotes=60)
    DailyEntryFactory(day=MONDAY + dt.timedelta(days=7), paper__arxiv_id="2608.00004", upvotes=999)
    DailyEntryFactory(day=MONDAY, paper__arxiv_id="2608.00005", upvotes=500, status="hidden")
    body = get(client, "/api/v1/papers/week/2026-W34/").json()
    assert (body["start"], body["end"], body["count"]) == ("2026-08-17", "2026-08-23", 3)
    assert [(item["paper"]["id"], item["upvotes"], item["date"]) for item in body["results"]] == [
        ("2608.00001", 120, "2026-08-19"),
        ("2608.00003", 60, "2026-08-23"),
        ("2608.00002", 50, "2026-08-20"),
    ]
    site = _period_entries(MONDAY, MONDAY + dt.timedelta(days=6))
    assert [item["paper"]["id"] for item in body["results"]] == [entry.paper.arxiv_id for entry in site]


def test_a_month_is_its_calendar_days(client):
    DailyEntryFactory(day=dt.date(2026, 7, 31), paper__arxiv_id="2607.00001")
    DailyEntryFactory(day=dt.date(2026, 8, 1), paper__arxiv_id="2608.00001", upvotes=7)
    DailyEntryFactory(day=dt.date(2026, 8, 31), paper__arxiv_id="2608.00002", upvotes=9)
    body = get(client, "/api/v1/papers/month/2026-08/").json()
    assert (body["start"], body["end"]) == ("2026-08-01", "2026-08-31")
    assert [item["paper"]["id"] for item in body["results"]] == ["2608.00002", "2608.00001"]
    assert get(client, "/api/v1/papers/month/2026-02/").json()["end"] == "2026-02-28"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/papers/week/2026-W00/",
        "/api/v1/papers/week/2026-W54/",
        "/api/v1/papers/week/0000-W01/",
        "/api/v1/papers/month/2026-13/",
        "/api/v1/papers/month/2026-00/",
        "/api/v1/papers/month/0000-01/",
        "/api/v1/papers/2405.99999/",
    ],
)
def test_a_period_or_paper_that_does_not_exist_is_a_json_404(client, url):
    response = get(client, url)
    assert response.status_code == 404
    assert response.json()["detail"]


def test_the_last_weeks_and_month_of_year_9999_are_answered(client):
    assert get(client, "/api/v1/papers/week/9999-W51/").json()["end"] == "9999-12-26"
    assert get(client, "/api/v1/papers/week/9999-W52/").status_code == 404  # it would end in year 10000
    assert get(client, "/api/v1/papers/month/9999-12/").json()["end"] == "9999-12-31"


def test_a_paper_by_new_and_old_style_id(client, fixtures_dir):
    services.ingest(
        "arxiv", day=DAY, path=fixtures_dir / "arxiv_atom" / "api_2026_idlist_astro-ph_0601001_affiliation_jref.xml"
    )
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00001", paper__comments=4)
    DailyEntryFactory(day=DAY - dt.timedelta(days=3), paper=Paper.objects.get(arxiv_id="2608.00001"))
    DailyEntryFactory(day=DAY - dt.timedelta(days=1), paper=Paper.objects.get(arxiv_id="2608.00001"), status="hidden")
    new = get(client, "/api/v1/papers/2608.00001/").json()
    assert (new["id"], new["numComments"], new["listedOn"]) == ("2608.00001", 4, ["2026-08-21", "2026-08-18"])
    DailyEntry.objects.filter(paper__arxiv_id="astro-ph/0601001").update(status="approved")
    old = get(client, "/api/v1/papers/astro-ph/0601001/").json()
    assert old["id"] == "astro-ph/0601001"
    assert old["url"] == "http://127.0.0.1:8000/papers/astro-ph/0601001/"
    assert old["categories"] and old["primaryCategory"] == old["categories"][0]


def test_a_paper_with_no_listed_day_is_not_public(client):
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00001", status="hidden")
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00002", status="pending")
    PaperFactory(arxiv_id="2608.00003")
    for arxiv_id in ("2608.00001", "2608.00002", "2608.00003"):
        assert get(client, f"/api/v1/papers/{arxiv_id}/").status_code == 404


def test_queries_do_not_grow_with_papers_or_authors(client, django_assert_max_num_queries):
    for n in range(30):
        paper = PaperFactory(author_names=[f"Author {n}.{k}" for k in range(6)])
        DailyEntryFactory(day=MONDAY, paper=paper)
        DailyEntryFactory(day=MONDAY + dt.timedelta(days=1), paper=paper)
    with django_assert_max_num_queries(3):  # count, page, authors
        day = get(client, "/api/v1/papers/2026-08-17/")
    with django_assert_max_num_queries(4):  # the latest day, then as a day
        latest = get(client, "/api/v1/papers/latest/")
    with django_assert_max_num_queries(3):
        week = get(client, "/api/v1/papers/week/2026-W34/")
    arxiv_id = Paper.objects.first().arxiv_id
    with django_assert_max_num_queries(3):  # paper, authors, listed days
        paper = get(client, f"/api/v1/papers/{arxiv_id}/")
    assert day.json()["count"] == latest.json()["count"] == week.json()["count"] == 30
    assert all(len(item["paper"]["authors"]) == 6 for item in week.json()["results"])
    assert len(paper.json()["listedOn"]) == 2


def test_a_repeated_request_is_answered_from_the_cache(client, django_assert_num_queries):
    DailyEntryFactory(day=DAY)
    first = get(client, "/api/v1/papers/2026-08-21/")
    with django_assert_num_queries(0):
        again = get(client, "/api/v1/papers/2026-08-21/")
    assert again.json() == first.json()


def test_an_editors_hide_and_approve_show_at_once(client, admin_client):
    shown = DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00001", upvotes=9)
    waiting = DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00002", upvotes=1, status="pending")
    assert ids(get(client, "/api/v1/papers/2026-08-21/")) == ["2608.00001"]
    assert get(client, "/api/v1/papers/2608.00002/").status_code == 404
    response = admin_client.post(CHANGELIST, {"action": "approve", "_selected_action": [waiting.pk]})
    assert response.status_code == 302
    assert ids(get(client, "/api/v1/papers/2026-08-21/")) == ["2608.00001", "2608.00002"]
    assert get(client, "/api/v1/papers/2608.00002/").status_code == 200
    admin_client.post(CHANGELIST, {"action": "hide", "_selected_action": [shown.pk]})
    assert ids(get(client, "/api/v1/papers/2026-08-21/")) == ["2608.00002"]


def test_an_edit_in_a_papers_admin_page_shows_at_once(client, admin_client):
    from tests.papers.conftest import paper_change_data

    entry = DailyEntryFactory(day=DAY, paper__title="Original title")
    assert get(client, "/api/v1/papers/2026-08-21/").json()["results"][0]["title"] == "Original title"
    url = reverse("admin:papers_paper_change", args=[entry.paper.pk])
    form = admin_client.get(url).context["adminform"].form
    assert admin_client.post(url, paper_change_data(form, title="Edited title")).status_code == 302
    assert get(client, "/api/v1/papers/2026-08-21/").json()["results"][0]["title"] == "Edited title"


def test_an_ingest_shows_at_once(client, fixtures_dir):
    assert get(client, "/api/v1/papers/2026-08-21/").json()["count"] == 0
    services.ingest("hf", day=DAY, path=fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json")
    assert get(client, "/api/v1/papers/2026-08-21/").json()["count"] == 17


def test_http_caching_headers_and_not_modified(client):
    DailyEntryFactory(day=DAY)
    response = get(client, "/api/v1/papers/2026-08-21/")
    assert response["Cache-Control"] == "public, max-age=60"
    etag = response["ETag"]
    assert etag.startswith('"')
    again = client.get("/api/v1/papers/2026-08-21/", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again["ETag"] == etag
    DailyEntryFactory(day=DAY)
    changed = client.get("/api/v1/papers/2026-08-21/", headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_the_rate_limit_answers_429_with_retry_after(client, settings):
    settings.API_RATE = "3/min"
    for _ in range(3):
        assert get(client, "/api/v1/papers/2026-08-21/").status_code == 200
    throttled = get(client, "/api/v1/papers/latest/")
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert "throttled" in throttled.json()["detail"]
    other_client = client.get("/api/v1/papers/2026-08-21/", REMOTE_ADDR="192.0.2.7")
    assert other_client.status_code == 200


def test_the_rate_limit_counts_the_address_the_settings_name(client, settings):
    settings.API_RATE = "1/min"
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    assert client.get("/api/v1/papers/2026-08-21/", headers={"x-real-ip": "198.51.100.1"}).status_code == 200
    assert client.get("/api/v1/papers/2026-08-21/", headers={"x-real-ip": "198.51.100.1"}).status_code == 429
    # X-Forwarded-For, which any client can write, does not make a new client.
    spoofed = client.get(
        "/api/v1/papers/2026-08-21/", headers={"x-real-ip": "198.51.100.1", "x-forwarded-for": "203.0.113.9"}
    )
    assert spoofed.status_code == 429


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_api_is_read_only(client, method):
    response = getattr(client, method)("/api/v1/papers/2026-08-21/")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_no_cookies_and_head_works(client):
    DailyEntryFactory(day=DAY)
    response = client.head("/api/v1/papers/2026-08-21/")
    assert response.status_code == 200
    assert not response.cookies


def test_the_schema_is_openapi_3_and_names_every_endpoint(client):
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= {
        "/api/v1/papers/latest/",
        "/api/v1/papers/{day}/",
        "/api/v1/papers/week/{week}/",
        "/api/v1/papers/month/{month}/",
        "/api/v1/papers/{arxiv_id}/",
    }
