"""The arXiv export API: parsing real recorded responses, and fetching over a real local server."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from papers.sources import arxiv
from papers.sources.base import SourceError

ATOM_DIR = "arxiv_atom"
SEARCH_10 = "api_2026_search_testing_start0_max10.xml"
ONE_ID = "api_2026_idlist_1707.08567.xml"
OLD_ID = "api_2026_idlist_astro-ph_0601001_affiliation_jref.xml"
EMPTY = "api_2026_idlist_0808.05394_empty_result.xml"
ERROR_400 = "api_2026_idlist_abc_http400_error.xml"
LEGACY = "api_legacy_2017_search_deep_dream_page0.atom"
OAI = "other/arxiv_oai_pmh_listrecords_cs_2016-03-01_first10records.xml"


def read(fixtures_dir, name: str) -> bytes:
    return (fixtures_dir / ATOM_DIR / name).read_bytes()


def query_of(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query)


# --- parsing recorded responses -------------------------------------------------------------------


def test_search_page_2026_format(fixtures_dir):
    result = arxiv.parse(read(fixtures_dir, SEARCH_10))

    assert result.errors == []
    assert [r.arxiv_id for r in result.records] == [
        "2202.12139",
        "2405.13786",
        "2005.14124",
        "2204.08348",
        "2302.03287",
        "1202.4527",
        "2503.05378",
        "1205.1866",
        "2502.07719",
        "1812.11470",
    ]
    first = result.records[0]
    assert first.title == "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    assert first.authors == ("Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker")
    assert first.published == dt.date(2022, 2, 24)
    assert first.primary_category == "cs.SE"
    assert first.categories == ("cs.SE", "cs.LG")
    assert first.pdf_url == "https://arxiv.org/pdf/2202.12139v1"
    assert first.abstract.startswith("Deep Learning (DL) has revolutionized the capabilities")
    assert first.abstract.endswith("discuss its results.")
    # entities decoded once: "&amp;" in the XML is "&" in the title
    assert result.records[4].title == "ChatGPT and Software Testing Education: Promises & Perils"
    assert result.records[2].categories == ("cs.SE", "cs.CR", "cs.LG")


def test_single_id_lookup(fixtures_dir):
    result = arxiv.parse(read(fixtures_dir, ONE_ID))

    assert result.errors == []
    [record] = result.records
    assert record.arxiv_id == "1707.08567"
    assert record.title == "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    assert len(record.authors) == 34
    assert record.authors[0] == "Kees A. Schouhamer Immink"
    assert record.authors[-1] == "Hirosuke Yamamoto"
    assert record.published == dt.date(2017, 7, 27)
    assert record.categories == ("cs.IT",)
    assert record.primary_category == "cs.IT"


def test_old_style_id_with_affiliations_and_journal_ref(fixtures_dir):
    result = arxiv.parse(read(fixtures_dir, OLD_ID))

    [record] = result.records
    assert record.arxiv_id == "astro-ph/0601001"
    assert record.title.startswith("Frequency of Hot Jupiters and Very Hot Jupiters")
    # affiliations sit next to the names; they must not leak into them
    assert record.authors == ("Andrew Gould", "Susan Dorsher", "B. Scott Gaudi", "Andrzej Udalski")
    assert record.published == dt.date(2006, 1, 2)
    assert record.primary_category == "astro-ph"
    assert record.pdf_url == "https://arxiv.org/pdf/astro-ph/0601001v1"
    assert "V_max<17.5" in record.abstract  # "&lt;" decoded, and kept as text
    assert record.abstract.startswith("We derive")  # leading blanks trimmed


def test_empty_result_is_not_an_error(fixtures_dir):
    result = arxiv.parse(read(fixtures_dir, EMPTY))

    assert result.records == []
    assert result.errors == []


def test_error_feed_raises_with_arxivs_message(fixtures_dir):
    with pytest.raises(arxiv.ArxivApiError, match=r"^arXiv API error: incorrect id format for abc$"):
        arxiv.parse(read(fixtures_dir, ERROR_400))
    assert issubclass(arxiv.ArxivApiError, SourceError)


def test_legacy_2017_format(fixtures_dir):
    result = arxiv.parse(read(fixtures_dir, LEGACY))

    assert result.errors == []
    assert len(result.records) == 10
    first = result.records[0]
    assert first.arxiv_id == "1611.09520"
    # the legacy title is hard-wrapped over two lines; it comes out as one
    assert first.title == (
        "Hierarchical Neural Representation of Dreamed Objects Revealed by Brain "
        "Decoding with Deep Neural Network Features"
    )
    assert "\n" not in first.abstract
    assert "during sleep with patterns common" in first.abstract
    assert first.primary_category == "q-bio.NC"  # arxiv:primary_category with an inline xmlns
    assert first.published == dt.date(2016, 11, 29)
    assert first.pdf_url == "http://arxiv.org/pdf/1611.09520v2"
    by_id = {r.arxiv_id: r for r in result.records}
    assert by_id["1511.08339"].title == "Dreaming of atmospheres"
    assert by_id["1511.08339"].authors == ("I. P. Waldmann",)
    # MSC classes ("14C20, 14M99") arrive as <category> terms; only arXiv categories are kept
    assert by_id["1304.8005"].categories == ("math.AG",)
    assert by_id["0706.3031"].categories == ("math.CO",)
    assert by_id["1402.2297"].categories == ("cs.SI", "physics.soc-ph")
    assert by_id["1510.02795"].authors[0] == "Søren Hauberg"


def test_str_input_parses_like_bytes(fixtures_dir):
    data = read(fixtures_dir, ONE_ID)
    assert arxiv.parse(data.decode("utf-8")) == arxiv.parse(data)


def test_truncated_api_response_keeps_complete_entries(fixtures_dir):
    data = read(fixtures_dir, SEARCH_10)
    cut = data.index(b"<entry>", data.index(b"2204.08348")) + 200  # inside the 5th entry

    result = arxiv.parse(data[:cut])

    assert [r.arxiv_id for r in result.records] == ["2202.12139", "2405.13786", "2005.14124", "2204.08348"]
    assert len(result.errors) == 1
    assert "after 4 complete entries" in result.errors[0]
    assert "incomplete entry 5 was dropped" in result.errors[0]


def test_oai_pmh_listrecords(fixtures_dir):
    result = arxiv.parse_oai((fixtures_dir / OAI).read_bytes())

    assert result.errors == []
    assert len(result.records) == 10
    first = result.records[0]
    assert first.arxiv_id == "0704.0002"
    assert first.title == "Sparsity-certifying Graph Decompositions"
    assert first.authors == ("Ileana Streinu", "Louis Theran")
    assert first.categories == ("math.CO", "cs.CG")
    assert first.primary_category == "math.CO"
    assert first.published == dt.date(2007, 3, 30)
    assert "$(k,\\ell)$-pebble game" in first.abstract
    assert result.records[1].categories == ("quant-ph", "cs.IT", "math.IT")
    with pytest.raises(SourceError, match="expected an OAI-PMH response"):
        arxiv.parse_oai(read(fixtures_dir, ONE_ID))


def test_oai_error_and_deleted_record():
    no_match = b"""<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2016-03-01T00:00:00Z</responseDate>
      <error code="noRecordsMatch">no records</error></OAI-PMH>"""
    bad = no_match.replace(b"noRecordsMatch", b"badArgument")
    deleted = b"""<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>
      <record><header status="deleted"><identifier>oai:arXiv.org:0704.0001</identifier></header></record>
      </ListRecords></OAI-PMH>"""

    assert arxiv.parse_oai(no_match).records == []
    with pytest.raises(SourceError, match="OAI-PMH error badArgument: no records"):
        arxiv.parse_oai(bad)
    assert arxiv.parse_oai(deleted).errors == ["entry 1 (oai:arXiv.org:0704.0001): deleted record"]


# Written for these tests in the export API's Atom shape; the values are hostile on purpose.
HOSTILE = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom"
      xmlns="http://www.w3.org/2005/Atom">
  <opensearch:totalResults>4</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/abs/2401.00001v2</id>
    <title>&lt;script&gt;alert(1)&lt;/script&gt;Safe &lt;b&gt;bold&lt;/b&gt;\r\n   title with $\\alpha$</title>
    <summary>Line one\r\nline two &lt;img src=x onerror=alert(1)&gt; and $a&lt;b$ &lt;script</summary>
    <link href="javascript:alert(1)" rel="alternate" type="text/html"/>
    <link href="javascript:alert(document.cookie)" rel="related" type="application/pdf" title="pdf"/>
    <category term="cs.CL"/>
    <category term="&lt;script&gt;x&lt;/script&gt;"/>
    <arxiv:primary_category term="javascript:alert(1)"/>
    <published>2024-01-01T00:00:00Z</published>
    <author><name>Eve &lt;iframe src=//evil&gt;&lt;/iframe&gt;Hacker</name></author>
    <author><name>   </name></author>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2401.00002v1</id>
    <title>   </title>
  </entry>
  <entry>
    <title>No id here</title>
  </entry>
  <entry>
    <id>javascript:alert(1)</id>
    <title>A javascript id</title>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2401.00005v1</id>
    <title>A fine paper</title>
    <published>not a date</published>
  </entry>
</feed>
"""


def test_hostile_values_come_out_as_the_text_they_are_and_safe_urls():
    result = arxiv.parse(HOSTILE)

    assert [r.arxiv_id for r in result.records] == ["2401.00001", "2401.00005"]
    record = result.records[0]
    # XML text is text once parsed: "&lt;script&gt;" is the characters "<script>", kept as written
    # (pages, feeds and emails escape it), with only the line breaks collapsed.
    assert record.title == "<script>alert(1)</script>Safe <b>bold</b> title with $\\alpha$"
    assert "\r" not in record.title and "\n" not in record.title
    assert record.abstract == "Line one line two <img src=x onerror=alert(1)> and $a<b$ <script"
    assert record.authors == ("Eve <iframe src=//evil></iframe>Hacker",)
    assert record.pdf_url == "https://arxiv.org/pdf/2401.00001"  # the javascript: link was refused
    assert record.categories == ("cs.CL",)
    assert record.primary_category == ""  # an invalid primary category is "not known"
    assert result.records[1].published is None  # an unreadable date is "not known"
    assert result.errors == [
        "entry 2 (2401.00002): no title",
        "entry 3: no arXiv id",
        "entry 4: unrecognised arXiv id 'javascript:alert(1)'",
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!DOCTYPE html><html><head><title>503</title></head><body>Busy</body></html>", "found <html>"),
        (b'{"error": "rate limited"}', "not XML"),
        (b"Rate exceeded.", "not XML"),
        ("\x00\x01 random \ufffd text", "not XML"),
        (b"<?xml version='1.0'?><result><x/></result>", "found <result>"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'><title>cut", "breaks off before its first entry"),
        (b"<!DOCTYPE feed [<!ENTITY a 'aaaa'>]><feed xmlns='http://www.w3.org/2005/Atom'>&a;</feed>", "entities"),
    ],
)
def test_wholly_malformed_payloads_raise_source_error(payload, message):
    with pytest.raises(SourceError, match=message):
        arxiv.parse(payload)


def test_mathematics_and_tag_names_in_xml_text_are_kept_as_written():
    """arXiv text is plain text: a "<" in it is never markup, whatever follows it."""
    feed = ATOM_ENTRY.format(
        title="Bounds that hold when 0&lt;p and q&gt;1",
        summary="For $x&lt;i and j&gt;n$ the &lt;think&gt; and &lt;s&gt; tokens, &lt;b&gt;b&lt;/b&gt;, "
        "p&lt;0.05 &amp; $a &lt; b$.",
    )
    [record] = arxiv.parse(feed).records

    assert record.title == "Bounds that hold when 0<p and q>1"
    assert record.abstract == "For $x<i and j>n$ the <think> and <s> tokens, <b>b</b>, p<0.05 & $a < b$."


ATOM_ENTRY = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2401.00001v1</id>
<title>{title}</title><summary>{summary}</summary></entry></feed>"""
LAUGHS = """<?xml version="1.0" encoding="{encoding}"?>
<!DOCTYPE feed [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2401.00001v1</id>
<title>&lol9;</title></entry></feed>"""
EXTERNAL = """<?xml version="1.0" encoding="{encoding}"?>
<!DOCTYPE feed [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2401.00001v1</id>
<title>Leaked: &secret;</title></entry></feed>"""
PARAMETER = """<?xml version="1.0" encoding="{encoding}"?>
<!DOCTYPE feed [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2401.00001v1</id>
<title>x</title></entry></feed>"""
SMALL_ENTITY = """<?xml version="1.0" encoding="{encoding}"?>
<!DOCTYPE feed [<!ENTITY name "Expanded">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2401.00001v1</id>
<title>&name; title</title></entry></feed>"""


@pytest.mark.parametrize(
    "document", [LAUGHS, EXTERNAL, PARAMETER, SMALL_ENTITY], ids=["laughs", "external", "parameter", "small"]
)
@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16"])
def test_entity_declarations_are_refused_in_any_encoding(document, encoding):
    """A billion-laughs or external-entity document is refused before anything is expanded or fetched,
    in any encoding (a check for the bytes "<!ENTITY" never sees them in UTF-16), and says why."""
    data = document.format(encoding=encoding).encode(encoding.lower().replace("-", ""))
    for parse in (arxiv.parse, arxiv.parse_feed, arxiv.parse_oai):
        with pytest.raises(SourceError, match="declares XML entities, which no arXiv feed does"):
            parse(data)


def test_a_doctype_without_entities_is_still_read():
    feed = ATOM_ENTRY.format(title="Typed", summary="A feed with a DOCTYPE.").replace(
        "<feed", '<!DOCTYPE feed SYSTEM "http://127.0.0.1:9/feed.dtd">\n<feed', 1
    )
    [record] = arxiv.parse(feed).records  # the external DTD is not fetched (nothing listens on port 9)
    assert record.title == "Typed"


def test_deeply_nested_markup_is_refused_not_recursed():
    data = "<feed xmlns='http://www.w3.org/2005/Atom'>" + "<x>" * 5000
    with pytest.raises(SourceError):
        arxiv.parse(data)


# --- fetching over a real local HTTP server -------------------------------------------------------


@pytest.fixture
def api(settings, http_server):
    settings.ARXIV_API_URL = http_server.url
    settings.ARXIV_REQUEST_INTERVAL = 0
    settings.PAPERBOY_HTTP_BACKOFF = 0.01
    return http_server


def test_fetch_api_sends_the_query(api, fixtures_dir):
    api.route("/query", read(fixtures_dir, SEARCH_10))

    data = arxiv.fetch_api(search_query="cat:cs.CL", start=20, max_results=10)

    assert data == read(fixtures_dir, SEARCH_10)
    [path] = api.requests
    assert path.startswith("/query?")
    assert query_of(path) == {"search_query": ["cat:cs.CL"], "start": ["20"], "max_results": ["10"]}


def test_fetch_api_id_list(api, fixtures_dir):
    api.route("/query", read(fixtures_dir, OLD_ID))

    arxiv.fetch_api(id_list=["astro-ph/0601001", "1707.08567"], max_results=2)

    assert query_of(api.requests[0]) == {
        "id_list": ["astro-ph/0601001,1707.08567"],
        "start": ["0"],
        "max_results": ["2"],
    }


def test_fetch_api_http_400_raises_arxivs_message(api, fixtures_dir):
    api.route("/query", read(fixtures_dir, ERROR_400), status=400, headers={"Content-Type": "application/atom+xml"})

    with pytest.raises(arxiv.ArxivApiError, match="incorrect id format for abc"):
        arxiv.fetch_api(id_list=["abc"])
    assert len(api.requests) == 1  # a 400 is not retried


def test_fetch_api_http_400_without_error_feed(api):
    api.route("/query", b"<html>Bad Request</html>", status=400)

    with pytest.raises(SourceError, match="HTTP 400"):
        arxiv.fetch_api(search_query="all:x")


def test_fetch_api_retries_503_then_succeeds(api, fixtures_dir):
    api.route("/query", b"busy", status=503)
    api.route("/query", read(fixtures_dir, ONE_ID))

    result = arxiv.lookup_ids(["1707.08567"])

    assert [r.arxiv_id for r in result.records] == ["1707.08567"]
    assert result.errors == []
    assert len(api.requests) == 2


def test_fetch_api_rejects_empty_requests(api):
    with pytest.raises(ValueError, match="search_query or an id_list"):
        arxiv.fetch_api()
    with pytest.raises(ValueError, match="max_results"):
        arxiv.fetch_api(search_query="all:x", max_results=5000)
    assert api.requests == []


def test_lookup_ids_reports_invalid_and_missing_ids(api, fixtures_dir, monkeypatch):
    monkeypatch.setattr(arxiv, "ID_CHUNK", 1)
    api.route("/query", read(fixtures_dir, ONE_ID))
    api.route("/query", read(fixtures_dir, OLD_ID))
    api.route("/query", read(fixtures_dir, EMPTY))

    result = arxiv.lookup_ids(
        ["https://arxiv.org/abs/1707.08567v1", "arXiv:astro-ph/0601001v1", "0808.05394", "abc", "1707.08567"]
    )

    assert [r.arxiv_id for r in result.records] == ["1707.08567", "astro-ph/0601001"]
    assert result.errors == ["'abc': not an arXiv id", "0808.05394: not returned by the arXiv API"]
    assert [query_of(p)["id_list"] for p in api.requests] == [["1707.08567"], ["astro-ph/0601001"], ["0808.05394"]]


def test_lookup_ids_chunks_by_100(api, fixtures_dir):
    api.route("/query", read(fixtures_dir, EMPTY))
    ids = [f"2401.{n:05d}" for n in range(1, 151)]

    result = arxiv.lookup_ids(ids)

    assert len(api.requests) == 2
    first, second = (query_of(p) for p in api.requests)
    assert first["id_list"][0].split(",") == ids[:100] and first["max_results"] == ["100"]
    assert second["id_list"][0].split(",") == ids[100:] and second["max_results"] == ["50"]
    assert len(result.errors) == 150


def test_search_pages_through_results(api, fixtures_dir, monkeypatch):
    monkeypatch.setattr(arxiv, "PAGE_SIZE", 10)
    api.route("/query", read(fixtures_dir, SEARCH_10))
    api.route("/query", read(fixtures_dir, ONE_ID))

    result = arxiv.search("all:testing", max_results=15)

    assert len(result.records) == 11
    assert result.records[-1].arxiv_id == "1707.08567"
    pages = [query_of(p) for p in api.requests]
    assert [(q["search_query"], q["start"], q["max_results"]) for q in pages] == [
        (["all:testing"], ["0"], ["10"]),
        (["all:testing"], ["10"], ["5"]),
    ]


def test_search_stops_at_max_results_and_on_empty_pages(api, fixtures_dir):
    api.route("/query", read(fixtures_dir, SEARCH_10))

    assert len(arxiv.search("all:testing", max_results=3).records) == 3
    assert query_of(api.requests[-1])["max_results"] == ["3"]


def test_search_notes_an_empty_page_before_the_total(api, fixtures_dir, monkeypatch):
    monkeypatch.setattr(arxiv, "PAGE_SIZE", 10)
    api.route("/query", read(fixtures_dir, SEARCH_10))
    empty_but_more = read(fixtures_dir, EMPTY).replace(b"totalResults>0<", b"totalResults>50<")
    api.route("/query", empty_but_more)

    result = arxiv.search("all:testing", max_results=30)

    assert len(result.records) == 10
    assert result.errors == ["the arXiv API returned an empty page at start=10 of 50 results; stopped"]


def test_requests_are_spaced_by_the_interval(api, settings, fixtures_dir, monkeypatch):
    settings.ARXIV_REQUEST_INTERVAL = 0.2
    monkeypatch.setattr(arxiv, "ID_CHUNK", 1)
    api.route("/query", read(fixtures_dir, EMPTY))

    started = time.monotonic()
    arxiv.lookup_ids(["2401.00001", "2401.00002", "2401.00003"])

    assert len(api.requests) == 3
    assert time.monotonic() - started >= 0.4, "three requests: at least two intervals"
