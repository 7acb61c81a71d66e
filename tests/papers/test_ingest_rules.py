"""Ingest's rules, through ``upsert_records`` and both of its writers: the batch writer, and the
one-by-one writer a batch falls back on when the database refuses one of its records. Every rule is
checked both ways; so is what a refused record costs, and what a batch costs in queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from papers import ingest
from papers.ingest import Outcome, run_ingest, upsert_records
from papers.models import Author, DailyEntry, Paper, PaperAuthor, title_key
from papers.sources.base import PaperRecord, ParseResult

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 1, 6)


def record(number: int, **values) -> PaperRecord:
    values = {
        "title": f"Paper number {number}",
        "abstract": f"Abstract of paper {number}.",
        "authors": ("Ada Lovelace", "Alan Turing"),
        "categories": ("cs.LG",),
        "upvotes": number,
        "rank": number,
        **values,
    }
    return PaperRecord(arxiv_id=f"2601.{number:05d}", **values)


# The database refuses negative upvotes: a batch holding this record fails as a whole.
REFUSED = record(999, upvotes=-1)


def counts(outcome: Outcome) -> tuple[int, int, int, int]:
    return outcome.created, outcome.updated, outcome.unchanged, outcome.failed


@pytest.fixture(params=["batch writer", "one-by-one writer"])
def upsert(request):
    """``upsert_records``, its changes written as one batch, or one by one: a refused record rides
    along and sinks every batch. A paper's second record in a call is written in a batch after the
    first one's, so there is one refused record per record: every batch with a change has one. The
    refused records are checked (each reported, none stored) and left out of the outcome."""

    def run(records: list[PaperRecord], **kwargs) -> Outcome:
        if request.param == "batch writer":
            return upsert_records(records, **kwargs)
        outcome = upsert_records([*records, *[REFUSED] * len(records)], **kwargs)
        refused = [line for line in outcome.errors if "(2601.00999): not stored:" in line]
        assert len(refused) == len(records)
        assert not Paper.objects.filter(arxiv_id=REFUSED.arxiv_id).exists()
        outcome.failed -= len(refused)
        outcome.errors = [line for line in outcome.errors if line not in refused]
        return outcome

    return run


def entry(number: int, day: dt.date = DAY) -> DailyEntry:
    return DailyEntry.objects.get(paper__arxiv_id=f"2601.{number:05d}", day=day)


# --- the rules ------------------------------------------------------------------------------------


def test_a_new_paper_is_stored_with_its_authors_in_order_and_listed_on_its_day(upsert):
    outcome = upsert(
        [
            record(1, authors=("Grace Hopper", "Ada Lovelace", "Alan Turing"), github_url="javascript:alert(1)"),
            PaperRecord(arxiv_id="2601.00002", title="Known by title alone", listed_on=DAY + dt.timedelta(days=1)),
        ],
        source="hf",
        default_day=DAY,
    )

    assert counts(outcome) == (2, 0, 0, 0)
    assert outcome.errors == []
    first = Paper.objects.get(arxiv_id="2601.00001")
    assert (first.title, first.abstract, first.categories, first.upvotes) == (
        "Paper number 1",
        "Abstract of paper 1.",
        ["cs.LG"],
        1,
    )
    assert (first.github_url, first.title_key) == ("", title_key("Paper number 1"))
    assert first.author_names == ["Grace Hopper", "Ada Lovelace", "Alan Turing"]
    listed = entry(1)
    assert (listed.rank, listed.upvotes, listed.source, listed.status, listed.pinned) == (1, 1, "hf", "approved", False)
    second = Paper.objects.get(arxiv_id="2601.00002")
    assert (second.upvotes, second.github_stars, second.author_names) == (0, None, [])
    assert (entry(2, DAY + dt.timedelta(days=1)).rank, entry(2, DAY + dt.timedelta(days=1)).upvotes) == (None, 0)


def test_a_record_that_says_what_is_stored_changes_nothing(upsert):
    upsert_records([record(1), record(2)], source="hf", default_day=DAY)
    before = list(Paper.objects.order_by("pk").values())
    entries_before = list(DailyEntry.objects.order_by("pk").values())

    outcome = upsert([record(1), record(2, abstract="", upvotes=None, rank=None)], source="hf", default_day=DAY)

    assert counts(outcome) == (0, 0, 2, 0)
    assert list(Paper.objects.order_by("pk").values()) == before
    assert list(DailyEntry.objects.order_by("pk").values()) == entries_before


def test_what_a_source_sends_refreshes_what_is_stored_and_what_it_does_not_know_stays(upsert):
    upsert_records([record(1, github_stars=3, thumbnail_url="https://example.org/1.png")], source="hf", default_day=DAY)
    before = Paper.objects.get()

    outcome = upsert(
        [record(1, title="Paper number 1, revised", abstract="", upvotes=9, categories=("cs.CL",), rank=None)],
        source="hf",
        default_day=DAY,
    )

    assert counts(outcome) == (0, 1, 0, 0)
    paper = Paper.objects.get()
    assert (paper.title, paper.title_key) == ("Paper number 1, revised", title_key("Paper number 1, revised"))
    assert (paper.upvotes, paper.categories) == (9, ["cs.CL"])
    assert (paper.abstract, paper.github_stars, paper.thumbnail_url) == (
        "Abstract of paper 1.",
        3,
        "https://example.org/1.png",
    ), "empty values are unknown, not news"
    assert (paper.first_seen, paper.updated_at > before.updated_at) == (before.first_seen, True)
    assert (entry(1).rank, entry(1).upvotes) == (1, 9), "the rank is not known this time: it stays"


def test_what_an_editor_changed_is_kept_and_the_rest_still_moves(upsert):
    upsert_records([record(1), record(2)], source="hf", default_day=DAY)
    edited = {"title": "The editor's title", "overridden_fields": ["title", "authors"]}
    Paper.objects.filter(arxiv_id="2601.00001").update(**edited)
    DailyEntry.objects.filter(paper__arxiv_id="2601.00001").update(status="hidden", pinned=True, note="Editor's pick")

    outcome = upsert(
        [record(1, title="Upstream's title", upvotes=7, rank=3, authors=("Grace Hopper",)), record(2, upvotes=8)],
        source="hf",
        default_day=DAY,
    )

    assert counts(outcome) == (0, 2, 0, 0)
    paper = Paper.objects.get(arxiv_id="2601.00001")
    assert (paper.title, paper.author_names) == ("The editor's title", ["Ada Lovelace", "Alan Turing"])
    assert paper.upvotes == 7
    listed = entry(1)
    assert (listed.rank, listed.upvotes, listed.status, listed.pinned, listed.note) == (
        3,
        7,
        "hidden",
        True,
        "Editor's pick",
    ), "rank and upvotes follow the source; the curation is the editor's"
    assert entry(2).upvotes == 8


def test_a_paper_listed_on_another_day_gets_an_entry_there_too(upsert):
    upsert_records([record(1), record(2)], source="hf", default_day=DAY - dt.timedelta(days=1))
    DailyEntry.objects.update(note="Yesterday's")

    outcome = upsert([record(1, upvotes=30), record(2)], source="hf", default_day=DAY)

    assert counts(outcome) == (0, 2, 0, 0), "the paper is unchanged, but listed anew"
    assert (entry(1).upvotes, entry(1, DAY - dt.timedelta(days=1)).upvotes) == (30, 1)
    assert DailyEntry.objects.filter(note="Yesterday's").count() == 2
    assert DailyEntry.objects.on(DAY).count() == 2


def test_authors_are_replaced_when_the_source_lists_others(upsert):
    upsert_records([record(1), record(2)], source="arxiv", default_day=DAY)

    outcome = upsert(
        [record(1, authors=("Alan Turing", "Grace Hopper", "Ada Lovelace")), record(2, authors=())],
        source="arxiv",
        default_day=DAY,
    )

    assert counts(outcome) == (0, 1, 1, 0), "no authors sent: the stored ones stay"
    assert Paper.objects.get(arxiv_id="2601.00001").author_names == ["Alan Turing", "Grace Hopper", "Ada Lovelace"]
    assert Paper.objects.get(arxiv_id="2601.00002").author_names == ["Ada Lovelace", "Alan Turing"]


def test_a_text_dump_only_fills_what_is_empty(upsert):
    upsert_records(
        [record(1, abstract=""), record(2, authors=()), PaperRecord(arxiv_id="", title="Known by title")],
        source="hf",
        default_day=DAY,
    )
    text = [
        PaperRecord(arxiv_id="", title="Paper number 1", abstract="A hand-copied abstract.", authors=("Someone",)),
        PaperRecord(arxiv_id="", title="paper  NUMBER 2", abstract="Not the real abstract.", authors=("Grace Hopper",)),
        PaperRecord(arxiv_id="", title="Known by title", abstract="Copied by hand."),
    ]

    outcome = upsert(text, source="text", default_day=DAY + dt.timedelta(days=1))

    assert counts(outcome) == (0, 3, 0, 0), "filled, or listed on the new day"
    first, second = Paper.objects.get(arxiv_id="2601.00001"), Paper.objects.get(arxiv_id="2601.00002")
    assert (first.abstract, first.author_names) == ("A hand-copied abstract.", ["Ada Lovelace", "Alan Turing"])
    assert (second.abstract, second.author_names) == ("Abstract of paper 2.", ["Grace Hopper"])
    assert Paper.objects.get(arxiv_id=None).abstract == "Copied by hand."
    assert DailyEntry.objects.on(DAY + dt.timedelta(days=1)).count() == 3
    assert counts(upsert(text, source="text", default_day=DAY + dt.timedelta(days=1))) == (0, 0, 3, 0)


def test_the_same_paper_twice_in_one_call_holds_the_later_values(upsert):
    outcome = upsert(
        [record(1, upvotes=1), record(2), record(1, upvotes=5, title="Renamed", authors=("Grace Hopper",))],
        source="hf",
        default_day=DAY,
    )

    assert counts(outcome) == (2, 1, 0, 0)
    paper = Paper.objects.get(arxiv_id="2601.00001")
    assert (paper.title, paper.upvotes, paper.author_names) == ("Renamed", 5, ["Grace Hopper"])
    assert entry(1).upvotes == 5
    again = upsert([record(1), record(1)], source="hf", default_day=DAY)
    assert counts(again) == (0, 1, 1, 0), "the first puts the old values back; the second finds them stored"
    assert (Paper.objects.get(arxiv_id="2601.00001").title, entry(1).upvotes) == ("Paper number 1", 1)


def test_text_dump_titles_twice_in_one_call_make_one_paper(upsert):
    text = [
        PaperRecord(arxiv_id="", title="A Paper Without An Id", abstract="First copy."),
        PaperRecord(arxiv_id="", title="A  paper without an ID", abstract="Second copy."),
    ]

    outcome = upsert(text, source="text", default_day=DAY)

    assert counts(outcome) == (1, 0, 1, 0), "a text dump only fills what is empty"
    paper = Paper.objects.get()
    assert (paper.arxiv_id, paper.abstract) == (None, "First copy.")
    assert DailyEntry.objects.get().paper == paper


def test_a_paper_found_by_id_and_by_title_in_one_call_gets_both_records(upsert):
    """An arXiv record, then an id-less record of the same stored paper: the second is applied on
    top of the first, not over a stale copy of the paper."""
    upsert_records([record(1)], source="hf")
    records = [
        record(1, upvotes=20),
        PaperRecord(arxiv_id="", title="Paper number 1", abstract="A corrected abstract."),
    ]

    outcome = upsert(records, source="hf", default_day=DAY)

    assert counts(outcome) == (0, 2, 0, 0)
    paper = Paper.objects.get(arxiv_id="2601.00001")
    assert (paper.upvotes, paper.abstract) == (20, "A corrected abstract.")
    assert (entry(1).upvotes, Paper.objects.count()) == (20, 1)


def test_records_listed_on_several_days_are_unchanged_the_second_time(upsert):
    """A week's listing: each record on its own day; stored ones are recognised on every day."""
    records = [record(n, listed_on=DAY + dt.timedelta(days=n % 3)) for n in range(1, 8)]
    assert counts(upsert(records, source="hf")) == (7, 0, 0, 0)

    assert counts(upsert(records, source="hf")) == (0, 0, 7, 0)
    moved = [
        record(1, listed_on=DAY + dt.timedelta(days=1), upvotes=50),
        record(2, listed_on=DAY + dt.timedelta(days=5)),
        record(3, listed_on=DAY),  # as stored...
        record(3, listed_on=DAY + dt.timedelta(days=6)),  # ...and on one more day
    ]
    assert counts(upsert(moved, source="hf")) == (0, 3, 1, 0)
    assert entry(1, DAY + dt.timedelta(days=1)).upvotes == 50
    assert DailyEntry.objects.filter(paper__arxiv_id="2601.00002").count() == 2
    assert DailyEntry.objects.filter(paper__arxiv_id="2601.00003").count() == 2
    assert counts(upsert(moved, source="hf")) == (0, 0, 4, 0)


def test_authors_shared_across_one_call_are_stored_once_and_keep_each_papers_order(upsert):
    long_name = "N" * 400
    records = [
        record(1, authors=("Ada Lovelace", "Alan Turing", long_name)),
        record(2, authors=("Alan Turing", "Ada Lovelace")),
        record(3, authors=(long_name, "Grace Hopper", "Ada Lovelace")),
    ]

    upsert(records, source="arxiv", default_day=DAY)

    assert sorted(Author.objects.values_list("name", flat=True)) == sorted(
        ["Ada Lovelace", "Alan Turing", "Grace Hopper", "N" * 300]
    )
    assert Paper.objects.get(arxiv_id="2601.00001").author_names == ["Ada Lovelace", "Alan Turing", "N" * 300]
    assert Paper.objects.get(arxiv_id="2601.00002").author_names == ["Alan Turing", "Ada Lovelace"]
    assert Paper.objects.get(arxiv_id="2601.00003").author_names == ["N" * 300, "Grace Hopper", "Ada Lovelace"]


# --- refused records ------------------------------------------------------------------------------


def test_a_refused_record_leaves_nothing_behind(upsert):
    """After the refused change to 2601.00001, the next record finds what is stored, unchanged; the
    refused new 2601.00002 is created by its next, valid record."""
    upsert_records([record(1)], source="hf", default_day=DAY)

    outcome = upsert(
        [record(1, upvotes=-1), record(1), record(2, rank=-1), record(2, rank=2)], source="hf", default_day=DAY
    )

    assert counts(outcome) == (1, 0, 1, 2)
    assert [line.split(": not stored:")[0] for line in outcome.errors] == ["item 1 (2601.00001)", "item 3 (2601.00002)"]
    assert (Paper.objects.get(arxiv_id="2601.00001").upvotes, entry(1).upvotes) == (1, 1)
    assert (entry(2).rank, Paper.objects.count()) == (2, 2)


def test_a_bad_record_in_a_batch_costs_only_itself():
    records = [record(n) for n in range(1, 21)]
    records[9] = record(10, upvotes=-5)

    run = run_ingest(source="hf", parameters={}, load=lambda: ParseResult(records=records), default_day=DAY)

    assert (run.status, run.created, run.failed) == ("partial", 19, 1)
    assert run.errors.startswith("item 10 (2601.00010): not stored:")
    assert Paper.objects.count() == DailyEntry.objects.count() == 19
    assert not Paper.objects.filter(arxiv_id="2601.00010").exists()
    assert PaperAuthor.objects.count() == 38
    assert Paper.objects.get(arxiv_id="2601.00011").author_names == ["Ada Lovelace", "Alan Turing"]


def test_a_paper_stored_meanwhile_conflicts_alone(monkeypatch):
    """Another ingest stores 2601.00003 after this one looked (here: while its first batch is being
    reported): that record's insert conflicts on the arXiv id; it is reported, the paper stored
    meanwhile is left as it is, the others land."""
    monkeypatch.setattr(ingest, "BATCH_SIZE", 2)

    def another_ingest_stores_paper_3(done: int) -> None:
        if done == 2:
            Paper.objects.create(arxiv_id="2601.00003", title="Stored by someone else")

    outcome = upsert_records(
        [record(n) for n in range(1, 6)], source="hf", default_day=DAY, progress=another_ingest_stores_paper_3
    )

    assert counts(outcome) == (4, 0, 0, 1)
    assert outcome.errors[0].startswith("item 3 (2601.00003): not stored:")
    assert Paper.objects.get(arxiv_id="2601.00003").title == "Stored by someone else"
    assert set(DailyEntry.objects.values_list("paper__arxiv_id", flat=True)) == {
        "2601.00001",
        "2601.00002",
        "2601.00004",
        "2601.00005",
    }


@pytest.mark.parametrize("refused_alongside", [False, True], ids=["batch writer", "one-by-one writer"])
def test_a_changed_paper_gets_only_its_changed_columns_written(monkeypatch, refused_alongside):
    """An editor saves another field between the call's first look and its write: that edit
    survives, and the paper and its entry keep their row and creation time."""
    upsert_records([record(1), record(2)], source="hf", default_day=DAY)
    before = Paper.objects.get(arxiv_id="2601.00001")
    entry_before = entry(1)
    monkeypatch.setattr(ingest, "BATCH_SIZE", 2)

    def an_editor_saves_paper_1(done: int) -> None:
        if done == 2:
            Paper.objects.filter(arxiv_id="2601.00001").update(organization="Edited meanwhile")

    records = [record(2), record(3), record(1, upvotes=40), *([REFUSED] if refused_alongside else [])]
    outcome = upsert_records(records, source="hf", default_day=DAY, progress=an_editor_saves_paper_1)

    assert counts(outcome) == (1, 1, 1, int(refused_alongside))
    after = Paper.objects.get(arxiv_id="2601.00001")
    assert (after.upvotes, after.organization) == (40, "Edited meanwhile")
    assert after.first_seen == before.first_seen
    assert after.updated_at > before.updated_at
    listed = entry(1)
    assert (listed.pk, listed.upvotes, listed.created_at) == (entry_before.pk, 40, entry_before.created_at)
    assert listed.updated_at > entry_before.updated_at


# --- many records, several batches ---------------------------------------------------------------


def set_up_stored_papers() -> None:
    upsert_records([record(1), record(2), record(3)], source="hf", default_day=DAY)
    upsert_records([record(4)], source="hf", default_day=DAY - dt.timedelta(days=1))
    DailyEntry.objects.filter(paper__arxiv_id="2601.00001").update(status="hidden", pinned=True, note="Editor's pick")
    Paper.objects.filter(arxiv_id="2601.00002").update(title="The editor's title", overridden_fields=["title"])


@pytest.mark.parametrize("batch_size", [500, 4])
def test_a_mixed_listing_across_batches(upsert, monkeypatch, batch_size):
    """Stored, new, repeated and refused records together, in one batch or spread over several."""
    monkeypatch.setattr(ingest, "BATCH_SIZE", batch_size)
    set_up_stored_papers()
    records = [
        record(3),  # stored and unchanged
        record(1, title="Paper number 1, revised", upvotes=9, categories=("cs.CL", "cs.AI"), rank=2),
        record(11, authors=("Grace Hopper", "Ada Lovelace")),  # new; shares an author with stored papers
        record(12, upvotes=-1),  # the database refuses the paper itself
        record(13, rank=-1),  # the paper is fine, its daily entry is refused
        record(13, rank=13),  # the same paper again, now valid: created, since the first one failed
        record(2, title="Upstream's title", upvotes=7),  # the title is the editor's; upvotes still move
        record(1, upvotes=11, authors=("Alan Turing", "Ada Lovelace", "Grace Hopper")),  # 2601.00001 again
        record(4),  # stored, but not listed on DAY yet
        record(11, authors=("Grace Hopper", "Ada Lovelace")),  # the same new paper twice, unchanged
        record(14),
        record(14, title="Paper number 14, corrected"),
    ]

    outcome = upsert(records, source="hf", default_day=DAY)

    assert counts(outcome) == (3, 5, 2, 2)
    assert [line.split(" (")[0] for line in outcome.errors] == ["item 4", "item 5"]
    assert "2601.00012" in outcome.errors[0] and "2601.00013" in outcome.errors[1]
    assert not Paper.objects.filter(arxiv_id="2601.00012").exists()
    assert entry(13).rank == 13
    first = Paper.objects.get(arxiv_id="2601.00001")
    assert (first.title, first.upvotes, first.categories) == ("Paper number 1", 11, ["cs.LG"]), "the later record"
    assert first.author_names == ["Alan Turing", "Ada Lovelace", "Grace Hopper"]
    listed = entry(1)
    assert (listed.rank, listed.upvotes, listed.status, listed.pinned, listed.note) == (
        1,
        11,
        "hidden",
        True,
        "Editor's pick",
    )
    second = Paper.objects.get(arxiv_id="2601.00002")
    assert (second.title, second.upvotes) == ("The editor's title", 7)
    assert DailyEntry.objects.filter(paper__arxiv_id="2601.00004").count() == 2
    corrected = Paper.objects.get(arxiv_id="2601.00014")
    assert (corrected.title, corrected.title_key) == ("Paper number 14, corrected", title_key(corrected.title))
    assert Paper.objects.get(arxiv_id="2601.00011").author_names == ["Grace Hopper", "Ada Lovelace"]


def test_progress_is_reported_after_each_batch(monkeypatch):
    monkeypatch.setattr(ingest, "BATCH_SIZE", 4)
    done: list[int] = []

    upsert_records([record(n) for n in range(1, 11)], source="hf", default_day=DAY, progress=done.append)

    assert done == [4, 8, 10]


def test_what_is_stored_is_read_in_chunks_where_a_query_takes_few_parameters(monkeypatch):
    records = [record(n, listed_on=DAY + dt.timedelta(days=n % 2)) for n in range(1, 13)]
    upsert_records(records, source="hf")
    monkeypatch.setattr(type(connection.features), "max_query_params", 5)  # 3 papers and 2 days a query

    assert counts(upsert_records(records, source="hf")) == (0, 0, 12, 0)
    assert counts(upsert_records([record(n, upvotes=50) for n in range(1, 13)], source="hf")) == (0, 12, 0, 0)


# --- what a batch costs ---------------------------------------------------------------------------


def test_new_records_cost_a_fixed_number_of_queries(django_assert_max_num_queries):
    records = [record(n, authors=("Ada Lovelace", f"Author {n}", "Alan Turing")) for n in range(1, 61)]
    with django_assert_max_num_queries(14):  # lookups, authors, then a statement or two per table
        outcome = upsert_records(records, source="arxiv", default_day=DAY)
    assert counts(outcome) == (60, 0, 0, 0)
    assert Paper.objects.count() == DailyEntry.objects.on(DAY).count() == 60
    assert Paper.objects.get(arxiv_id="2601.00042").author_names == ["Ada Lovelace", "Author 42", "Alan Turing"]


def test_changed_records_cost_a_fixed_number_of_queries(django_assert_max_num_queries):
    upsert_records([record(n) for n in range(1, 61)], source="hf", default_day=DAY)
    records = [record(n, upvotes=n + 100, abstract=f"Revised {n}.", authors=("Alan Turing",)) for n in range(1, 61)]
    with django_assert_max_num_queries(14):
        outcome = upsert_records(records, source="hf", default_day=DAY)
    assert counts(outcome) == (0, 60, 0, 0)
    paper = Paper.objects.get(arxiv_id="2601.00007")
    assert (paper.upvotes, paper.abstract, paper.author_names) == (107, "Revised 7.", ["Alan Turing"])
    assert entry(7).upvotes == 107


def test_a_new_paper_is_stored_with_every_value_its_record_gives():
    """New papers go in by COPY on PostgreSQL (ids from the sequence first): the same row bulk_create made."""
    before = timezone.now()
    full = record(
        7,
        title='A "quoted" title — ü, 🚀 and a \\ backslash',
        abstract="Line one.\nLine two\twith a tab.",
        published=dt.date(2026, 1, 5),
        categories=("cs.LG", "stat.ML"),
        primary_category="cs.LG",
        pdf_url="https://arxiv.org/pdf/2601.00007",
        github_url="https://github.com/example/repo",
        github_stars=12,
        comments=3,
        ai_summary="A summary.",
        ai_keywords=("graphs", "agents"),
        submitter="Ada",
        organization="Example Lab",
    )
    upsert_records([record(6), full, record(8)], source="hf", default_day=DAY)

    paper = Paper.objects.get(arxiv_id="2601.00007")
    assert paper.title == 'A "quoted" title — ü, 🚀 and a \\ backslash'
    assert paper.abstract == "Line one.\nLine two\twith a tab."
    assert (paper.published, paper.categories, paper.primary_category) == (
        dt.date(2026, 1, 5),
        ["cs.LG", "stat.ML"],
        "cs.LG",
    )
    assert (paper.github_stars, paper.comments, paper.upvotes) == (12, 3, 7)
    assert (paper.ai_keywords, paper.submitter, paper.organization) == (["graphs", "agents"], "Ada", "Example Lab")
    assert paper.title_key and paper.embedding is None and paper.overridden_fields == []
    assert before <= paper.first_seen <= paper.updated_at <= timezone.now()
    assert paper.author_names == ["Ada Lovelace", "Alan Turing"]
    assert entry(7).paper_id == paper.pk and entry(7).upvotes == 7
    ids = sorted(Paper.objects.values_list("pk", flat=True))
    assert Paper.objects.create(title="Added by an editor").pk > ids[-1], "the sequence moved past the ids taken"
