"""papers.sources.hf_page: the recorded paper page, listing pages built in the documented structure
from a recorded API answer, the link fallback, and fetching from a real local HTTP server."""

from __future__ import annotations

import datetime as dt
import html
import json

import pytest

from papers.sources import hf_api, hf_page
from papers.sources.base import SourceError

PAPER_PAGE = "hf_paper_page_2509.24002_prettified.html"


def paper_page(fixtures_dir) -> bytes:
    return (fixtures_dir / "hf_html" / PAPER_PAGE).read_bytes()


def api_raw(fixtures_dir, day: str) -> bytes:
    return (fixtures_dir / "hf_api" / f"daily_papers_date_{day}.json").read_bytes()


def listing_page(daily_papers: list, *, quote: str = "'", day: str = "2025-09-15") -> str:
    """A /papers/date/<day> page as Hugging Face structures it: header islands, then the DailyPapers
    island whose data-props holds the API's entries, html-escaped for the attribute."""
    props = json.dumps({"dailyPapers": daily_papers, "dateString": day, "periodType": "day"}, ensure_ascii=False)
    attribute = f"data-props={quote}{html.escape(props, quote=True)}{quote}"
    return f"""<!DOCTYPE html>
<html class=""><head><meta charset="utf-8"><title>Daily Papers - Hugging Face</title>
<meta property="og:image" content="https://huggingface.co/front/thumbnails/papers.png"></head>
<body><div class="flex min-h-dvh flex-col">
<div class="SVELTE_HYDRATER contents" data-target="MainHeader" data-props='{{"isWide":false,"isZh":false}}'></div>
<main class="flex flex-1 flex-col">
<div class="SVELTE_HYDRATER contents" data-target="DailyPapers" {attribute}>
<section><h1>Daily Papers</h1><p>by AK and the research community</p></section>
</div></main></div></body></html>"""


# --- the recorded paper page -----------------------------------------------------------------------


def test_recorded_paper_page(fixtures_dir):
    result = hf_page.parse(paper_page(fixtures_dir))

    assert result.errors == []
    [record] = result.records
    assert record.arxiv_id == "2509.24002"
    assert record.title == "MCPMark: A Benchmark for Stress-Testing Realistic and Comprehensive MCP Use"
    assert record.abstract.startswith(
        "MCP standardizes how LLMs interact with external systems, forming the foundation"
    )
    assert record.authors[0] == "Zijian Wu"
    assert len(record.authors) == 15
    assert record.upvotes == 118
    assert record.github_url == "https://github.com/eval-sys/mcpmark"
    assert record.github_stars == 182
    assert record.project_url == "https://mcpmark.ai/"
    assert record.ai_keywords[:2] == ("MCP", "LLMs")
    assert record.submitter == "Zijian Wu"
    assert record.organization == "National University of Singapore"
    assert record.comments == 2
    assert (
        record.thumbnail_url == "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2509.24002/gradient.png"
    )
    assert record.published == dt.date(2025, 9, 28)
    assert record.rank == 1  # dailyPaperRank
    assert record.listed_on == dt.date(2025, 10, 1)  # submittedOnDailyAt
    assert record.pdf_url == "https://arxiv.org/pdf/2509.24002"


def test_recorded_paper_page_as_text_with_listed_on(fixtures_dir):
    [record] = hf_page.parse(paper_page(fixtures_dir).decode(), listed_on=dt.date(2025, 10, 2)).records
    assert record.listed_on == dt.date(2025, 10, 2)


def test_paper_page_without_usable_paper_reports_it(fixtures_dir):
    page = paper_page(fixtures_dir).decode()
    broken = page.replace('"title":"MCPMark', '"headline":"MCPMark', 1)
    assert broken != page

    result = hf_page.parse(broken)

    assert result.records == []
    assert result.errors == ["paper page (2509.24002): no title"]


def test_mathematics_survives_the_paper_page(fixtures_dir):
    page = paper_page(fixtures_dir).decode()
    # data-props is an attribute: its "<" and ">" arrive as &lt; and &gt;, and the JSON inside is text.
    changed = page.replace('"title":"MCPMark', '"title":"0&lt;p and q&gt;1 for MCPMark', 1).replace(
        '"summary":"MCP standardizes', '"summary":"When $x&lt;i and j&gt;n$ holds, MCP standardizes', 1
    )
    assert changed.count("0&lt;p and q&gt;1") == 1 and changed.count("$x&lt;i and j&gt;n$") == 1

    [record] = hf_page.parse(changed).records

    assert record.title.startswith("0<p and q>1 for MCPMark: A Benchmark")
    assert record.abstract.startswith("When $x<i and j>n$ holds, MCP standardizes how LLMs")


# --- listing pages built from a recorded API answer ------------------------------------------------


@pytest.mark.parametrize("day", ["2025-09-15", "2026-08-21", "2024-05-27"])
@pytest.mark.parametrize("quote", ["'", '"'])
def test_listing_page_parses_like_the_api(fixtures_dir, day, quote):
    raw = api_raw(fixtures_dir, day)
    page = listing_page(json.loads(raw), quote=quote, day=day)

    from_page = hf_page.parse(page.encode(), listed_on=dt.date.fromisoformat(day))
    from_api = hf_api.parse(raw, listed_on=dt.date.fromisoformat(day))

    assert from_page.errors == []
    assert from_page.records == from_api.records
    assert len(from_page.records) == {"2025-09-15": 12, "2026-08-21": 17, "2024-05-27": 13}[day]


def test_listing_page_keeps_apostrophes_and_ampersands(fixtures_dir):
    data = json.loads(api_raw(fixtures_dir, "2026-08-21"))
    data[0]["paper"]["title"] = 'Tom & Jerry\'s "Quoted" <Benchmark>'

    first = hf_page.parse(listing_page(data)).records[0]

    assert first.title == 'Tom & Jerry\'s "Quoted" <Benchmark>'
    assert first.abstract.startswith("LLM agents learn by interacting with environments, yet these environments")
    assert "agent's weaknesses" in first.abstract


def test_listing_page_keeps_mathematics_and_drops_markup(fixtures_dir):
    data = json.loads(api_raw(fixtures_dir, "2025-09-15"))
    data[0]["paper"]["title"] = "Bounds that hold when 0<p and q>1"
    data[0]["paper"]["summary"] = (
        "For $x<i and j>n$ <center>centred</center> <details open ontoggle=alert(1)>x</details> y."
    )

    first = hf_page.parse(listing_page(data)).records[0]

    assert first.title == "Bounds that hold when 0<p and q>1"
    assert first.abstract == "For $x<i and j>n$ centred x y."


def test_listing_page_hostile_and_bad_entries(fixtures_dir):
    data = json.loads(api_raw(fixtures_dir, "2025-09-15"))
    data[0]["paper"]["title"] = "<script>alert('x')</script>Safe\r\nTitle"
    data[0]["paper"]["githubRepo"] = "javascript:alert(1)"
    data[0]["paper"]["projectPage"] = "JAVASCRIPT:alert(1)"
    data[0]["thumbnail"] = "data:image/png;base64,AAAA"
    data[1]["paper"]["title"] = None  # the entry's own title stands in for it...
    data[2]["paper"]["title"] = None
    del data[2]["title"]  # ...unless there is none

    result = hf_page.parse(listing_page(data))

    assert result.errors == ["entry 3 (2509.08643): no title"]
    assert len(result.records) == 11
    assert result.records[1].title.startswith("InfGen: A Resolution-Agnostic Paradigm")
    first = result.records[0]
    assert first.title == "Safe Title"
    assert (first.github_url, first.project_url, first.thumbnail_url) == ("", "", "")


def test_listing_page_with_no_papers_is_empty_not_an_error():
    result = hf_page.parse(listing_page([]))
    assert (result.records, result.errors) == ([], [])


# --- fallback: visible links -----------------------------------------------------------------------

CARDS_PAGE = """<html><head><title>Daily Papers - Hugging Face</title></head><body>
<nav><a href="/papers/trending">Trending</a> <a href="/papers/date/2024-05-26">Previous</a>
<a href="/papers">Daily</a></nav>
<article>
  <a href="/papers/2405.15738"><img src="/thumb/2405.15738.png" alt=""></a>
  <h3><a href="/papers/2405.15738" class="line-clamp-3">ConvLLaVA: Hierarchical Backbones as Visual Encoder
      for Large Multimodal Models</a></h3>
  <a href="/papers/2405.15738#community">3</a>
</article>
<article>
  <a href="/papers/2405.15574v2"><img src="/thumb/2405.15574.png" alt=""></a>
  <h3><a href="/papers/2405.15574">Meteor: Mamba-based <b>Traversal</b> of Rationale</a></h3>
  <a href="/papers/2405.15574#community">1,024</a>
</article>
<article>
  <h3><a href="/papers/2405.15071"><script>alert(1)</script>Grokked Transformers &amp; Friends</a></h3>
</article>
<article><a href="/papers/2405.15032"><img src="x.png" alt=""></a></article>
<a href="https://example.org/papers/2405.99999">elsewhere</a>
<a href="javascript:alert(1)">/papers/2405.88888</a>
</body></html>"""


def test_links_fallback_gives_id_and_title_records():
    result = hf_page.parse(CARDS_PAGE, listed_on=dt.date(2024, 5, 27))

    assert [(record.arxiv_id, record.title, record.rank) for record in result.records] == [
        ("2405.15738", "ConvLLaVA: Hierarchical Backbones as Visual Encoder for Large Multimodal Models", 1),
        ("2405.15574", "Meteor: Mamba-based Traversal of Rationale", 2),
        ("2405.15071", "Grokked Transformers & Friends", 3),
    ]
    assert result.errors == ["link 4 (2405.15032): no title text"]
    assert {record.listed_on for record in result.records} == {dt.date(2024, 5, 27)}
    assert all(record.abstract == "" and record.upvotes is None for record in result.records)


def test_links_fallback_when_the_island_is_broken():
    page = CARDS_PAGE.replace(
        "<article>", '<div class="SVELTE_HYDRATER" data-target="DailyPapers" data-props="{oops">', 1
    )
    result = hf_page.parse(page)
    assert [record.arxiv_id for record in result.records] == ["2405.15738", "2405.15574", "2405.15071"]


# --- unusable pages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "the response is empty"),
        (b"   ", "the response is empty"),
        (
            b"<html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1></body></html>",
            "page title '500 Internal Server Error'",
        ),
        (b'[{"paper": {"id": "2405.01234", "title": "JSON, not a page"}}]', "found neither"),
        (b"plain words, no markup", "found neither"),
        (b'<div data-target="DailyPapers" data-props="{oops"></div>', "DailyPapers data-props is not JSON"),
        (b'<div data-target="DailyPapers" data-props="{&quot;dailyPapers&quot;: 3}"></div>', "no dailyPapers list"),
        (b'<div data-target="PaperContent" data-props="{&quot;paper&quot;: null}"></div>', "no paper object"),
        (b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00", "found neither"),
    ],
)
def test_unusable_pages_raise_source_error(payload, message):
    with pytest.raises(SourceError) as caught:
        hf_page.parse(payload)
    assert message in str(caught.value)
    assert str(caught.value).startswith("HF page: ")


# --- fetch -----------------------------------------------------------------------------------------


@pytest.fixture
def hf(settings, http_server):
    settings.HF_BASE_URL = http_server.url
    settings.PAPERBOY_HTTP_BACKOFF = 0.01
    settings.PAPERBOY_HTTP_RETRIES = 1
    return http_server


def test_fetch_day(hf, fixtures_dir):
    page = listing_page(json.loads(api_raw(fixtures_dir, "2025-09-15"))).encode()
    hf.route("/papers/date/2025-09-15", b"busy", status=503)
    hf.route("/papers/date/2025-09-15", page, headers={"Content-Type": "text/html; charset=utf-8"})

    body = hf_page.fetch_day(dt.date(2025, 9, 15))

    assert body == page
    assert hf.requests == ["/papers/date/2025-09-15"] * 2
    assert len(hf_page.parse(body).records) == 12


def test_fetch_paper(hf, fixtures_dir):
    hf.route("/papers/2509.24002", paper_page(fixtures_dir), headers={"Content-Type": "text/html"})

    body = hf_page.fetch_paper("https://arxiv.org/abs/2509.24002v2")

    assert hf.requests == ["/papers/2509.24002"]
    assert hf_page.parse(body).records[0].upvotes == 118


def test_fetch_paper_not_found(hf):
    with pytest.raises(SourceError, match="HTTP 404"):
        hf_page.fetch_paper("2401.00001")


@pytest.mark.parametrize("bad", ["", "2509", "../../admin", "2509.24002/../x", "\u0662\u0665\u0660\u0669.24002", None])
def test_fetch_paper_rejects_non_ids(settings, bad):
    settings.HF_BASE_URL = "http://127.0.0.1:9"  # nothing listens there: asking would raise SourceError
    with pytest.raises(ValueError, match="not an arXiv id"):
        hf_page.fetch_paper(bad)


def test_fetch_day_rejects_a_string(settings):
    settings.HF_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(ValueError, match=r"datetime\.date"):
        hf_page.fetch_day("2025-09-15")
