"""Property tests: whatever bytes reach the arXiv parsers, the only exception out is SourceError,
and every record that does come out is clean (canonical id, one-line text, safe URLs). XML text is
text: what an entry says comes out as it said it, markup-looking or not (rendering escapes it)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papers.sources import arxiv
from papers.sources.arxiv_xml import CATEGORY
from papers.sources.base import ParseResult, SourceError
from papers.text import canonical_arxiv_id, safe_url

FIXTURES = [
    "arxiv_atom/api_2026_search_testing_start0_max10.xml",
    "arxiv_atom/api_2026_idlist_astro-ph_0601001_affiliation_jref.xml",
    "arxiv_atom/api_legacy_2017_search_deep_dream_page0.atom",
    "arxiv_atom/api_2026_idlist_0808.05394_empty_result.xml",
    "arxiv_atom/api_2026_idlist_abc_http400_error.xml",
    "arxiv_rss/rss_arxiv_org_atom_cs.AI_2025-08-20_wellformed_86entries.xml",
    "other/arxiv_oai_pmh_listrecords_cs_2016-03-01_first10records.xml",
]
PARSERS = [arxiv.parse, arxiv.parse_feed, arxiv.parse_oai]
INJECTIONS = [
    "<script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&amp;lt;script&amp;gt;",
    "&lt;scr&lt;script&gt;ipt",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<title>",
    "</entry>",
    "<entry><id>http://arxiv.org/abs/2401.00001v1</id><title>x</title></entry>",
    '<link title="pdf" href="javascript:alert(1)"/>',
    "javascript:alert(1)",
    "\r\n",
    "\x00",
    "&#0;",
    "&bogus;",
    "<!ENTITY x 'y'>",
    "]]>",
    "<",
    "&",
    "\u2028",
    "<author><name>&lt;img src=x onerror=alert(1)&gt;</name></author>",
]
CONTROL = r"[\x00-\x1f\x7f\u2028\u2029]"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def corpus(fixtures_dir) -> list[bytes]:
    return [(fixtures_dir / name).read_bytes() for name in FIXTURES]


def check(parser, data) -> ParseResult | None:
    """Run ``parser``; allow SourceError only; hold every record to the invariants."""
    try:
        result = parser(data)
    except SourceError as exc:
        assert str(exc)  # a readable message, never empty
        return None
    assert isinstance(result, ParseResult)
    for record in result.records:
        assert record.arxiv_id and canonical_arxiv_id(record.arxiv_id) == record.arxiv_id
        assert record.title and record.title == record.title.strip()
        for text in (record.title, record.abstract, *record.authors, *record.categories, record.primary_category):
            assert text == text.strip()
            assert not re.search(CONTROL, text)
        assert all(CATEGORY.match(category) for category in record.categories)
        for url in (record.pdf_url, record.project_url, record.github_url, record.thumbnail_url):
            assert url == safe_url(url)
        assert record.pdf_url.startswith(("https://", "http://"))
    assert all(isinstance(line, str) and line for line in result.errors)
    return result


@FUZZ
@given(data=st.binary(max_size=3000), parser=st.sampled_from(PARSERS))
def test_random_bytes(data, parser):
    check(parser, data)


@FUZZ
@given(data=st.text(max_size=2000), parser=st.sampled_from(PARSERS))
def test_random_text(data, parser):
    check(parser, data)


# Pieces that plain-text cleaning has to get right when they meet: tags, half tags, entities.
FRAGMENTS = [
    "<script",
    "&lt;script",
    "<scr",
    "ipt",
    "<",
    ">",
    "&gt;",
    "</script>",
    "<b>",
    "&lt;",
    "&amp;",
    " ",
    "\n",
    "$a<b$",
    "0<p and q>1",
    "$x<i and j>n$",
    "<think>",
    "<s>",
]
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=300),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=30).map("".join),
)
WRAPPERS = [
    "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>http://arxiv.org/abs/2401.00001</id>"
    "<title>{0}</title><summary>{0}</summary><author><name>{0}</name></author></entry></feed>",
    "<rss xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><item><guid>oai:arXiv.org:2401.00001v1</guid>"
    "<title>{0}</title><description>{0}</description><dc:creator>{0}</dc:creator></item></channel></rss>",
]


@FUZZ
@given(body=HOSTILE_TEXT, wrapper=st.sampled_from(WRAPPERS), twice=st.booleans())
def test_hostile_text_inside_a_valid_entry(body, wrapper, twice):
    escaped = escape(body)
    result = check(arxiv.parse, wrapper.format(escape(escaped) if twice else escaped))
    if result is not None and result.records:
        [record] = result.records
        assert record.arxiv_id == "2401.00001"
        # The title is the XML's text, decoded once, on one line: "$a<b$", "<b>" and "&lt;" as written.
        assert record.title == " ".join(re.sub(CONTROL, " ", escaped if twice else body).split())


@FUZZ
@given(st.data())
def test_truncated_fixtures(corpus, data):
    document = data.draw(st.sampled_from(corpus))
    cut = data.draw(st.integers(min_value=0, max_value=len(document)))
    check(data.draw(st.sampled_from(PARSERS)), document[:cut])


@FUZZ
@given(st.data())
def test_fixtures_with_injected_markup(corpus, data):
    document = bytearray(data.draw(st.sampled_from(corpus)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
        # inject at a random offset, or right inside a title / name / summary where it hurts most
        text = data.draw(st.sampled_from(INJECTIONS)).encode()
        targets = [m.end() for m in re.finditer(rb"<(?:title|name|summary|id)>", document)]
        if targets and data.draw(st.booleans()):
            offset = data.draw(st.sampled_from(targets))
        else:
            offset = data.draw(st.integers(min_value=0, max_value=len(document)))
        document[offset:offset] = text
    check(data.draw(st.sampled_from(PARSERS)), bytes(document))


@FUZZ
@given(st.data())
def test_fixtures_with_deleted_lines(corpus, data):
    lines = data.draw(st.sampled_from(corpus)).splitlines(keepends=True)
    doomed = data.draw(st.sets(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)), max_size=8))
    check(arxiv.parse, b"".join(line for i, line in enumerate(lines) if i not in doomed))


@FUZZ
@given(st.data())
def test_fixtures_with_deleted_elements(corpus, data):
    """Well-formed documents with random elements removed: the parser must cope with anything missing."""
    root = ET.fromstring(data.draw(st.sampled_from(corpus)))
    parents = [element for element in root.iter() if len(element)]
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        parent = data.draw(st.sampled_from(parents))
        if len(parent):
            parent.remove(parent[data.draw(st.integers(min_value=0, max_value=len(parent) - 1))])
    result = check(arxiv.parse, ET.tostring(root))
    if result is not None:
        assert len(result.records) + len(result.errors) <= 86


def test_the_checker_can_fail():
    """The invariants above are real: a dirty record breaks them."""
    from papers.sources.base import PaperRecord

    def dirty(_data):
        return ParseResult(records=[PaperRecord(arxiv_id="2401.00001", title="<script>x", pdf_url="javascript:x")])

    with pytest.raises(AssertionError):
        check(dirty, b"")
