"""Property tests: whatever bytes reach hf_api.parse, hf_page.parse or text_dump.parse, the only
exception that escapes is SourceError, and every record holds plain one-line text and safe links.
Also papers.text.html_to_text itself, which reads every text these HTML sources give: no opener of
active markup ever comes out, and mathematics that merely looks like a tag comes out as written."""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papers.sources import hf_api, hf_page, text_dump
from papers.sources.base import PaperRecord, ParseResult, SourceError
from papers.text import canonical_arxiv_id, html_to_text, plain_text, safe_url

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# Each example of these runs several parsers over generated or mutated structures.
COMPOUND = settings(FUZZ, max_examples=100)
PARSERS = {"hf": hf_api.parse, "hf-page": hf_page.parse, "text": text_dump.parse}
DAYS = ("2024-05-27", "2025-09-15", "2026-08-21")

HOSTILE = [
    "<script>alert(1)</script>",
    "<script",
    "<SCRIPT/x>",
    "<scr<script>ipt>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&lt;script",
    "&#60;script&#62;",
    "<svg/onload=alert(1)>",
    "<b>bold</b>",
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/x.png",
    "https://ok.example/x.png",
    "http://",
    "https://exa mple.org/",
    "\r\n",
    "\n",
    "\u2028",
    "\x00",
    "\x1b[31m",
    "2405.01234",
    "arXiv:2405.01234v2",
    "https://huggingface.co/papers/2405.01234",
    "p<0.05",
    "0<p and q>1",
    "$x<i and j>n$",
    "<center>",
    "<details open ontoggle=alert(1)>",
    "<video onerror=alert(1)>",
    "</details>",
    "<!--",
    "-->",
    "<scr",
    "ipt>",
    "&lt;scr",
    "ipt&gt;",
    "<p title='<script>'>",
]
# "<script" in any form, or the opener of another element that runs or loads something.
ACTIVE_OPENER = re.compile(
    r"</?(?:script|(?:iframe|svg|img|object|embed|style|math|meta|link|base)(?![a-z0-9-]))", re.I
)
hostile_text = st.sampled_from(HOSTILE) | st.lists(st.sampled_from(HOSTILE) | st.text(max_size=8), max_size=6).map(
    "".join
)
KEYS = [
    "paper",
    "id",
    "title",
    "summary",
    "authors",
    "name",
    "hidden",
    "upvotes",
    "publishedAt",
    "submittedOnDailyAt",
    "thumbnail",
    "mediaUrl",
    "mediaUrls",
    "githubRepo",
    "githubStars",
    "projectPage",
    "organization",
    "fullname",
    "submittedBy",
    "submittedOnDailyBy",
    "ai_summary",
    "ai_keywords",
    "numComments",
    "dailyPapers",
    "comments",
    "dailyPaperRank",
]
ids = st.sampled_from(["2405.01234", "2405.01234v3", "hep-th/9901001", "https://arxiv.org/abs/2405.01234", "x"])
leaves = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | hostile_text | ids
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=30,
)
WRONG = [None, "", "a string", "12", -1, 2**40, 3.5, True, [], {}, ["<script>x</script>"], {"name": None}]
wrong_values = st.sampled_from(WRONG) | hostile_text | json_values


def check(parse, data) -> ParseResult | None:
    """Run ``parse``; a SourceError is fine, anything else must be a clean result."""
    try:
        result = parse(data)
    except SourceError as exc:
        assert str(exc).strip()
        return None
    assert isinstance(result, ParseResult)
    assert all(isinstance(line, str) and line for line in result.errors)
    for record in result.records:
        check_record(record)
    return result


def check_record(record: PaperRecord) -> None:
    assert isinstance(record, PaperRecord)
    assert record.title
    texts = [record.title, record.abstract, record.ai_summary, record.submitter, record.organization]
    for text in [*texts, *record.authors, *record.ai_keywords]:
        assert isinstance(text, str)
        assert not ACTIVE_OPENER.search(text)
        assert text == text.strip()
        assert not any(char in text for char in "\r\n\x00\u2028")
    assert all(record.authors) and all(record.ai_keywords)
    for url in (record.pdf_url, record.project_url, record.github_url, record.thumbnail_url):
        assert url == "" or (safe_url(url) == url and url.lower().startswith(("http://", "https://")))
    assert record.arxiv_id == "" or canonical_arxiv_id(record.arxiv_id) == record.arxiv_id
    for number in (record.upvotes, record.comments, record.github_stars, record.rank):
        assert number is None or (isinstance(number, int) and not isinstance(number, bool) and number >= 0)
    assert record.published is None or isinstance(record.published, dt.date)
    assert record.listed_on is None or isinstance(record.listed_on, dt.date)


def listing_page(props: object) -> str:
    attribute = html.escape(json.dumps(props), quote=True)
    return (
        '<html><body><div class="SVELTE_HYDRATER contents" data-target="DailyPapers" '
        f'data-props="{attribute}"></div></body></html>'
    )


def paper_page(props: object) -> str:
    attribute = html.escape(json.dumps(props), quote=True)
    return (
        '<html><head><meta property="og:image" content="https://cdn.example.org/t.png"></head><body>'
        '<div class="SVELTE_HYDRATER contents" data-target="PaperContent" '
        f"data-props='{attribute}'></div></body></html>"
    )


@pytest.fixture(scope="module")
def real_entries(fixtures_dir) -> dict[str, list]:
    return {day: json.loads((fixtures_dir / "hf_api" / f"daily_papers_date_{day}.json").read_bytes()) for day in DAYS}


@pytest.fixture(scope="module")
def real_paper_props(fixtures_dir) -> dict:
    from bs4 import BeautifulSoup

    page = (fixtures_dir / "hf_html" / "hf_paper_page_2509.24002_prettified.html").read_text()
    island = BeautifulSoup(page, "html.parser").find(None, {"data-target": "PaperContent"})
    assert island is not None
    props = island["data-props"]
    assert isinstance(props, str)
    return json.loads(props)


def mutate(draw, value: object, rounds: int) -> object:
    """``value`` with ``rounds`` random deletions or replacements anywhere inside it."""
    value = copy.deepcopy(value)
    for _ in range(rounds):
        parent: dict[str, object] | list[object] | None = None
        key: Any = None  # parent's key: a str in a dict, an int in a list
        node = value
        while isinstance(node, dict | list) and node and draw(st.integers(0, 3)) > 0:
            parent = node
            key = draw(st.sampled_from(sorted(node))) if isinstance(node, dict) else draw(st.integers(0, len(node) - 1))
            node = node[key]
        if parent is None:
            continue
        if draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(wrong_values)
    return value


# --- random input ----------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=300))
@pytest.mark.parametrize("name", PARSERS)
def test_random_bytes(name, data):
    check(PARSERS[name], data)


@FUZZ
@given(data=st.text(max_size=300) | hostile_text)
@pytest.mark.parametrize("name", PARSERS)
def test_random_text(name, data):
    check(PARSERS[name], data)


@COMPOUND
@given(value=json_values)
def test_random_json(value):
    check(hf_api.parse, json.dumps(value))
    check(hf_api.parse, json.dumps([value]))
    check(hf_page.parse, listing_page({"dailyPapers": value}))
    check(hf_page.parse, listing_page(value))
    check(hf_page.parse, paper_page({"paper": value, "dailyPaperRank": value}))
    check(text_dump.parse, json.dumps(value, indent=2))


FRAGMENTS = [
    "<html>",
    "<body>",
    "</div>",
    "<h3>",
    "</h3>",
    "<a ",
    'href="/papers/2405.01234"',
    "href='/papers/2405.01234v2#x'",
    'href="/papers/date/2024-05-27"',
    'href="javascript:alert(1)"',
    ">",
    "</a>",
    "<script>",
    "</script>",
    '<div class="SVELTE_HYDRATER" data-target="DailyPapers" data-props="',
    '<div data-target="PaperContent" data-props=\'',
    "{&quot;dailyPapers&quot;:[",
    "{&quot;paper&quot;:{&quot;id&quot;:&quot;2405.01234&quot;}}",
    '"',
    "'",
    "<!--",
    "<title>",
    "</title>",
    "&lt;script",
    '<meta property="og:image" content="javascript:x">',
]


@COMPOUND
@given(parts=st.lists(st.sampled_from(FRAGMENTS) | hostile_text, max_size=25))
def test_random_markup(parts):
    check(hf_page.parse, "".join(parts))


# --- html_to_text on its own ------------------------------------------------------------------------


@FUZZ
@given(value=hostile_text | st.lists(st.sampled_from(FRAGMENTS) | hostile_text, max_size=25).map("".join))
def test_html_to_text_never_gives_active_markup(value):
    text = html_to_text(value)
    assert not ACTIVE_OPENER.search(text)
    assert text == plain_text(text)  # one line, stripped, no control characters


# Names of real elements, written as variables, and words that are no HTML attribute.
VARIABLES = ["p", "q", "i", "j", "b", "a", "s", "u", "n", "x", "k", "em", "sub", "code", "center", "video", "0", "1"]
WORDS = ["and", "or", "if", "then", "but", "while", "iff", "vs"]
comparisons = st.builds(
    "{}<{} {} {}>{}".format,
    *(st.sampled_from(VARIABLES), st.sampled_from(VARIABLES), st.sampled_from(WORDS)),
    *(st.sampled_from(VARIABLES), st.sampled_from(VARIABLES)),
)
mathematics = st.lists(
    comparisons
    | comparisons.map("${}$".format)
    | st.sampled_from(["p<0.05", "a < b", "x<y", "<think>", "n>1", "<|endoftext|>", "$a<b$", "3<4>2"])
    | st.text(alphabet="abcxyz019 +-=()$^_{}\\", max_size=6),
    min_size=1,
    max_size=8,
).map(" ".join)


@FUZZ
@given(value=mathematics)
def test_html_to_text_keeps_mathematics_as_written(value):
    assert html_to_text(value) == " ".join(value.split())


# --- mutated real data -----------------------------------------------------------------------------


@COMPOUND
@given(data=st.data())
def test_mutated_api_entries(real_entries, data):
    day = data.draw(st.sampled_from(DAYS))
    start = data.draw(st.integers(0, len(real_entries[day]) - 1))
    entries = mutate(
        data.draw, real_entries[day][start : start + data.draw(st.integers(1, 4))], data.draw(st.integers(1, 6))
    )

    result = check(hf_api.parse, json.dumps(entries))

    # Still a list: every entry either lands or is accounted for in one error line.
    assert result is not None
    assert len(result.records) + len(result.errors) == len(entries)
    assert all(record.arxiv_id for record in result.records)
    # The listing page carries the same entries and must give the same answer.
    assert check(hf_page.parse, listing_page({"dailyPapers": entries})) == result


# Where an entry carries text or links, as (container path, key); containers are created when missing.
FIELDS = [
    (("paper",), "title"),
    (("paper",), "summary"),
    (("paper", "authors", 0), "name"),
    (("paper",), "githubRepo"),
    (("paper",), "projectPage"),
    (("paper",), "ai_summary"),
    (("paper", "ai_keywords"), 0),
    ((), "thumbnail"),
    ((), "mediaUrl"),
    (("mediaUrls",), 0),
    (("submittedBy",), "fullname"),
    (("paper", "organization"), "fullname"),
    (("paper", "submittedOnDailyBy"), "name"),
]


@COMPOUND
@given(data=st.data())
def test_hostile_values_in_real_entries(real_entries, data):
    day = data.draw(st.sampled_from(DAYS))
    entry = copy.deepcopy(real_entries[day][data.draw(st.integers(0, len(real_entries[day]) - 1))])
    for path, key in data.draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4)):
        node = entry
        for step, next_step in zip(path, (*path, key)[1:], strict=True):
            if isinstance(node, dict) and not isinstance(node.get(step), dict | list):
                node[step] = [{}] if isinstance(next_step, int) else {}
            node = node[step]
        if isinstance(node, list):
            node[:1] = [data.draw(hostile_text)]
        else:
            node[key] = data.draw(hostile_text)

    result = check(hf_api.parse, json.dumps([entry]))

    assert result is not None and len(result.records) + len(result.errors) == 1
    assert check(hf_page.parse, listing_page({"dailyPapers": [entry]})) == result


@COMPOUND
@given(data=st.data())
def test_mutated_paper_page(real_paper_props, data):
    props = mutate(data.draw, real_paper_props, data.draw(st.integers(1, 6)))
    check(hf_page.parse, paper_page(props))


@COMPOUND
@given(data=st.data())
def test_mutated_text_dump(real_entries, data):
    day = data.draw(st.sampled_from(DAYS))
    papers = [entry["paper"] for entry in real_entries[day][: data.draw(st.integers(1, 5))]]
    lines = ["Get trending papers in your email inbox!", "", "Subscribe", ""]
    for paper in papers:
        title = data.draw(st.sampled_from([paper["title"].replace("\n", " ")]) | hostile_text)
        lines += [title, "", paper["summary"], ""]
    text = data.draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    cut = data.draw(st.integers(0, len(text)))
    check(text_dump.parse, data.draw(st.sampled_from([text, text[:cut], text[cut:] + text[:cut]])))


@pytest.mark.parametrize(
    ("path", "value", "expected_error"),
    [
        (("paper", "authors"), "Ada Lovelace, Alan Turing", None),
        (("paper", "upvotes"), "12", None),
        (("paper", "publishedAt"), 20240527, None),
        (("paper",), None, "entry 1: expected a paper object, got null"),
        (("paper", "title"), ["a", "list"], None),  # the entry's own title stands in
        (("paper", "id"), 2405.15738, "entry 1: paper.id is not an arXiv id"),
    ],
)
def test_named_wrong_types(real_entries, path, value, expected_error):
    entries = copy.deepcopy(real_entries["2024-05-27"][:3])
    node = entries[0]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value

    result = check(hf_api.parse, json.dumps(entries))

    assert result is not None
    assert result.errors == ([expected_error] if expected_error else [])
    assert len(result.records) == (2 if expected_error else 3)
    if not expected_error:
        first = result.records[0]
        assert first.arxiv_id == "2405.15738"
        assert first.title.startswith("ConvLLaVA")
        assert first.authors == (() if path[-1] == "authors" else first.authors)
        assert first.upvotes == (None if path[-1] == "upvotes" else 32)
