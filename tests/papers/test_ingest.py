"""Ingest rules: idempotent, refreshes what changes, keeps what editors changed, loses nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from papers import services
from papers.ingest import run_ingest, upsert_records
from papers.models import DailyEntry, IngestRun, Paper
from papers.sources import hf_api
from papers.sources.base import PaperRecord, ParseResult, SourceError
from tests.factories import DailyEntryFactory, PaperFactory

pytestmark = pytest.mark.django_db
DAY_2024 = dt.date(2024, 5, 27)


@pytest.fixture
def hf_2024(fixtures_dir):
    return fixtures_dir / "hf_api" / "daily_papers_date_2024-05-27.json"


def test_same_input_twice_changes_nothing(hf_2024):
    first = services.ingest("hf", day=DAY_2024, path=hf_2024)
    assert (first.status, first.created, first.updated, first.unchanged) == ("succeeded", 13, 0, 0)
    snapshot = list(Paper.objects.order_by("pk").values())

    second = services.ingest("hf", day=DAY_2024, path=hf_2024)
    assert (second.status, second.created, second.updated, second.unchanged) == ("succeeded", 0, 0, 13)
    assert list(Paper.objects.order_by("pk").values()) == snapshot
    entries = DailyEntry.objects.on(DAY_2024)
    assert entries.count() == 13
    assert sorted(entries.values_list("rank", flat=True)) == list(range(1, 14))


def test_later_fetch_refreshes_volatile_fields(hf_2024, tmp_path):
    services.ingest("hf", day=DAY_2024, path=hf_2024)
    entries = json.loads(hf_2024.read_text())
    first_id = entries[0]["paper"]["id"]
    entries[0]["paper"]["upvotes"] = 999
    entries[0]["numComments"] = 42
    changed = tmp_path / "later.json"
    changed.write_text(json.dumps(entries))

    run = services.ingest("hf", day=DAY_2024, path=changed)

    assert (run.created, run.updated, run.unchanged) == (0, 1, 12)
    paper = Paper.objects.get(arxiv_id=first_id)
    assert (paper.upvotes, paper.comments) == (999, 42)
    assert DailyEntry.objects.get(paper=paper, day=DAY_2024).upvotes == 999


def test_editor_overrides_and_curation_survive_reingest(hf_2024, tmp_path):
    services.ingest("hf", day=DAY_2024, path=hf_2024)
    entries = json.loads(hf_2024.read_text())
    arxiv_id = entries[1]["paper"]["id"]
    paper = Paper.objects.get(arxiv_id=arxiv_id)
    paper.title = "An editor's clearer title"
    paper.overridden_fields = ["title"]
    paper.save()
    DailyEntry.objects.filter(paper=paper).update(status="hidden", pinned=True, note="Great read")

    entries[1]["paper"]["upvotes"] = 500
    entries[1]["paper"]["title"] = "Upstream changed the title"
    changed = tmp_path / "later.json"
    changed.write_text(json.dumps(entries))
    services.ingest("hf", day=DAY_2024, path=changed)

    paper.refresh_from_db()
    assert paper.title == "An editor's clearer title"
    assert paper.upvotes == 500
    entry = DailyEntry.objects.get(paper=paper)
    assert (entry.status, entry.pinned, entry.note) == ("hidden", True, "Great read")


def test_one_bad_item_is_reported_and_the_rest_land():
    good = PaperRecord(arxiv_id="2601.00001", title="Good paper", upvotes=3, listed_on=DAY_2024)
    bad = PaperRecord(arxiv_id="2601.00002", title="Negative upvotes break a constraint", upvotes=-5)
    also_good = PaperRecord(arxiv_id="2601.00003", title="Another good paper", authors=("Grace Hopper",))

    run = run_ingest(
        source="hf", parameters={}, load=lambda: ParseResult(records=[good, bad, also_good]), default_day=DAY_2024
    )

    assert (run.status, run.created, run.failed) == ("partial", 2, 1)
    assert "2601.00002" in run.errors
    assert set(Paper.objects.values_list("arxiv_id", flat=True)) == {"2601.00001", "2601.00003"}
    assert Paper.objects.get(arxiv_id="2601.00003").author_names == ["Grace Hopper"]


def test_malformed_payload_fails_the_run_and_keeps_what_was_stored(hf_2024, tmp_path):
    services.ingest("hf", day=DAY_2024, path=hf_2024)
    broken = tmp_path / "broken.json"
    broken.write_text('{"error": "Invalid date"}')

    run = services.ingest("hf", day=DAY_2024, path=broken)

    assert run.status == IngestRun.Status.FAILED
    assert run.errors and run.summary.startswith("hf: failed — ")
    assert Paper.objects.count() == 13
    assert DailyEntry.objects.count() == 13


def test_parse_errors_are_counted_as_skipped(hf_2024, tmp_path):
    entries = json.loads(hf_2024.read_text())
    entries[2]["paper"]["id"] = "not-an-arxiv-id"
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(entries))

    run = services.ingest("hf", day=DAY_2024, path=damaged)

    assert (run.status, run.created, run.skipped) == ("partial", 12, 1)
    assert "not-an-arxiv-id" in run.errors


def test_text_dump_matches_known_titles_and_flags_new_ones():
    known = PaperFactory(arxiv_id="2405.11111", title="Scaling Laws for Tiny Models", abstract="The real abstract.")
    dump = (
        "Get trending papers in your email inbox!\n\nSubscribe\n\nMay 27\n\n"
        "Scaling Laws for Tiny Models\n\n"
        "A hand-copied abstract of the known paper. We show that tiny models follow scaling laws of their own, "
        "measured across many model sizes, data budgets and training schedules.\n\n"
        "A Paper Nobody Has Seen Yet\n\n"
        "This abstract belongs to a paper that exists only in this dump. It describes a method, an experiment "
        "and a result, as abstracts usually do, all in one single paragraph of plain text.\n\n"
    )

    run = services.import_text_dump(dump, day=DAY_2024)

    assert (run.status, run.created, run.updated) == ("succeeded", 1, 1)
    known.refresh_from_db()
    assert known.abstract == "The real abstract.", "a text dump never corrects what a real source stored"
    new = Paper.objects.get(title="A Paper Nobody Has Seen Yet")
    assert new.needs_arxiv_id and new.arxiv_id is None
    assert set(DailyEntry.objects.on(DAY_2024).values_list("paper__title", flat=True)) == {
        "Scaling Laws for Tiny Models",
        "A Paper Nobody Has Seen Yet",
    }
    again = services.import_text_dump(dump, day=DAY_2024)
    assert (again.created, again.unchanged) == (0, 2)


def test_new_entries_wait_for_an_editor_when_configured(settings):
    settings.PAPERBOY_NEW_ENTRY_STATUS = "pending"
    upsert_records([PaperRecord(arxiv_id="2601.00009", title="Waiting")], source="hf", default_day=DAY_2024)
    assert DailyEntry.objects.get().status == DailyEntry.Status.PENDING


def test_hostile_text_is_stored_as_plain_text_and_unsafe_links_dropped(client):
    payload = [
        {
            "paper": {
                "id": "2601.00666",
                "title": 'Evil <script>alert("x")</script>\r\nTitle',
                "summary": "Abstract with <b>markup</b> &amp; $\\alpha$",
                "authors": [{"name": "Mallory <img src=x onerror=alert(1)>"}],
                "publishedAt": "2026-01-05T00:00:00.000Z",
                "upvotes": 1,
                "githubRepo": "javascript:alert(1)",
                "projectPage": "https://example.org/project",
            },
            "publishedAt": "2026-01-05T00:00:00.000Z",
            "title": "Evil",
            "numComments": 0,
        }
    ]
    upsert_records(hf_api.parse(json.dumps(payload)).records, source="hf", default_day=DAY_2024)
    paper = Paper.objects.get(arxiv_id="2601.00666")
    assert paper.title == "Evil Title"
    assert paper.abstract == "Abstract with markup & $\\alpha$"
    assert paper.github_url == ""
    assert paper.project_url == "https://example.org/project"
    assert paper.author_names == ["Mallory"]


def billion_laughs(encoding: str) -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE feed [{"".join(levels)}]>'
        "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>http://arxiv.org/abs/2401.00001v1</id>"
        "<title>&lol9;</title></entry></feed>"
    ).encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_an_xml_bomb_fails_the_arxiv_run_and_keeps_what_was_stored(fixtures_dir, tmp_path, encoding):
    path = fixtures_dir / "arxiv_atom" / "api_2026_search_testing_start0_max10.xml"
    assert services.ingest("arxiv", day=DAY_2024, path=path).created == 10
    snapshot = list(Paper.objects.order_by("pk").values())
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(billion_laughs(encoding))

    run = services.ingest("arxiv", day=DAY_2024, path=bomb)

    assert run.status == IngestRun.Status.FAILED
    assert "declares XML entities, which no arXiv feed does" in run.summary
    assert list(Paper.objects.order_by("pk").values()) == snapshot
    assert DailyEntry.objects.count() == 10


def test_old_style_ids_round_trip(fixtures_dir):
    path = fixtures_dir / "arxiv_atom" / "api_2026_idlist_astro-ph_0601001_affiliation_jref.xml"
    run = services.ingest("arxiv", day=DAY_2024, path=path)
    assert run.created == 1
    assert Paper.objects.get().arxiv_id == "astro-ph/0601001"


def test_unreadable_file_is_a_clear_failure(tmp_path):
    run = services.ingest("hf", day=DAY_2024, path=tmp_path / "missing.json")
    assert run.status == "failed"
    assert "cannot read" in run.errors


def test_a_source_error_inside_load_fails_cleanly():
    def load() -> ParseResult:
        raise SourceError("HF daily papers: expected a JSON list")

    run = run_ingest(source="hf", parameters={"day": "2024-05-27"}, load=load)
    assert run.status == "failed"
    assert run.finished_at is not None
    assert run.summary == "hf: failed — HF daily papers: expected a JSON list"


def test_listing_order_pins_first_then_upvotes():
    low = DailyEntryFactory(upvotes=5, rank=1)
    high = DailyEntryFactory(upvotes=50, rank=2)
    pinned = DailyEntryFactory(upvotes=1, rank=3, pinned=True)
    DailyEntryFactory(upvotes=100, status="hidden")
    approved = DailyEntry.objects.approved().on(low.day).in_listing_order()
    assert list(approved) == [pinned, high, low]


def test_every_field_a_source_sends_lands_in_the_paper():
    values = {
        "title": "A paper with every field",
        "abstract": "It has them all.",
        "published": dt.date(2026, 1, 5),
        "categories": ("cs.CL", "cs.AI"),
        "primary_category": "cs.CL",
        "pdf_url": "https://arxiv.org/pdf/2601.00777",
        "project_url": "https://example.org/project",
        "github_url": "https://github.com/example/project",
        "github_stars": 12,
        "thumbnail_url": "https://example.org/thumbnail.png",
        "upvotes": 3,
        "comments": 2,
        "ai_summary": "Everything, summarized.",
        "ai_keywords": ("fields", "columns"),
        "submitter": "Ada Lovelace",
        "organization": "Analytical Engines",
    }
    descriptive = {field.name for field in dataclasses.fields(PaperRecord)} - {
        "arxiv_id",
        "authors",
        "listed_on",
        "rank",
    }
    assert set(values) == descriptive, "a new field of PaperRecord needs a value here"

    upsert_records([PaperRecord(arxiv_id="2601.00777", **values)], source="hf")

    paper = Paper.objects.get(arxiv_id="2601.00777")
    for name, value in values.items():
        assert getattr(paper, name) == (list(value) if isinstance(value, tuple) else value), name


def test_an_unchanged_re_run_costs_a_fixed_number_of_queries(hf_2024, django_assert_max_num_queries):
    services.ingest("hf", day=DAY_2024, path=hf_2024)
    records = hf_api.parse(hf_2024.read_bytes(), listed_on=DAY_2024).records
    assert len(records) == 13
    with django_assert_max_num_queries(6):  # the batch's lookups, none per record
        outcome = upsert_records(records, source="hf", default_day=DAY_2024)
    assert (outcome.unchanged, outcome.updated, outcome.created) == (13, 0, 0)
