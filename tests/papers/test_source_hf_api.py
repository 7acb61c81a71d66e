"""papers.sources.hf_api against the recorded Daily Papers answers and a real local HTTP server."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from papers.sources import hf_api
from papers.sources.base import SourceError

DAYS = {"2024-05-27": 13, "2025-09-15": 12, "2026-08-21": 17}


def raw(fixtures_dir, day: str) -> bytes:
    return (fixtures_dir / "hf_api" / f"daily_papers_date_{day}.json").read_bytes()


def entries(fixtures_dir, day: str) -> list:
    return json.loads(raw(fixtures_dir, day))


def by_id(result) -> dict:
    return {record.arxiv_id: record for record in result.records}


@pytest.mark.parametrize(
    ("day", "first_id", "last_id"),
    [
        ("2024-05-27", "2405.15738", "2405.15125"),
        ("2025-09-15", "2509.09677", "2509.09990"),
        ("2026-08-21", "2608.19880", "2608.13210"),
    ],
)
def test_every_fixture_parses_completely(fixtures_dir, day, first_id, last_id):
    result = hf_api.parse(raw(fixtures_dir, day))

    assert result.errors == []
    assert len(result.records) == DAYS[day]
    assert result.records[0].arxiv_id == first_id
    assert result.records[-1].arxiv_id == last_id
    assert [record.rank for record in result.records] == list(range(1, DAYS[day] + 1))
    # Without a listed_on argument the day comes from each entry, and every entry agrees with the request.
    assert {record.listed_on for record in result.records} == {dt.date.fromisoformat(day)}
    for record in result.records:
        assert record.title and "\n" not in record.title and "  " not in record.title
        assert record.abstract and "\n" not in record.abstract
        assert record.authors
        assert record.pdf_url == f"https://arxiv.org/pdf/{record.arxiv_id}"
        assert record.thumbnail_url == (
            f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{record.arxiv_id}.png"
        )
        assert isinstance(record.upvotes, int)
        assert isinstance(record.comments, int)


def test_2024_schema(fixtures_dir):
    result = hf_api.parse(raw(fixtures_dir, "2024-05-27"))
    first = result.records[0]

    # The API title is hard-wrapped ("...Multimodal\n  Models"); the record's is one line.
    assert first.title == "ConvLLaVA: Hierarchical Backbones as Visual Encoder for Large Multimodal Models"
    assert first.authors[:2] == ("Chunjiang Ge", "Sijie Cheng")
    assert len(first.authors) == 9
    assert first.upvotes == 32
    assert first.comments == 3
    assert first.published == dt.date(2024, 5, 24)
    assert first.abstract.startswith(
        "High-resolution Large Multimodal Models (LMMs) encounter the challenges of excessive"
    )
    # Fields the 2024 schema does not have are "unknown", not invented.
    assert (first.github_url, first.project_url, first.github_stars) == ("", "", None)
    assert (first.ai_summary, first.ai_keywords, first.submitter, first.organization) == ("", (), "", "")

    aya = by_id(result)["2405.15032"]
    assert aya.title == "Aya 23: Open Weight Releases to Further Multilingual Progress"
    assert aya.authors[0] == "Viraat Aryabumi"
    assert len(aya.authors) == 17
    assert aya.upvotes == 11
    assert aya.rank == 4


def test_2025_schema(fixtures_dir):
    records = by_id(hf_api.parse(raw(fixtures_dir, "2025-09-15")))

    xpart = records["2509.08643"]
    assert xpart.title.startswith("X-Part: high fidelity and structure coherent shape decomposition")
    assert xpart.upvotes == 10
    assert xpart.submitter == "Xinhao Yan"
    assert xpart.rank == 3

    first = records["2509.09677"]
    assert first.ai_summary.startswith("Scaling large language models improves their ability to execute longer tasks")
    assert first.ai_keywords[:2] == ("large language models", "LLMs")
    assert first.submitter == "Shashwat Goel"
    assert first.published == dt.date(2025, 9, 11)
    # listed_on is the day it was submitted to Daily Papers, not the paper's publication day.
    assert first.listed_on == dt.date(2025, 9, 15)

    # The one entry without an AI summary still lands.
    assert records["2509.09990"].ai_summary == ""
    assert records["2509.09990"].ai_keywords == ()


def test_2026_schema(fixtures_dir):
    records = by_id(hf_api.parse(raw(fixtures_dir, "2026-08-21")))

    first = records["2608.19880"]
    assert first.title == "EnvHarness: Awakening Static Worlds for Agent Learning"
    assert first.upvotes == 163
    assert first.github_url == "https://github.com/google-research/envharness"
    assert first.github_stars == 8
    assert first.project_url == "https://envharness.com/"
    assert first.organization == "Google"
    assert first.submitter == "taesiri"
    assert len(first.authors) == 17

    assert records["2608.14022"].github_stars == 76
    assert records["2608.19861"].github_stars == 0  # zero stars is a known value, not "unknown"
    assert records["2608.13120"].github_stars is None
    assert records["2608.13120"].github_url == ""
    # An entry whose mediaUrls starts with a video still takes its thumbnail.
    assert records["2608.20335"].thumbnail_url.endswith("/papers/2608.20335.png")


def test_listed_on_argument_wins(fixtures_dir):
    result = hf_api.parse(raw(fixtures_dir, "2025-09-15"), listed_on=dt.date(2025, 9, 14))
    assert {record.listed_on for record in result.records} == {dt.date(2025, 9, 14)}


def test_text_input_and_compact_json_parse_the_same(fixtures_dir):
    data = entries(fixtures_dir, "2026-08-21")
    compact = json.dumps(data, separators=(",", ":"))
    assert hf_api.parse(compact).records == hf_api.parse(raw(fixtures_dir, "2026-08-21")).records


def minimal_entry(**paper) -> dict:
    base = {
        "id": "2405.01234",
        "title": "A Title",
        "summary": "An abstract.",
        "authors": [{"name": "Ada Lovelace"}],
        "publishedAt": "2024-05-01T00:00:00.000Z",
        "upvotes": 5,
    }
    base.update(paper)
    return {"paper": base, "publishedAt": "2024-05-02T00:00:00.000Z"}


def test_hostile_entry_is_neutralised():
    entry = minimal_entry(
        id="2405.01234v3",
        title="<script>alert(1)</script>Real\r\nTitle <b>bold</b> &amp; more",
        summary="Line one\nline <i>two</i> <svg/onload=alert(1)> <script",
        githubRepo="javascript:alert(1)",
        projectPage="data:text/html,<script>alert(1)</script>",
        ai_summary="<img src=x onerror=alert(1)>Summary",
        ai_keywords=["<b>RL</b>", "", None, 3, "RL"],
        authors=[{"name": "Eve <script>x</script>"}, {"name": "Hidden", "hidden": True}, {"name": ""}, "junk"],
    )
    entry.update(
        thumbnail="ftp://example.org/a.png",
        mediaUrl="//evil.example/x.png",
        mediaUrls=["https://cdn.example.org/ok.png"],
        submittedBy={"fullname": "<b>Mallory</b>"},
        organization={"name": "javascript:alert(1)"},
    )
    [record] = hf_api.parse(json.dumps([entry])).records

    assert record.arxiv_id == "2405.01234"
    assert record.title == "Real Title bold & more"
    assert record.abstract == "Line one line two"
    assert record.github_url == ""
    assert record.project_url == ""
    assert record.thumbnail_url == "https://cdn.example.org/ok.png"  # the first candidate that is http(s)
    assert record.ai_summary == "Summary"
    assert record.ai_keywords == ("RL",)
    assert record.authors == ("Eve",)
    assert record.submitter == "Mallory"
    assert record.organization == "javascript:alert(1)"  # a name is text, rendered escaped; not a link


MATH_TITLE = "A bound that holds when 0<p and q>1"
MATH_SUMMARY = (
    "For $x<i and j>n$ and p<0.05 (a < b > c, $a<b$, <think> tags, x<y and z>w) the bound holds when 0<p and q>1."
)


def test_mathematics_is_not_markup():
    """A "<" is markup only where a real tag starts: "<p and q>" has no HTML attributes, so it is text."""
    entry = minimal_entry(title=MATH_TITLE, summary=MATH_SUMMARY, ai_summary="It holds when 0<p and q>1.")
    [record] = hf_api.parse(json.dumps([entry])).records

    assert record.title == MATH_TITLE
    assert record.abstract == MATH_SUMMARY
    assert record.ai_summary == "It holds when 0<p and q>1."


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("<center>Centered</center> claims", "Centered claims"),
        ("<details open ontoggle=alert(1)>Open</details> details", "Open details"),
        ("A <video onerror=alert(1)><source src=x onerror=alert(1)></video>clip", "A clip"),
        ("Before <script>alert(1)</script>after", "Before after"),
        ("Before <script>" + "alert(1); " * 2000, "Before"),  # unclosed: the rest is script
        ("Before <script src=//evil.example/x.js", "Before"),  # an opener that never closes
        ("Styled <style>p { color: red }</style>text", "Styled text"),
        ("<b>bold</b>, <i>italic</i> and H<sub>2</sub>O", "bold, italic and H2O"),
        ("One<br>two<p>three</p>", "One two three"),
        ("A <a href='https://example.org' onclick=alert(1)>link</a> text", "A link text"),
        ("Hidden<!-- a comment -->text", "Hiddentext"),
        ("R&amp;D, &eacute;t&eacute;, &#8804; &#x3b1; &lt;3 &amp;lt;", "R&D, été, ≤ α <3 &lt;"),
        ("&lt;script&gt;alert(1)&lt;/script&gt; encoded", "alert(1) encoded"),
        ("&lt;b&gt;encoded&lt;/b&gt; markup is text", "<b>encoded</b> markup is text"),
    ],
)
def test_markup_goes_and_entities_are_decoded(summary, expected):
    [record] = hf_api.parse(json.dumps([minimal_entry(summary=summary)])).records
    assert record.abstract == expected


def test_wrong_types_in_optional_fields_give_unknowns():
    entry = minimal_entry(upvotes="12", githubStars=True, authors="Ada Lovelace", publishedAt="yesterday")
    entry["numComments"] = -1
    [record] = hf_api.parse(json.dumps([entry])).records
    assert (record.upvotes, record.github_stars, record.comments) == (None, None, None)
    assert record.authors == ()
    assert record.published is None
    assert record.listed_on == dt.date(2024, 5, 2)  # no submittedOnDailyAt: the entry's publishedAt


def test_bad_entries_are_skipped_with_a_line_each(fixtures_dir):
    data = entries(fixtures_dir, "2025-09-15")
    data[2]["paper"]["title"] = " \n "
    data[4]["paper"] = None
    data[5]["paper"]["id"] = "not-an-id"
    del data[6]["paper"]["id"]
    data.insert(8, "a string")
    data.append(copy.deepcopy(data[0]))

    result = hf_api.parse(json.dumps(data))

    assert result.errors == [
        "entry 3 (2509.08643): no title",
        "entry 5: expected a paper object, got null",
        "entry 6 (not-an-id): paper.id is not an arXiv id",
        "entry 7: no arXiv id",
        "entry 9: expected an object, got a string",
        "entry 14 (2509.09677): duplicate of entry 1",
    ]
    assert len(result.records) == 8
    assert "2509.08643" not in by_id(result)
    assert by_id(result)["2509.09734"].rank == 10  # ranks follow the list as served, gaps included


def test_empty_list_is_a_day_without_papers():
    result = hf_api.parse(b"[]")
    assert (result.records, result.errors) == ([], [])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "the response is empty"),
        (b"  \n ", "the response is empty"),
        (b"not json at all", "is not JSON"),
        (b'[{"paper": ', "is not JSON"),
        (
            b'{"error": "Invalid date"}',
            "expected a JSON list of entries, got an object with keys error (error: 'Invalid date')",
        ),
        (b'{"dailyPapers": []}', "got an object with keys dailyPapers"),
        (b'"a string"', "got a string"),
        (b"null", "got null"),
        (b"42", "got a number"),
        (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>", "got HTML or XML"),
        (b"\xff\xfe[\x00]\x00", "not UTF-8"),
        (b"[" * 100_000, "is not JSON"),
    ],
)
def test_malformed_payloads_raise_source_error(payload, message):
    with pytest.raises(SourceError) as caught:
        hf_api.parse(payload)
    assert message in str(caught.value)
    assert str(caught.value).startswith("HF daily papers: ")


# --- fetch -----------------------------------------------------------------------------------------


@pytest.fixture
def hf(settings, http_server):
    settings.HF_BASE_URL = http_server.url
    settings.PAPERBOY_HTTP_BACKOFF = 0.01
    settings.PAPERBOY_HTTP_RETRIES = 2
    return http_server


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        ({"day": dt.date(2025, 9, 15)}, "date=2025-09-15"),
        ({"day": dt.datetime(2025, 9, 15, 23, 59)}, "date=2025-09-15"),
        ({"week": "2025-W37"}, "week=2025-W37"),
        ({"week": "2026-W53"}, "week=2026-W53"),
        ({"month": "2025-09"}, "month=2025-09"),
    ],
)
def test_fetch_asks_for_the_right_period(hf, fixtures_dir, kwargs, query):
    hf.route("/api/daily_papers", raw(fixtures_dir, "2025-09-15"), headers={"Content-Type": "application/json"})

    body = hf_api.fetch(**kwargs)

    assert hf.requests == [f"/api/daily_papers?{query}"]
    assert body == raw(fixtures_dir, "2025-09-15")
    assert len(hf_api.parse(body).records) == 12


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"day": dt.date(2025, 9, 15), "week": "2025-W37"},
        {"day": "2025-09-15"},
        {"week": "2025-37"},
        {"week": "2025-W53"},  # 2025 has 52 ISO weeks
        {"week": "2025-W00"},
        {"month": "2025-13"},
        {"month": "2025-9"},
        {"month": "2025-09-01"},
        {"month": "2025-09\n"},
        {"week": "2025-W37\n"},
        {"week": "\u0662\u0660\u0662\u0665-W37"},  # Arabic-Indic digits are digits, but not in a URL
    ],
)
def test_fetch_rejects_bad_arguments_without_asking(settings, kwargs):
    settings.HF_BASE_URL = "http://127.0.0.1:9"  # nothing listens there: asking would raise SourceError
    with pytest.raises(ValueError, match=r"day|week|month"):
        hf_api.fetch(**kwargs)


def test_fetch_retries_a_503(hf, fixtures_dir):
    hf.route("/api/daily_papers", b"busy", status=503)
    hf.route("/api/daily_papers", raw(fixtures_dir, "2024-05-27"))

    assert len(hf_api.parse(hf_api.fetch(day=dt.date(2024, 5, 27))).records) == 13
    assert hf.requests == ["/api/daily_papers?date=2024-05-27"] * 2


def test_fetch_honours_retry_after_on_429(hf, fixtures_dir):
    hf.route("/api/daily_papers", b"slow down", status=429, headers={"Retry-After": "1"})
    hf.route("/api/daily_papers", raw(fixtures_dir, "2024-05-27"))

    assert hf_api.fetch(month="2024-05") == raw(fixtures_dir, "2024-05-27")
    assert len(hf.requests) == 2


def test_fetch_gives_up_on_a_persistent_500(hf, settings):
    settings.PAPERBOY_HTTP_RETRIES = 1
    hf.route("/api/daily_papers", b"boom", status=500)

    with pytest.raises(SourceError, match="HTTP 500"):
        hf_api.fetch(day=dt.date(2024, 5, 27))
    assert len(hf.requests) == 2  # the first try and one retry
