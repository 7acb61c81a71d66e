"""Search (papers/search.py, /search/, /api/v1/search/): PostgreSQL full-text search over titles,
abstracts, authors and keywords, only of listed papers, with a date range, highlights, pages, and
the SQLite fallback."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from papers import search, services
from papers.models import Author, DailyEntry, Paper, PaperSearch
from papers.search import _mark_terms, _terms, highlighted, index_all, search_papers
from tests.conftest import clean_env, run_python
from tests.factories import DailyEntryFactory, PaperFactory
from tests.papers.conftest import paper_change_data

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 8, 21)
needs_postgres = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="full-text search is PostgreSQL's")


def listed(day: dt.date = DAY, status: str = DailyEntry.Status.APPROVED, **paper: object) -> Paper:
    entry = DailyEntryFactory.create(day=day, status=status, **{f"paper__{key}": value for key, value in paper.items()})
    return entry.paper


def found(query: str, **dates: dt.date) -> list[str]:
    return [paper.title for paper in search_papers(query, **dates)]


@pytest.fixture
def real_day(fixtures_dir):
    """The 17 real papers of HF's 2026-08-21, through the real ingest, approved."""
    services.ingest("hf", day=DAY, path=fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json")
    DailyEntry.objects.update(status=DailyEntry.Status.APPROVED)


@needs_postgres
def test_the_search_table_has_its_gin_index_and_the_paper_no_vector():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'papers_papersearch' AND indexdef LIKE '%gin%'"
        )
        definitions = [row[0] for row in cursor.fetchall()]
        columns = [column.name for column in connection.introspection.get_table_description(cursor, "papers_paper")]
    # Over the vector, its pairs and the upvotes (btree_gin): matches with enough upvotes, found by the
    # index alone.
    assert any("USING gin (vector, pairs, upvotes)" in definition for definition in definitions), definitions
    assert "search_vector" not in columns


@needs_postgres
def test_ingested_papers_are_found_by_title_abstract_author_and_keyword(real_day):
    assert found("EnvHarness") == ["EnvHarness: Awakening Static Worlds for Agent Learning"]
    # An author's name (HF's 2608.19936 lists Theo Lebryk first).
    assert [p.arxiv_id for p in search_papers("Lebryk")] == ["2608.19936"]
    # A keyword only HF's ai_keywords has: "addressed token" (2608.20336).
    assert "2608.20336" in [p.arxiv_id for p in search_papers('"addressed token"')]
    # Stemming: the title says "Models", the query "model".
    assert "2608.19936" in [p.arxiv_id for p in search_papers("ASR model")]


@needs_postgres
def test_a_title_match_ranks_above_an_abstract_match_then_upvotes_decide():
    in_abstract = listed(title="Another paper", abstract="We use a sparse mixture of experts.", upvotes=500)
    in_title = listed(title="Mixture of experts at scale", abstract="Nothing here.", upvotes=1)
    also_title = listed(title="Experts in a mixture", abstract="Nothing.", upvotes=90)
    index_all()
    results = list(search_papers("mixture experts"))
    assert results.index(in_title) < results.index(in_abstract)
    assert results.index(also_title) < results.index(in_abstract)
    assert results[-1] == in_abstract


@needs_postgres
def test_websearch_syntax_phrases_or_and_exclusion():
    listed(title="Diffusion models for video", abstract="x")
    listed(title="Video models, not diffusion", abstract="x")
    listed(title="Graph neural networks", abstract="x")
    index_all()
    assert found('"diffusion models"') == ["Diffusion models for video"]
    assert found("video -diffusion") == []
    assert sorted(found("video -graph")) == ["Diffusion models for video", "Video models, not diffusion"]
    assert sorted(found("graph or diffusion")) == [
        "Diffusion models for video",
        "Graph neural networks",
        "Video models, not diffusion",
    ]


QUERIES = [
    "alpha",
    '"beta gamma"',
    '"alpha beta gamma"',
    '"gamma beta" or epsilon',
    "alpha -delta",
    "-delta gamma -beta",
    "gamma or delta",
]


@needs_postgres
@pytest.mark.parametrize("thresholds", [[], [45], [90, 60, 30], [500, 200], [0], [29, 28, 27], [40, 50, 60]])
@pytest.mark.parametrize("query", QUERIES)
def test_any_upvote_bands_give_the_most_upvoted_matches(monkeypatch, thresholds, query):
    """Search reads matches in bands of upvotes (``_candidates``): whatever the bands, which only
    change the work, the count and the CAP papers are those of reading every match."""
    monkeypatch.setattr(search, "CAP", 10)
    # The bands' lower bounds, one per band, then the rest (an increasing one included: it must end).
    bounds = iter(thresholds)
    monkeypatch.setattr(search, "_upvotes_at_rank", lambda since, until: lambda rank: next(bounds, None))
    words = ["alpha beta gamma", "alpha gamma beta", "gamma delta", "beta gamma alpha delta", "epsilon"]
    papers = [listed(title=f"Paper {n}", abstract=words[n % 5], upvotes=n * 3) for n in range(40)]
    index_all()
    wanted = {
        "alpha": lambda text: "alpha" in text,
        '"beta gamma"': lambda text: "beta gamma" in text,
        '"alpha beta gamma"': lambda text: "alpha beta gamma" in text,
        '"gamma beta" or epsilon': lambda text: "gamma beta" in text or "epsilon" in text,
        "alpha -delta": lambda text: "alpha" in text and "delta" not in text,
        "-delta gamma -beta": lambda text: "gamma" in text and "delta" not in text and "beta" not in text,
        "gamma or delta": lambda text: "gamma" in text or "delta" in text,
    }[query]
    matching = sorted((paper for paper in papers if wanted(paper.abstract)), key=lambda p: -p.upvotes)
    results = search_papers(query)
    assert (results.count(), results.capped) == (min(len(matching), 10), len(matching) > 10)
    assert {paper.pk for paper in results} == {paper.pk for paper in matching[:10]}
    # No title matches: the ranking is the upvotes'.
    assert [paper.pk for paper in results] == [paper.pk for paper in matching[:10]]


def test_only_listed_papers_are_found():
    listed(title="Approved quasar paper")
    listed(title="Pending quasar paper", status=DailyEntry.Status.PENDING)
    listed(title="Hidden quasar paper", status=DailyEntry.Status.HIDDEN)
    listed(title="Quasar paper without an arXiv id", arxiv_id=None)
    PaperFactory(title="Never listed quasar paper")
    index_all()
    assert found("quasar") == ["Approved quasar paper"]


def test_the_date_range_is_the_days_a_paper_was_listed():
    early = listed(day=dt.date(2026, 3, 1), title="Early tokamak paper")
    late = listed(day=dt.date(2026, 9, 1), title="Late tokamak paper")
    DailyEntryFactory(day=dt.date(2026, 9, 2), paper=early)  # listed again later
    index_all()
    assert set(search_papers("tokamak", since=dt.date(2026, 8, 1))) == {early, late}
    assert list(search_papers("tokamak", until=dt.date(2026, 6, 1))) == [early]
    assert list(search_papers("tokamak", since=dt.date(2026, 4, 1), until=dt.date(2026, 8, 31))) == []
    assert list(search_papers("tokamak", since=dt.date(2026, 9, 1), until=dt.date(2026, 9, 1))) == [late]
    # Listed before, inside and after a range: found by its entry inside it, not by its first or last day.
    spanning = listed(day=dt.date(2026, 1, 1), title="Spanning tokamak paper")
    for day in (dt.date(2026, 5, 1), dt.date(2026, 12, 1)):
        DailyEntryFactory(day=day, paper=spanning)
    DailyEntryFactory(day=dt.date(2026, 6, 1), paper=spanning, status=DailyEntry.Status.HIDDEN)
    index_all()
    assert list(search_papers("tokamak", since=dt.date(2026, 4, 1), until=dt.date(2026, 8, 31))) == [spanning]
    assert list(search_papers("tokamak", since=dt.date(2026, 5, 2), until=dt.date(2026, 8, 31))) == []


@needs_postgres
def test_a_re_ingest_with_a_new_title_is_found_by_it_at_once(fixtures_dir, tmp_path):
    source = fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json"
    services.ingest("hf", day=DAY, path=source)
    DailyEntry.objects.update(status=DailyEntry.Status.APPROVED)
    items = json.loads(source.read_text())
    items[0]["paper"]["title"] = items[0]["title"] = "EnvHarness renamed: Zebrafish Worlds"
    changed = tmp_path / "day.json"
    changed.write_text(json.dumps(items))
    services.ingest("hf", day=DAY, path=changed)
    assert [p.arxiv_id for p in search_papers("zebrafish")] == ["2608.19880"]


@needs_postgres
def test_an_editors_admin_edit_and_an_author_rename_are_searchable(client, django_capture_on_commit_callbacks):
    paper = listed(title="Before the edit", author_names=["Ada Lovelace"])
    index_all()
    editor = get_user_model().objects.create_superuser("editor", "editor@example.org", "pw")
    client.force_login(editor)
    url = reverse("admin:papers_paper_change", args=[paper.pk])
    form = client.get(url).context["adminform"].form
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, paper_change_data(form, title="Narwhal migration patterns"))
    assert response.status_code == 302, response.content[:2000]
    assert list(search_papers("narwhal")) == [paper]

    with django_capture_on_commit_callbacks(execute=True):
        author = Author.objects.get(name="Ada Lovelace")
        author.name = "Augusta Ada King"
        author.save()
    assert list(search_papers("Augusta")) == [paper]
    assert list(search_papers("Lovelace")) == []


@needs_postgres
def test_a_curation_change_shows_in_search_at_once(client, django_capture_on_commit_callbacks):
    paper = listed(title="Okapi sightings")
    index_all()
    client.force_login(get_user_model().objects.create_superuser("editor", "editor@example.org", "pw"))
    entry = paper.entries.get()
    changelist = reverse("admin:papers_dailyentry_changelist")
    # Admin's actions: an UPDATE of the entries (no post_save).
    client.post(changelist, {"action": "hide", "_selected_action": [entry.pk]})
    assert found("okapi") == []
    client.post(changelist, {"action": "approve", "_selected_action": [entry.pk]})
    assert found("okapi") == ["Okapi sightings"]
    # An entry saved or deleted one by one (admin's change page, the shell): on commit.
    with django_capture_on_commit_callbacks(execute=True):
        entry.status = DailyEntry.Status.PENDING
        entry.save()
    assert found("okapi") == []
    later = DAY + dt.timedelta(days=30)
    with django_capture_on_commit_callbacks(execute=True):
        added = DailyEntryFactory(day=later, paper=paper, status=DailyEntry.Status.APPROVED)
    assert found("okapi") == ["Okapi sightings"]
    assert found("okapi", until=DAY) == []
    with django_capture_on_commit_callbacks(execute=True):
        added.delete()
    assert found("okapi") == []


@needs_postgres
def test_an_upvote_change_shows_in_search_at_once(real_day, fixtures_dir, tmp_path, monkeypatch):
    # With a cap of 1, the one ranked result is the most upvoted match: upvotes decide it.
    monkeypatch.setattr(search, "CAP", 1)
    least = "2608.13210"  # "NARU: A Benchmark for ...", 1 upvote
    assert [p.arxiv_id for p in search_papers("benchmark")] != [least]
    items = json.loads((fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json").read_text())
    for item in items:
        if item["paper"]["id"] == least:
            item["paper"]["upvotes"] = 5000
    changed = tmp_path / "day.json"
    changed.write_text(json.dumps(items))
    services.ingest("hf", day=DAY, path=changed)  # the upvotes change, no searched text does
    assert [p.arxiv_id for p in search_papers("benchmark")] == [least]
    # And an UPDATE of papers (the shell, a script).
    Paper.objects.filter(arxiv_id=least).update(upvotes=0)
    assert [p.arxiv_id for p in search_papers("benchmark")] != [least]


@needs_postgres
def test_a_paper_listed_again_by_ingest_is_found_in_the_new_dates_at_once(real_day, fixtures_dir, settings):
    later = DAY + dt.timedelta(days=3)
    assert found("EnvHarness", since=later) == []
    settings.PAPERBOY_NEW_ENTRY_STATUS = DailyEntry.Status.APPROVED
    # The same papers on a later day: new entries, no text changed.
    services.ingest("hf", day=later, path=fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json")
    assert found("EnvHarness", since=later) == ["EnvHarness: Awakening Static Worlds for Agent Learning"]


@needs_postgres
def test_past_the_cap_the_count_says_so_and_the_most_upvoted_are_ranked(client, api, monkeypatch, settings):
    settings.PAGE_CACHE_SECONDS = 0  # the same page is asked for again after CAP, a constant, changed
    monkeypatch.setattr(search, "CAP", 3)
    # The least upvoted has the best match (its title); past the cap, it is not among the ranked.
    listed(title="Capybara", abstract="", upvotes=0)
    for number in range(1, 5):
        listed(title=f"Study {number}", abstract="On the capybara and the pig.", upvotes=number)
    index_all()
    results = search_papers("capybara")
    assert (results.count(), results.capped) == (3, True)
    assert [p.title for p in results] == ["Study 4", "Study 3", "Study 2"]
    html = client.get(reverse("search"), {"q": "capybara"}).content.decode()
    assert "3+ papers match <strong>capybara</strong>" in html
    assert client.get("/api/v1/search/", {"q": "capybara"}).json()["count"] == 3
    # At the cap, nothing is left out: exact count and ranking.
    monkeypatch.setattr(search, "CAP", 5)
    results = search_papers("capybara")
    assert (results.count(), results.capped) == (5, False)
    assert results[0].title == "Capybara"
    html = client.get(reverse("search"), {"q": "capybara"}).content.decode()
    assert "5 papers match <strong>capybara</strong>" in html


@needs_postgres
def test_index_all_rebuilds_every_vector_and_the_command_says_so(capsys):
    paper = listed(title="Ocelot behaviour")
    index_all()
    PaperSearch.objects.all().delete()
    assert found("ocelot") == []
    from django.core.management import call_command

    from papers.version import papers_version

    before = papers_version()
    call_command("index_search")
    assert "Indexed 1 papers for search" in capsys.readouterr().out
    assert list(search_papers("ocelot")) == [paper]
    assert papers_version() > before  # cached API answers from the old vectors are not used again


def test_keywords_that_are_not_a_list_are_left_out_not_an_error():
    listed(title="Odd keywords", ai_keywords={"not": "a list"})
    listed(title="Good keywords", ai_keywords=["lattice", 3, None])
    index_all()
    assert found("lattice") == ["Good keywords"]
    assert found("odd") == ["Odd keywords"]


# --- Hostile queries and hostile titles ---------------------------------------------------------------

HOSTILE_QUERIES = [
    "(((",
    "'; DROP TABLE papers_paper; --",
    "\\",
    "&|!:*",
    '"unclosed phrase',
    "<script>alert(1)</script>",
    "-",
    "or or or",
    "the",
    "日本語 ニューラル",
    "x" * 200,
    "a:* & b",
    "%_%",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_answer_without_an_error(client, query):
    listed(title="A paper that must survive")
    index_all()
    assert isinstance(found(query), list)
    response = client.get(reverse("search"), {"q": query})
    assert response.status_code == 200
    assert b"<script>alert(1)</script>" not in response.content
    assert Paper.objects.filter(title="A paper that must survive").exists()


def test_a_hostile_title_is_escaped_and_cannot_forge_a_highlight(client):
    listed(title='<script>alert("x")</script> <mark>fake</mark> wombat', abstract="<img src=x onerror=alert(1)> wombat")
    index_all()
    response = client.get(reverse("search"), {"q": "wombat"})
    html = response.content.decode()
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;mark&gt;fake&lt;/mark&gt;" in html
    assert "<mark>wombat</mark>" in html


@needs_postgres
def test_highlights_mark_the_matched_words_in_title_and_snippet(real_day):
    papers = highlighted(list(search_papers("sparse attention")[:1]), "sparse attention")
    paper = papers[0]
    assert paper.arxiv_id == "2608.19758"
    assert "<mark>Sparse</mark>" in paper.title_html and "<mark>Attention</mark>" in paper.title_html
    assert re.search(r"<mark>sparse</mark>", paper.snippet_html, re.IGNORECASE)
    assert "⟦" not in paper.title_html + paper.snippet_html  # no marker left unconverted


# --- The page ---------------------------------------------------------------------------------------


def test_the_page_shows_counts_highlights_and_pages_that_keep_the_query(client):
    for number in range(25):
        listed(title=f"Axolotl regeneration study {number}", upvotes=number, day=DAY - dt.timedelta(days=number))
    index_all()
    response = client.get(reverse("search"), {"q": "axolotl", "since": "2026-07-01"})
    html = response.content.decode()
    assert "25 papers match <strong>axolotl</strong> · page 1 of 2" in html
    assert html.count('<article class="paper">') == 20
    assert "<mark>Axolotl</mark>" in html
    assert 'href="?q=axolotl&amp;since=2026-07-01&amp;page=2"' in html
    second = client.get(reverse("search"), {"q": "axolotl", "since": "2026-07-01", "page": "2"}).content.decode()
    assert second.count('<article class="paper">') == 5
    assert 'rel="prev" href="?q=axolotl&amp;since=2026-07-01&amp;page=1"' in second
    narrowed = client.get(reverse("search"), {"q": "axolotl", "since": "2026-08-20"}).content.decode()
    assert "2 papers match" in narrowed


def test_the_page_links_each_result_to_its_page_and_its_latest_listed_day(client):
    paper = listed(title="Capybara social networks", day=dt.date(2026, 5, 4))
    DailyEntryFactory(day=dt.date(2026, 6, 7), paper=paper)
    index_all()
    html = client.get(reverse("search"), {"q": "capybara"}).content.decode()
    assert f'href="{paper.get_absolute_url()}"' in html
    assert f'href="{reverse("day_listing", args=[dt.date(2026, 6, 7)])}"' in html


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"q": "ok", "since": "2026-09-01", "until": "2026-08-01"}, "must not be before its start"),
        ({"q": "ok", "since": "yesterday"}, "Enter a valid date"),
        ({"q": "a\x00b"}, "Null characters are not allowed"),
        ({"q": "x" * 201}, "at most 200 characters"),
    ],
)
def test_bad_input_is_named_on_the_form(client, params, error):
    response = client.get(reverse("search"), params)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert "papers match" not in response.content.decode()


def test_no_query_shows_the_form_and_no_match_says_so(client):
    listed(title="Something")
    index_all()
    empty = client.get(reverse("search")).content.decode()
    assert 'role="search"' in empty and "match" not in empty
    nothing = client.get(reverse("search"), {"q": "xylophone"}).content.decode()
    assert "No listed paper matches <strong>xylophone</strong>" in nothing
    one = client.get(reverse("search"), {"q": "something"}).content.decode()
    assert "1 paper matches <strong>something</strong>" in one


def test_every_page_links_to_search_between_archive_and_rss(client):
    html = client.get("/").content.decode()
    nav = html[html.index('<nav aria-label="Main">') :]
    assert nav.index(">Archive<") < nav.index(">Search<") < nav.index(">RSS<")


# --- The API ----------------------------------------------------------------------------------------


@needs_postgres
def test_the_api_searches_with_pages_and_dates(client, api):
    for number in range(3):
        listed(title=f"Pangolin scales {number}", upvotes=number, day=DAY + dt.timedelta(days=number))
    index_all()
    answer = client.get("/api/v1/search/", {"q": "pangolin", "limit": 2}).json()
    assert answer["count"] == 3
    assert [item["title"] for item in answer["results"]] == ["Pangolin scales 2", "Pangolin scales 1"]
    assert answer["results"][0]["listedOn"] == [(DAY + dt.timedelta(days=2)).isoformat()]
    assert "offset=2" in answer["next"]
    dated = client.get("/api/v1/search/", {"q": "pangolin", "until": DAY.isoformat()}).json()
    assert [item["title"] for item in dated["results"]] == ["Pangolin scales 0"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 201}, "q"), ({"q": "a", "since": "2026-02-30"}, "since")],
)
def test_the_api_names_a_bad_parameter(client, api, params, field):
    response = client.get("/api/v1/search/", params)
    assert response.status_code == 400
    assert field in response.json()


# --- The SQLite fallback ----------------------------------------------------------------------------


def test_the_fallbacks_terms_follow_websearch_syntax():
    assert _terms('graph "neural network" -diffusion or -"video model"') == (
        ["graph", "neural network"],
        ["diffusion", "video model"],
    )
    assert _terms('- "" or') == ([], [])


def test_the_fallbacks_highlight_escapes_everything_but_its_marks():
    marked = _mark_terms("<b>Graph</b> graphs & GRAPH", ["graph"])
    assert marked == "&lt;b&gt;<mark>Graph</mark>&lt;/b&gt; <mark>graph</mark>s &amp; <mark>GRAPH</mark>"


def test_search_on_sqlite_migrates_matches_substrings_and_highlights(tmp_path, fixtures_dir):
    """The embedded default (``make run``): migration 0005 on SQLite, then the real ingest and search."""
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'paperboy.sqlite3'}", DJANGO_SETTINGS_MODULE="config.settings")
    day_file = fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json"
    code = f"""
import django, datetime as dt
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from papers import search, services
from papers.models import DailyEntry
from papers.search import search_papers, highlighted
services.ingest("hf", day=dt.date(2026, 8, 21), path={str(day_file)!r})
DailyEntry.objects.update(status="approved")
print([p.arxiv_id for p in search_papers("Lebryk")])
print([p.arxiv_id for p in search_papers('"sparse attention" -nothingatall')])
print(any(p.arxiv_id == "2608.19880" for p in search_papers("agent -EnvHarness")))
print(highlighted(list(search_papers("prefill")), "prefill")[0].title_html)
print(search_papers("-EnvHarness").count(), search_papers("the").count())
"""
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-5:]
    assert lines[0] == "['2608.19936']"
    assert lines[1] == "['2608.19758']"
    assert lines[2] == "False"
    assert "Flash<mark>Prefill</mark> V2" in lines[3]
    assert lines[4] == "16 17"  # only an exclusion: every other paper; "the" (no stop words here) matches all


@needs_postgres
def test_a_query_of_only_common_words_says_so(client):
    listed(title="The state of the art")
    index_all()
    html = client.get(reverse("search"), {"q": "the of"}).content.decode()
    assert "its words are too common" in html


@needs_postgres
def test_a_passage_from_inside_the_abstract_is_marked_as_cut(client):
    words = " ".join(f"filler{n}" for n in range(80))
    listed(title="Cut passages", abstract=f"{words} the okapi appears here. {words}")
    index_all()
    html = client.get(reverse("search"), {"q": "okapi"}).content.decode()
    snippet = html[html.index('<p class="summary">') :].split("</p>")[0]
    assert "<mark>okapi</mark>" in snippet
    assert snippet.startswith('<p class="summary">… ') and snippet.endswith(" …")


def test_the_fallbacks_passage_is_around_the_first_match():
    from papers.search import _passage

    text = " ".join(f"w{n}" for n in range(100)) + " target " + " ".join(f"v{n}" for n in range(100))
    passage = _passage(text, ["target"])
    assert "target" in passage and passage.startswith("… ") and passage.endswith(" …")
    assert _passage("short text", ["absent"]) == "short text"


def test_the_help_names_only_the_syntax_the_database_supports(client):
    html = client.get(reverse("search")).content.decode()
    assert ("or for either" in html) == (connection.vendor == "postgresql")
