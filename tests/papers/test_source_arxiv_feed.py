"""arXiv announcement feeds (rss.arxiv.org): the recorded Atom flavour, its truncated original,
an RSS 2.0 sample, and fetching over a real local server."""

from __future__ import annotations

import datetime as dt

import pytest

from papers.sources import arxiv
from papers.sources.base import SourceError

WELL_FORMED = "arxiv_rss/rss_arxiv_org_atom_cs.AI_2025-08-20_wellformed_86entries.xml"
TRUNCATED = "arxiv_rss/rss_arxiv_org_atom_cs.AI_2025-08-20_AS_STORED_not_wellformed.xml"

# A SAMPLE, not a capture: written for these tests from arXiv's documented RSS 2.0 format
# (https://info.arxiv.org/help/rss_specifications.html: channel elements, and items with title,
# link, description "arXiv:<id> Announce Type: <type> \nAbstract: ...", guid, category, pubDate,
# arxiv:announce_type, dc:rights, optional arxiv:DOI / arxiv:journal_reference, and dc:creator as
# one comma-separated string). No real RSS 2.0 capture exists in the fixtures. Ids are made up.
# arXiv puts a space before the newline after the announce type; \x20 keeps it without trailing blanks.
RSS_SAMPLE = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
  <channel>
    <title>cs.CL updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/cs.CL</link>
    <description>cs.CL updates on the arXiv.org e-print archive.</description>
    <atom:link href="http://rss.arxiv.org/rss/cs.CL" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>Tue, 16 Jan 2024 05:00:00 +0000</lastBuildDate>
    <managingEditor>rss-help@arxiv.org</managingEditor>
    <pubDate>Tue, 16 Jan 2024 00:00:00 -0500</pubDate>
    <skipDays>
      <day>Saturday</day>
      <day>Sunday</day>
    </skipDays>
    <item>
      <title>Sparse Attention with $\\mathcal{O}(n \\log n)$ Cost for Long Documents</title>
      <link>https://arxiv.org/abs/2401.07001</link>
      <description>arXiv:2401.07001v1 Announce Type: new\x20
Abstract: We show that attention over $n$ tokens needs only $\\mathcal{O}(n \\log n)$ work when $k &lt; 8$,
and that the &lt;b&gt;bound&lt;/b&gt; is tight.</description>
      <guid isPermaLink="false">oai:arXiv.org:2401.07001v1</guid>
      <category>cs.CL</category>
      <category>cs.LG</category>
      <pubDate>Tue, 16 Jan 2024 00:00:00 -0500</pubDate>
      <arxiv:announce_type>new</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>Ada Lovelace, Grace Hopper, Martin Luther King, Jr., Alan Turing</dc:creator>
    </item>
    <item>
      <title>Speech Tokenizers Revisited</title>
      <link>https://arxiv.org/abs/2401.06500</link>
      <description>arXiv:2401.06500v1 Announce Type: cross\x20
Abstract: Tokenizers for speech.</description>
      <guid isPermaLink="false">oai:arXiv.org:2401.06500v1</guid>
      <category>eess.AS</category>
      <category>cs.CL</category>
      <category>cs.SD</category>
      <pubDate>Tue, 16 Jan 2024 00:00:00 -0500</pubDate>
      <arxiv:announce_type>cross</arxiv:announce_type>
      <dc:rights>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</dc:rights>
      <dc:creator>Claude Shannon</dc:creator>
    </item>
    <item>
      <title>An Older Corpus, Revised</title>
      <link>https://arxiv.org/abs/2311.01234</link>
      <description>arXiv:2311.01234v3 Announce Type: replace\x20
Abstract: A corpus, now with errata.</description>
      <guid isPermaLink="false">oai:arXiv.org:2311.01234v3</guid>
      <category>cs.CL</category>
      <pubDate>Tue, 16 Jan 2024 00:00:00 -0500</pubDate>
      <arxiv:announce_type>replace</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <arxiv:DOI>10.1000/example.2024.1</arxiv:DOI>
      <arxiv:journal_reference>Journal of Examples 1 (2024) 1-10</arxiv:journal_reference>
      <dc:creator>Noam Chomsky, Barbara Partee</dc:creator>
    </item>
    <item>
      <title>Concentration of Mass in Rescaled Functionals</title>
      <link>https://arxiv.org/abs/2203.01250</link>
      <description>arXiv:2203.01250v3 Announce Type: replace-cross\x20
Abstract: We consider first order local minimization problems $\\min \\int f(u,\\nabla u)$.</description>
      <guid isPermaLink="false">oai:arXiv.org:2203.01250v3</guid>
      <category>math.AP</category>
      <category>cs.CL</category>
      <pubDate>Tue, 16 Jan 2024 00:00:00 -0500</pubDate>
      <arxiv:announce_type>replace-cross</arxiv:announce_type>
      <dc:creator>Antonin Monteil, Paul Pegon</dc:creator>
    </item>
  </channel>
</rss>
"""


@pytest.fixture
def well_formed(fixtures_dir) -> bytes:
    return (fixtures_dir / WELL_FORMED).read_bytes()


def test_atom_feed_all_86_entries(well_formed):
    result = arxiv.parse(well_formed)

    assert result.errors == []
    assert len(result.records) == 86
    assert len({r.arxiv_id for r in result.records}) == 86
    first = result.records[0]
    assert first.arxiv_id == "2508.13167"
    assert first.title == (
        "Chain-of-Agents: End-to-End Agent Foundation Models via Multi-Agent Distillation and Agentic RL"
    )
    # the "arXiv:... Announce Type: new \nAbstract:" preamble is not part of the abstract
    assert first.abstract.startswith("Recent advances in large language models (LLMs) and multi-agent systems")
    assert len(first.authors) == 30  # dc:creator is one comma-separated string
    assert first.authors[:2] == ("Weizhen Li", "Jianbo Lin")
    assert first.authors[-1] == "Wangchunshu Zhou"
    assert first.categories == ("cs.AI", "cs.CL")
    assert first.primary_category == "cs.AI"
    assert first.published == dt.date(2025, 8, 20)
    assert first.pdf_url == "https://arxiv.org/pdf/2508.13167"
    assert result.records[1].authors == ("Tao An",)
    assert "p < 0.001 and Cohen's d > 23" in result.records[1].abstract


def test_atom_feed_cross_listings_keep_their_own_primary(well_formed):
    result = arxiv.parse(well_formed)
    last = result.records[-1]

    assert last.arxiv_id == "2508.13434"
    assert last.title == "EventTSF: Event-Aware Non-Stationary Time Series Forecasting"
    assert last.categories == ("cs.LG", "cs.AI")
    assert last.primary_category == "cs.LG"
    assert last.published == dt.date(2025, 8, 20)
    assert last.abstract.endswith("$1.13\\times$ faster training efficiency.")  # LaTeX kept as typed
    assert sum(r.primary_category == "cs.AI" for r in result.records) == 41


def test_atom_feed_announce_type_filter(well_formed):
    assert len(arxiv.parse_feed(well_formed).records) == 86  # default: new + cross
    new_only = arxiv.parse_feed(well_formed, announce_types=("new",))
    cross_only = arxiv.parse_feed(well_formed, announce_types=["cross"])

    assert len(new_only.records) == 41
    assert len(cross_only.records) == 45
    assert all(r.primary_category == "cs.AI" for r in new_only.records)
    assert all(r.primary_category != "cs.AI" for r in cross_only.records)
    assert arxiv.parse_feed(well_formed, announce_types=("replace", "replace-cross")).records == []
    assert arxiv.parse_feed(well_formed, announce_types="new").records == new_only.records
    assert len(arxiv.parse_feed(well_formed, announce_types=None).records) == 86


def test_truncated_feed_salvages_complete_entries(fixtures_dir, well_formed):
    data = (fixtures_dir / TRUNCATED).read_bytes()

    result = arxiv.parse(data)

    assert result.records == arxiv.parse(well_formed).records  # all 86 complete ones, nothing of the 87th
    assert "2508.13435" not in {r.arxiv_id for r in result.records}
    assert len(result.errors) == 1
    assert result.errors[0].startswith("feed truncated or not well-formed after 86 complete entries")
    assert result.errors[0].endswith("the incomplete entry 87 was dropped")
    assert len(arxiv.parse_feed(data, announce_types=("new",)).records) == 41


def test_rss_sample_keeps_all_announce_types_in_parse():
    result = arxiv.parse(RSS_SAMPLE)

    assert result.errors == []
    assert [r.arxiv_id for r in result.records] == ["2401.07001", "2401.06500", "2311.01234", "2203.01250"]
    new = result.records[0]
    assert new.title == "Sparse Attention with $\\mathcal{O}(n \\log n)$ Cost for Long Documents"
    # arXiv's abstracts are plain text: "&lt;b&gt;" in the XML is the text "<b>", kept as written.
    assert new.abstract == (
        "We show that attention over $n$ tokens needs only $\\mathcal{O}(n \\log n)$ work when $k < 8$, "
        "and that the <b>bound</b> is tight."
    )
    assert new.authors == ("Ada Lovelace", "Grace Hopper", "Martin Luther King, Jr.", "Alan Turing")
    assert new.categories == ("cs.CL", "cs.LG")
    assert new.primary_category == "cs.CL"
    assert new.published == dt.date(2024, 1, 16)  # RFC 822 pubDate, in its own time zone
    assert new.pdf_url == "https://arxiv.org/pdf/2401.07001"
    cross = result.records[1]
    assert cross.primary_category == "eess.AS"
    assert cross.published == dt.date(2024, 1, 16)
    # a replacement's pubDate is the day of the replacement, not of the paper: "not known"
    assert result.records[2].published is None
    assert result.records[3].published is None
    assert result.records[3].authors == ("Antonin Monteil", "Paul Pegon")
    assert (
        result.records[3].abstract
        == "We consider first order local minimization problems $\\min \\int f(u,\\nabla u)$."
    )


def test_rss_sample_announce_type_filter():
    assert [r.arxiv_id for r in arxiv.parse_feed(RSS_SAMPLE).records] == ["2401.07001", "2401.06500"]
    replaced = arxiv.parse_feed(RSS_SAMPLE, announce_types=("replace", "replace-cross"))
    assert [r.arxiv_id for r in replaced.records] == ["2311.01234", "2203.01250"]


def test_rss_id_falls_back_to_description_then_link():
    no_guid = RSS_SAMPLE.replace('<guid isPermaLink="false">oai:arXiv.org:2401.07001v1</guid>', "")
    no_guid_no_link = no_guid.replace("<link>https://arxiv.org/abs/2401.07001</link>", "")
    link_only = RSS_SAMPLE.replace("arXiv:2401.06500v1 Announce Type: cross", "").replace(
        '<guid isPermaLink="false">oai:arXiv.org:2401.06500v1</guid>', ""
    )

    assert arxiv.parse(no_guid).records[0].arxiv_id == "2401.07001"
    assert arxiv.parse(no_guid_no_link).records[0].arxiv_id == "2401.07001"
    assert arxiv.parse(link_only).records[1].arxiv_id == "2401.06500"


def test_rss_bad_items_are_skipped_with_an_error_line():
    broken = RSS_SAMPLE.replace("<title>Speech Tokenizers Revisited</title>", "<title> </title>").replace(
        '<guid isPermaLink="false">oai:arXiv.org:2311.01234v3</guid>', "<guid>not-an-id</guid>"
    )
    broken = broken.replace("<link>https://arxiv.org/abs/2311.01234</link>", "<link>javascript:alert(1)</link>")
    broken = broken.replace("arXiv:2311.01234v3 Announce Type: replace", "Announce Type: replace")

    result = arxiv.parse(broken)

    assert [r.arxiv_id for r in result.records] == ["2401.07001", "2203.01250"]
    assert result.errors == ["entry 2 (2401.06500): no title", "entry 3: unrecognised arXiv id 'not-an-id'"]


def test_empty_weekend_feed_is_not_an_error():
    empty = RSS_SAMPLE[: RSS_SAMPLE.index("<item>")] + "</channel>\n</rss>\n"
    result = arxiv.parse_feed(empty)
    assert result.records == [] and result.errors == []


def test_rss_truncated_mid_item():
    cut = RSS_SAMPLE[: RSS_SAMPLE.index("An Older Corpus")]
    result = arxiv.parse_feed(cut, announce_types=None)

    assert [r.arxiv_id for r in result.records] == ["2401.07001", "2401.06500"]
    assert result.errors == [result.errors[0]]
    assert "after 2 complete entries" in result.errors[0] and "entry 3 was dropped" in result.errors[0]


def test_feed_cut_before_its_first_item_raises():
    with pytest.raises(SourceError, match="before its first entry"):
        arxiv.parse_feed(RSS_SAMPLE[: RSS_SAMPLE.index("Sparse Attention")])


# --- fetching ---------------------------------------------------------------------------------


@pytest.fixture
def feeds(settings, http_server):
    settings.ARXIV_RSS_URL = http_server.url
    settings.PAPERBOY_HTTP_BACKOFF = 0.01
    return http_server


def test_fetch_feed_rss_and_atom_paths(feeds, well_formed):
    feeds.route("/rss/cs.CL", RSS_SAMPLE, headers={"Content-Type": "application/rss+xml"})
    feeds.route("/atom/cs.AI+cs.CL", well_formed)

    rss = arxiv.fetch_feed("cs.CL")
    atom = arxiv.fetch_feed("cs.AI+cs.CL", flavour="atom")

    assert feeds.requests == ["/rss/cs.CL", "/atom/cs.AI+cs.CL"]
    assert len(arxiv.parse_feed(rss).records) == 2
    assert len(arxiv.parse_feed(atom).records) == 86


@pytest.mark.parametrize("category", ["cs.CL", "math.GT", "astro-ph", "hep-th", "astro-ph.CO", "cond-mat.mes-hall"])
def test_fetch_feed_accepts_real_categories(feeds, category):
    feeds.route(f"/rss/{category}", RSS_SAMPLE)
    assert arxiv.fetch_feed(category) == RSS_SAMPLE.encode()


@pytest.mark.parametrize(
    "category",
    ["", "cs CL", "../admin", "cs.CL/../x", "cs.CL?x=1", "cs.CL+", "CS.CL", "cs.CL;rm", "cs.FOO", "cs.CL+xx.YY"],
)
def test_fetch_feed_rejects_bad_categories(feeds, category):
    with pytest.raises(ValueError, match="not an arXiv category"):
        arxiv.fetch_feed(category)
    assert feeds.requests == []


def test_fetch_feed_rejects_unknown_flavour(feeds):
    with pytest.raises(ValueError, match="flavour"):
        arxiv.fetch_feed("cs.CL", flavour="rdf")


def test_fetch_feed_http_errors_become_source_errors(feeds):
    feeds.route("/rss/cs.CL", b"busy", status=503)
    feeds.route("/rss/cs.CL", RSS_SAMPLE)
    feeds.route("/rss/cs.GL", b"not found", status=404)

    assert arxiv.fetch_feed("cs.CL") == RSS_SAMPLE.encode()  # 503 retried
    with pytest.raises(SourceError, match="404"):
        arxiv.fetch_feed("cs.GL")


def test_tex_in_author_names_becomes_the_letters_it_means(well_formed):
    """The real feed writes accents in TeX ("Kra{\\ss}", "J\\"org"); pages and emails show names."""
    authors = {name for record in arxiv.parse(well_formed).records for name in record.authors}

    assert {"Hendrik Kraß", "Anders Søgaard", "Jörg Hoffmann", "Nikola Pižurica", "Jan Jakubův"} <= authors
    assert {"Mikoláš Janota", "Alán Aspuru-Guzik", "Inès Blin", "Alexander Rodríguez"} <= authors
    assert [name for name in authors if "\\" in name or "{" in name] == []
