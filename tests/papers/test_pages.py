"""Public pages: the latest day on /, day navigation, a paper's page; scraped text always escaped."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from django.urls import reverse

from papers.ingest import upsert_records
from papers.sources import arxiv, hf_api
from papers.sources.base import PaperRecord
from tests.factories import DailyEntryFactory, PaperFactory

pytestmark = pytest.mark.django_db
MONDAY, TUESDAY, WEDNESDAY = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)


def titles_in(html: str, *titles: str) -> list[str]:
    """The given titles in the order the page shows them."""
    return sorted((title for title in titles if title in html), key=html.index)


def test_home_lists_the_latest_approved_day_in_order(client):
    DailyEntryFactory(day=MONDAY, paper=PaperFactory(title="Old news"))
    DailyEntryFactory(day=TUESDAY, paper=PaperFactory(title="Popular"), upvotes=90, rank=2)
    DailyEntryFactory(day=TUESDAY, paper=PaperFactory(title="Quiet"), upvotes=4, rank=1)
    DailyEntryFactory(day=TUESDAY, paper=PaperFactory(title="Editor's pick"), upvotes=1, rank=3, pinned=True)
    DailyEntryFactory(day=TUESDAY, paper=PaperFactory(title="Hidden one"), upvotes=500, status="hidden")
    DailyEntryFactory(day=WEDNESDAY, paper=PaperFactory(title="Not yet approved"), status="pending")

    html = client.get("/").text

    assert "Tuesday, March 3, 2026" in html
    assert titles_in(html, "Popular", "Quiet", "Editor&#x27;s pick", "Hidden one", "Old news", "Not yet approved") == [
        "Editor&#x27;s pick",
        "Popular",
        "Quiet",
    ]


def test_home_without_papers_says_so(client):
    assert "No papers have been collected yet" in client.get("/").text


def test_day_page_navigates_between_listed_days(client):
    for day in (MONDAY, WEDNESDAY):
        DailyEntryFactory(day=day)
    DailyEntryFactory(day=TUESDAY, status="hidden")  # a day with nothing approved is skipped

    response = client.get(reverse("day_listing", args=[WEDNESDAY]))

    assert response.status_code == 200
    assert 'rel="prev" href="/papers/2026-03-02/"' in response.text
    assert 'rel="next"' not in response.text
    monday = client.get("/papers/2026-03-02/").text
    assert 'rel="next" href="/papers/2026-03-04/"' in monday
    assert "No papers listed for this day." in client.get("/papers/2026-03-03/").text
    assert client.get("/papers/2026-02-30/").status_code == 404


def test_paper_page_shows_abstract_links_and_days(client):
    paper = PaperFactory(
        arxiv_id="2603.01234",
        title="Sparse experts at scale",
        abstract="We route tokens.",
        github_url="https://github.com/example/sparse",
        github_stars=321,
        author_names=["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"],
    )
    DailyEntryFactory(paper=paper, day=MONDAY)
    DailyEntryFactory(paper=paper, day=TUESDAY)

    html = client.get("/papers/2603.01234/").text

    assert "<h1>Sparse experts at scale</h1>" in html
    assert "We route tokens." in html
    assert "Ada Lovelace, Alan Turing, Grace Hopper, Edsger Dijkstra" in html
    assert 'href="https://arxiv.org/abs/2603.01234"' in html
    assert "GitHub ★ 321" in html
    assert titles_in(html, "March 3, 2026", "March 2, 2026") == ["March 3, 2026", "March 2, 2026"]
    listing = client.get("/papers/2026-03-02/").text
    assert "Ada Lovelace, Alan Turing, Grace Hopper et al." in listing


def test_old_style_ids_have_pages(client):
    PaperFactory(arxiv_id="astro-ph/0601001", title="An old-style paper")
    assert "An old-style paper" in client.get("/papers/astro-ph/0601001/").text
    assert client.get("/papers/9999.99999/").status_code == 404


def test_hostile_scraped_text_is_escaped_everywhere(client):
    record = PaperRecord(
        arxiv_id="2603.06666",
        title='"><img src=x onerror=alert(1)> & <b>bold</b>',
        abstract="</p><script>alert(document.cookie)</script>x < y",
        authors=("<i>Eve</i>",),
        github_url="javascript:alert(1)",
        listed_on=MONDAY,
        upvotes=3,
    )
    upsert_records([record], source="hf")

    for url in ("/", "/papers/2026-03-02/", "/papers/2603.06666/"):
        html = client.get(url).text
        assert "<script>alert" not in html
        assert "onerror=alert" not in html or "&lt;img" in html
        assert "<img src=x" not in html
        assert "javascript:" not in html
        assert "<b>bold</b>" not in html
    assert "x &lt; y" in client.get("/papers/2603.06666/").text


def test_entity_encoded_markup_from_a_source_never_comes_back_live(client):
    """HF text is HTML: entity-encoded markup in it decodes to text (its script opener dropped);
    arXiv text is kept as written. Either way the pages and the feed show it as text."""
    hf_entry = {
        "paper": {
            "id": "2603.07777",
            "title": "&lt;script&gt;alert(1)&lt;/script&gt;Encoded &lt;b&gt;bold&lt;/b&gt;",
            "summary": "&lt;img src=x onerror=alert(1)&gt; It holds when 0<p and q>1.",
            "authors": [{"name": "&lt;i&gt;Eve&lt;/i&gt;"}],
        }
    }
    [from_hf] = hf_api.parse(json.dumps([hf_entry]), listed_on=MONDAY).records
    assert from_hf.title == "alert(1) Encoded <b>bold</b>"
    feed = (
        "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>http://arxiv.org/abs/2603.08888v1</id>"
        "<title>&lt;script&gt;alert(2)&lt;/script&gt;Verbatim</title>"
        "<summary>&lt;iframe src=//evil.example&gt; for $x&lt;i and j&gt;n$</summary></entry></feed>"
    )
    [from_arxiv] = arxiv.parse(feed).records
    assert from_arxiv.title == "<script>alert(2)</script>Verbatim"
    upsert_records([from_hf], source="hf")
    upsert_records([from_arxiv], source="arxiv", default_day=MONDAY)

    pages = ["/", "/papers/2026-03-02/", "/papers/2603.07777/", "/papers/2603.08888/", "/feed/", "/feed/atom/"]
    for url in pages:
        html = client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<iframe src" not in html, url
        assert "<b>bold</b>" not in html and "<i>Eve</i>" not in html, url
    hf_page = client.get("/papers/2603.07777/").text
    assert "Encoded &lt;b&gt;bold&lt;/b&gt;" in hf_page and "It holds when 0&lt;p and q&gt;1." in hf_page
    arxiv_page = client.get("/papers/2603.08888/").text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;Verbatim" in arxiv_page
    assert "&lt;iframe src=//evil.example&gt; for $x&lt;i and j&gt;n$" in arxiv_page


@pytest.mark.browser
def test_reader_clicks_from_the_home_page_to_a_paper(page, live_server):
    paper = PaperFactory(arxiv_id="2603.04444", title="Clickable paper", abstract="Read me in full.")
    DailyEntryFactory(paper=paper, day=TUESDAY)
    DailyEntryFactory(day=MONDAY, paper=PaperFactory(title="Yesterday's paper"))

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Clickable paper").click()
    page.wait_for_url(f"{live_server.url}/papers/2603.04444/")
    assert page.locator("h1").inner_text() == "Clickable paper"
    assert "Read me in full." in page.locator(".abstract").inner_text()

    page.get_by_role("link", name="March 3, 2026").click()
    page.get_by_role("link", name="← Mar 2").click()
    page.wait_for_url(f"{live_server.url}/papers/2026-03-02/")
    assert page.get_by_role("link", name="Yesterday's paper").is_visible()


def test_a_paper_without_an_arxiv_id_stays_off_public_pages_until_completed(client):
    DailyEntryFactory(day=MONDAY, paper=PaperFactory(title="A complete paper"))
    pasted = PaperFactory(title="Pasted from a text dump", arxiv_id=None)
    DailyEntryFactory(day=MONDAY, paper=pasted, upvotes=0)
    DailyEntryFactory(day=TUESDAY, paper=PaperFactory(title="Only incomplete", arxiv_id=None))

    home = client.get("/").text
    day = client.get(reverse("day_listing", args=[MONDAY])).text
    feed = client.get("/feed/").text

    assert "Monday, March 2, 2026" in home, "a day of incomplete papers only is not the latest listed day"
    for page in (home, day, feed):
        assert "A complete paper" in page
        assert "Pasted from a text dump" not in page and "Only incomplete" not in page

    pasted.arxiv_id = "2603.01234"
    pasted.save()
    assert "Pasted from a text dump" in client.get("/").text, "listed once an editor completes it"


def test_feeds_show_scraped_text_as_text_and_date_a_back_filled_day_on_that_day(client):
    import xml.etree.ElementTree as ET  # our own feed

    paper = PaperFactory(title="Bounds", abstract="It holds when 0<p and q>1. <script>alert(1)</script>")
    DailyEntryFactory(day=MONDAY, paper=paper)  # imported today, listed for an earlier Monday

    rss = ET.fromstring(client.get("/feed/").content)
    description = rss.find("channel/item/description").text
    assert description == "It holds when 0&lt;p and q&gt;1. &lt;script&gt;alert(1)&lt;/script&gt;"
    assert rss.find("channel/item/pubDate").text.startswith("Mon, 02 Mar 2026")

    atom = ET.fromstring(client.get("/feed/atom/").content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    summary = atom.find("a:entry/a:summary", ns)
    assert summary.get("type") == "html" and "&lt;script&gt;" in summary.text
    assert atom.find("a:entry/a:published", ns).text.startswith("2026-03-02")
    assert atom.find("a:entry/a:updated", ns).text.startswith("2026-03-02"), "Atom requires <updated>"


@pytest.mark.parametrize(
    "url",
    [
        "/",
        f"/papers/{TUESDAY.isoformat()}/",
        "/papers/week/2026-W10/",
        "/papers/month/2026-03/",
        "/papers/2603.00001/",
        "/search/?q=things",
    ],
)
def test_headings_go_down_one_level_at_a_time(client, url):
    """Screen-reader users move by headings: none skips a level (h1, then h2, then h3)."""
    from bs4 import BeautifulSoup

    from papers.search import index_all

    DailyEntryFactory(day=TUESDAY, paper__arxiv_id="2603.00001", paper__ai_summary="In short.")
    index_all()
    response = client.get(url)
    assert response.status_code == 200
    levels = [int(tag.name[1]) for tag in BeautifulSoup(response.content, "html.parser").find_all(HEADINGS)]
    assert levels[0] == 1, levels
    assert all(after - before <= 1 for before, after in itertools.pairwise(levels)), levels
    assert len(levels) > 1, levels


HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
