"""Ingest's batch path: new and changed records written a batch at a time must end exactly where
writing them one by one ends (same rows, same counts), and one bad record must cost only itself."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from papers import ingest
from papers.ingest import run_ingest, upsert_records
from papers.models import Author, DailyEntry, Paper, PaperAuthor, title_key
from papers.sources.base import PaperRecord, ParseResult

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 1, 6)
PAPER_FIELDS = (*Paper.EDITABLE_FIELDS, "title_key", "overridden_fields")


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


def stored_state() -> tuple:
    """Everything ingest writes, keyed by arXiv id (or title), so two databases can be compared."""
    papers = sorted(
        (
            paper.arxiv_id or "",
            *(getattr(paper, name) for name in PAPER_FIELDS),
            tuple(paper.author_names),
        )
        for paper in Paper.objects.all()
    )
    entries = sorted(
        (e.day, e.paper.arxiv_id or e.paper.title, e.rank, e.upvotes, e.source, e.status, e.pinned, e.note)
        for e in DailyEntry.objects.select_related("paper")
    )
    return papers, entries, sorted(Author.objects.values_list("name", flat=True))


def counts(outcome) -> tuple[int, int, int, int]:
    return outcome.created, outcome.updated, outcome.unchanged, outcome.failed


def one_by_one(monkeypatch):
    """The slow path, record by record: what the batch path must match."""
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)


# --- one scenario, ingested in batches and one by one ---------------------------------------------


def set_up_stored_papers() -> None:
    upsert_records([record(1), record(2), record(3)], source="hf", default_day=DAY)
    upsert_records([record(4)], source="hf", default_day=DAY - dt.timedelta(days=1))
    DailyEntry.objects.filter(paper__arxiv_id="2601.00001").update(status="hidden", pinned=True, note="Editor's pick")
    Paper.objects.filter(arxiv_id="2601.00002").update(title="The editor's title", overridden_fields=["title"])


def mixed_records(*, with_failures: bool) -> list[PaperRecord]:
    records = [
        record(3),  # stored and unchanged
        record(1, title="Paper number 1, revised", upvotes=9, categories=("cs.CL", "cs.AI"), rank=2),
        record(11, authors=("Grace Hopper", "Ada Lovelace")),  # new; shares an author with stored papers
        record(2, title="Upstream's title", upvotes=7),  # the title is the editor's; upvotes still move
        record(1, upvotes=11, authors=("Alan Turing", "Ada Lovelace", "Grace Hopper")),  # 2601.00001 again
        record(4),  # stored, but not listed on DAY yet
        record(11, authors=("Grace Hopper", "Ada Lovelace")),  # the same new paper twice, unchanged
        record(14),
        record(14, title="Paper number 14, corrected"),
    ]
    if with_failures:
        records[3:3] = [
            record(12, upvotes=-1),  # a CHECK constraint refuses the paper itself
            record(13, rank=-1),  # the paper is fine, its daily entry is refused
            record(13, rank=13),  # the same paper again, now valid: created, since the first one failed
        ]
    return records


@pytest.mark.parametrize("batch_size", [500, 4])
@pytest.mark.parametrize("with_failures", [False, True])
def test_batches_end_where_one_by_one_ends(monkeypatch, batch_size, with_failures):
    records = mixed_records(with_failures=with_failures)
    monkeypatch.setattr(ingest, "BATCH_SIZE", batch_size)

    set_up_stored_papers()
    batched = upsert_records(records, source="hf", default_day=DAY)
    batched_state = stored_state()

    Paper.objects.all().delete()
    Author.objects.all().delete()
    with monkeypatch.context() as patch:
        one_by_one(patch)
        set_up_stored_papers()
        reference = upsert_records(records, source="hf", default_day=DAY)
    assert stored_state() == batched_state
    assert counts(batched) == counts(reference)
    assert [line.split(":")[0] for line in batched.errors] == [line.split(":")[0] for line in reference.errors]

    # And what both should be, spelled out.
    if with_failures:
        assert counts(batched) == (3, 5, 2, 2)
        assert [line.split(" (")[0] for line in batched.errors] == ["item 4", "item 5"]
        assert "2601.00012" in batched.errors[0] and "2601.00013" in batched.errors[1]
        assert not Paper.objects.filter(arxiv_id="2601.00012").exists()
        assert DailyEntry.objects.get(paper__arxiv_id="2601.00013", day=DAY).rank == 13
    else:
        assert counts(batched) == (2, 5, 2, 0)
    first = Paper.objects.get(arxiv_id="2601.00001")
    assert (first.title, first.upvotes, first.categories) == ("Paper number 1", 11, ["cs.LG"]), "the later record"
    assert first.author_names == ["Alan Turing", "Ada Lovelace", "Grace Hopper"]
    entry = DailyEntry.objects.get(paper=first, day=DAY)
    assert (entry.rank, entry.upvotes, entry.status, entry.pinned, entry.note) == (
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


# --- the batch path is the one taken ----------------------------------------------------------------


def test_new_records_cost_a_fixed_number_of_queries(django_assert_max_num_queries):
    records = [record(n, authors=("Ada Lovelace", f"Author {n}", "Alan Turing")) for n in range(1, 61)]
    with django_assert_max_num_queries(12):  # lookups, authors, then one statement per table
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
    assert DailyEntry.objects.get(paper=paper, day=DAY).upvotes == 107


# --- single behaviours ------------------------------------------------------------------------------


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
    """Another ingest stores 2601.00003 after this one looked: that record's insert conflicts on the
    arXiv id; it is reported, the paper stored meanwhile is left as it is, the others land."""
    load_authors = ingest._authors_for

    def authors_for_while_another_ingest_runs(records):
        Paper.objects.create(arxiv_id="2601.00003", title="Stored by someone else")
        return load_authors(records)

    monkeypatch.setattr(ingest, "_authors_for", authors_for_while_another_ingest_runs)
    outcome = upsert_records([record(n) for n in range(1, 6)], source="hf", default_day=DAY)

    assert counts(outcome) == (4, 0, 0, 1)
    assert outcome.errors[0].startswith("item 3 (2601.00003): not stored:")
    assert Paper.objects.get(arxiv_id="2601.00003").title == "Stored by someone else"
    assert set(DailyEntry.objects.values_list("paper__arxiv_id", flat=True)) == {
        "2601.00001",
        "2601.00002",
        "2601.00004",
        "2601.00005",
    }


def test_a_changed_paper_gets_only_its_changed_columns_written(monkeypatch):
    """An editor saves another field while the batch is being worked out: that edit survives, and
    the paper keeps its first_seen while its updated_at moves."""
    upsert_records([record(1), record(2)], source="hf", default_day=DAY)
    before = Paper.objects.get(arxiv_id="2601.00001")
    entry_before = DailyEntry.objects.get(paper=before)
    load_authors = ingest._authors_for

    def authors_for_while_an_editor_saves(records):
        Paper.objects.filter(arxiv_id="2601.00001").update(organization="Edited meanwhile")
        return load_authors(records)

    monkeypatch.setattr(ingest, "_authors_for", authors_for_while_an_editor_saves)
    outcome = upsert_records([record(1, upvotes=40), record(2)], source="hf", default_day=DAY)

    assert counts(outcome) == (0, 1, 1, 0)
    after = Paper.objects.get(arxiv_id="2601.00001")
    assert (after.upvotes, after.organization) == (40, "Edited meanwhile")
    assert after.first_seen == before.first_seen
    assert after.updated_at > before.updated_at
    entry = DailyEntry.objects.get(paper=after)
    assert (entry.pk, entry.upvotes, entry.created_at) == (entry_before.pk, 40, entry_before.created_at)
    assert entry.updated_at > entry_before.updated_at


def test_a_failed_write_leaves_nothing_behind_in_memory():
    """The second record matches what is stored: after the first failed, nothing changed, so it is
    unchanged (not updated against values that never reached the database)."""
    upsert_records([record(1)], source="hf", default_day=DAY)

    outcome = upsert_records([record(1, upvotes=-1), record(1)], source="hf", default_day=DAY)

    assert counts(outcome) == (0, 0, 1, 1)
    assert Paper.objects.get().upvotes == 1


def test_records_listed_on_several_days_are_unchanged_the_second_time():
    """A week's listing: each record on its own day; stored ones are recognised on every day."""
    records = [record(n, listed_on=DAY + dt.timedelta(days=n % 3)) for n in range(1, 8)]
    assert counts(upsert_records(records, source="hf")) == (7, 0, 0, 0)

    assert counts(upsert_records(records, source="hf")) == (0, 0, 7, 0)
    moved = [
        record(1, listed_on=DAY + dt.timedelta(days=1), upvotes=50),
        record(2, listed_on=DAY + dt.timedelta(days=5)),
        record(3, listed_on=DAY),  # as stored...
        record(3, listed_on=DAY + dt.timedelta(days=6)),  # ...and on one more day
    ]
    assert counts(upsert_records(moved, source="hf")) == (0, 3, 1, 0)
    assert DailyEntry.objects.get(paper__arxiv_id="2601.00001").upvotes == 50
    assert DailyEntry.objects.filter(paper__arxiv_id="2601.00002").count() == 2
    assert DailyEntry.objects.filter(paper__arxiv_id="2601.00003").count() == 2
    assert counts(upsert_records(moved, source="hf")) == (0, 0, 4, 0)


def test_what_is_stored_is_read_in_chunks_where_a_query_takes_few_parameters(monkeypatch):
    records = [record(n, listed_on=DAY + dt.timedelta(days=n % 2)) for n in range(1, 13)]
    upsert_records(records, source="hf")
    monkeypatch.setattr(type(connection.features), "max_query_params", 5)  # 3 papers and 2 days a query

    assert counts(upsert_records(records, source="hf")) == (0, 0, 12, 0)


def test_authors_shared_across_one_batch_are_stored_once_and_keep_each_papers_order():
    long_name = "N" * 400
    records = [
        record(1, authors=("Ada Lovelace", "Alan Turing", long_name)),
        record(2, authors=("Alan Turing", "Ada Lovelace")),
        record(3, authors=(long_name, "Grace Hopper", "Ada Lovelace")),
    ]

    upsert_records(records, source="arxiv", default_day=DAY)

    assert sorted(Author.objects.values_list("name", flat=True)) == sorted(
        ["Ada Lovelace", "Alan Turing", "Grace Hopper", "N" * 300]
    )
    assert Paper.objects.get(arxiv_id="2601.00001").author_names == ["Ada Lovelace", "Alan Turing", "N" * 300]
    assert Paper.objects.get(arxiv_id="2601.00002").author_names == ["Alan Turing", "Ada Lovelace"]
    assert Paper.objects.get(arxiv_id="2601.00003").author_names == ["N" * 300, "Grace Hopper", "Ada Lovelace"]


def test_the_same_arxiv_id_twice_in_one_batch_is_one_paper_holding_the_later_values():
    outcome = upsert_records(
        [record(1, upvotes=1), record(2), record(1, upvotes=5, title="Renamed", authors=("Grace Hopper",))],
        source="hf",
        default_day=DAY,
    )

    assert counts(outcome) == (2, 1, 0, 0)
    paper = Paper.objects.get(arxiv_id="2601.00001")
    assert (paper.title, paper.upvotes, paper.author_names) == ("Renamed", 5, ["Grace Hopper"])
    assert DailyEntry.objects.get(paper=paper).upvotes == 5
    again = upsert_records([record(1), record(1)], source="hf", default_day=DAY)
    assert counts(again) == (0, 1, 1, 0), "the first puts the old values back; the second finds them stored"


def test_text_dump_titles_twice_in_one_batch_make_one_paper():
    text = [
        PaperRecord(arxiv_id="", title="A Paper Without An Id", abstract="First copy."),
        PaperRecord(arxiv_id="", title="A  paper without an ID", abstract="Second copy."),
    ]

    outcome = upsert_records(text, source="text", default_day=DAY)

    assert counts(outcome) == (1, 0, 1, 0), "a text dump only fills what is empty"
    paper = Paper.objects.get()
    assert (paper.arxiv_id, paper.abstract) == (None, "First copy.")
    assert DailyEntry.objects.get().paper == paper


def test_a_paper_found_by_id_and_by_title_in_one_batch_gets_both_records():
    """An arXiv record, then an id-less record of the same stored paper: the second is applied on
    top of the first, not over a stale copy of the paper."""
    upsert_records([record(1)], source="hf")
    records = [
        record(1, upvotes=20),
        PaperRecord(arxiv_id="", title="Paper number 1", abstract="A corrected abstract."),
    ]

    outcome = upsert_records(records, source="hf", default_day=DAY)

    assert counts(outcome) == (0, 2, 0, 0)
    paper = Paper.objects.get()
    assert (paper.upvotes, paper.abstract) == (20, "A corrected abstract.")
