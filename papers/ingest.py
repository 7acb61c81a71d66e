"""Upserting what sources return: idempotent, editor-safe, one bad item never sinks the rest."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction
from django.utils import timezone

from papers.models import Author, DailyEntry, IngestRun, Paper, PaperAuthor, title_key
from papers.sources.base import PaperRecord, ParseResult, SourceError
from papers.text import safe_url

logger = logging.getLogger(__name__)

# Every field a source may fill; an editor's change to one of them (Paper.overridden_fields) wins.
# A source that sends a value refreshes the stored one: that is how upvotes, comments, stars and
# thumbnails follow the day, and how a corrected title or abstract arrives.
INGESTED_FIELDS = Paper.EDITABLE_FIELDS
# Sources whose text is copied by hand: they only fill what is empty, never correct.
FILL_ONLY_SOURCES = {"text"}


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


URL_FIELDS = ("pdf_url", "project_url", "github_url", "thumbnail_url")


def _record_value(record: PaperRecord, name: str):
    value = getattr(record, name)
    if name in URL_FIELDS:
        return safe_url(value)  # sources check too; nothing but http(s) is ever stored
    return list(value) if isinstance(value, tuple) else value


def _is_empty(value) -> bool:
    return value is None or value == "" or value == []


def _changes(paper: Paper, record: PaperRecord, *, fill_only: bool) -> dict:
    """The field values ``record`` should write to an existing ``paper``."""
    changes = {}
    for name in INGESTED_FIELDS:
        if name in paper.overridden_fields:
            continue
        new = _record_value(record, name)
        if _is_empty(new):
            continue  # the source does not know: keep what we have
        current = getattr(paper, name)
        if fill_only and not _is_empty(current):
            continue
        if new != current:
            changes[name] = new
    return changes


def _new_paper(record: PaperRecord) -> Paper:
    values = {name: _record_value(record, name) for name in INGESTED_FIELDS}
    values = {name: value for name, value in values.items() if value is not None}
    return Paper(arxiv_id=record.arxiv_id or None, **values)


def _set_authors(paper: Paper, names: Iterable[str], authors_by_name: dict[str, Author]) -> None:
    PaperAuthor.objects.filter(paper=paper).delete()
    PaperAuthor.objects.bulk_create(
        PaperAuthor(paper=paper, author=authors_by_name[name], position=position) for position, name in enumerate(names)
    )


def _authors_for(records: list[PaperRecord]) -> dict[str, Author]:
    names = {name[:300] for record in records for name in record.authors}
    existing = Author.objects.in_bulk(names, field_name="name")
    missing = names - existing.keys()
    if missing:
        Author.objects.bulk_create([Author(name=name) for name in missing], ignore_conflicts=True)
        existing = Author.objects.in_bulk(names, field_name="name")
    return existing


def _find_existing(records: list[PaperRecord]) -> tuple[dict[str, Paper], dict[str, Paper]]:
    ids = {record.arxiv_id for record in records if record.arxiv_id}
    by_id = Paper.objects.in_bulk(ids, field_name="arxiv_id") if ids else {}
    keys = {title_key(record.title) for record in records if not record.arxiv_id}
    by_title: dict[str, Paper] = {}
    # Prefer a paper that already has its arXiv id over an id-less one with the same title.
    for paper in Paper.objects.filter(title_key__in=keys).order_by("arxiv_id", "pk") if keys else ():
        by_title.setdefault(paper.title_key, paper)
    return by_id, by_title


def upsert_records(
    records: list[PaperRecord],
    *,
    source: str,
    default_day: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Store ``records``; list each on its day (``record.listed_on`` or ``default_day``)."""
    outcome = Outcome()
    by_id, by_title = _find_existing(records)
    authors_by_name = _authors_for(records)
    fill_only = source in FILL_ONLY_SOURCES
    known = _Known.load([*by_id.values(), *by_title.values()], records, default_day)

    for number, record in enumerate(records, start=1):
        label = record.arxiv_id or f"“{record.title[:60]}”"
        if known.unchanged(record, by_id, by_title, default_day, fill_only):
            outcome.unchanged += 1  # the common re-run case: no query, no transaction
            if progress:
                progress(number)
            continue
        try:
            with transaction.atomic():
                status = _upsert_one(record, source, default_day, by_id, by_title, authors_by_name, fill_only)
            known.forget(record, by_id, by_title, default_day)
        except DatabaseError as exc:
            outcome.failed += 1
            outcome.errors.append(f"item {number} ({label}): not stored: {exc}".strip())
            logger.warning("ingest %s: item %s (%s) failed: %s", source, number, label, exc)
        else:
            setattr(outcome, status, getattr(outcome, status) + 1)
        if progress:
            progress(number)
    return outcome


@dataclass
class _Known:
    """What the database held for this batch's papers when the batch started: their author names
    and their daily entries, read in two queries so that an unchanged record costs none."""

    names: dict[int, list[str]]
    entries: dict[tuple[dt.date, int], DailyEntry]
    stale: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, papers: list[Paper], records: list[PaperRecord], default_day: dt.date | None) -> _Known:
        names: dict[int, list[str]] = defaultdict(list)
        links = PaperAuthor.objects.filter(paper__in=papers).order_by("paper_id", "position")
        for paper_id, name in links.values_list("paper_id", "author__name"):
            names[paper_id].append(name)
        days = {record.listed_on or default_day for record in records} - {None}
        entries = DailyEntry.objects.filter(paper__in=papers, day__in=days) if papers and days else []
        return cls(names=names, entries={(entry.day, entry.paper_id): entry for entry in entries})

    def unchanged(self, record, by_id, by_title, default_day, fill_only) -> bool:
        paper = by_id.get(record.arxiv_id) if record.arxiv_id else by_title.get(title_key(record.title))
        if paper is None or paper.pk in self.stale or _changes(paper, record, fill_only=fill_only):
            return False
        names = [name[:300] for name in record.authors]
        stored = self.names.get(paper.pk, [])
        if names and names != stored and "authors" not in paper.overridden_fields and not (fill_only and stored):
            return False
        day = record.listed_on or default_day
        if day is None:
            return True
        entry = self.entries.get((day, paper.pk))
        return (
            entry is not None
            and (record.rank is None or entry.rank == record.rank)
            and (record.upvotes is None or entry.upvotes == record.upvotes)
        )

    def forget(self, record, by_id, by_title, default_day) -> None:
        """A record was written: its paper's snapshot no longer describes the database."""
        paper = by_id.get(record.arxiv_id) if record.arxiv_id else by_title.get(title_key(record.title))
        if paper is not None and paper.pk is not None:
            self.stale.add(paper.pk)


def _upsert_one(record, source, default_day, by_id, by_title, authors_by_name, fill_only) -> str:
    names = [name[:300] for name in record.authors]
    paper = by_id.get(record.arxiv_id) if record.arxiv_id else by_title.get(title_key(record.title))
    if paper is None:
        paper = _new_paper(record)
        paper.save()
        _set_authors(paper, names, authors_by_name)
        status = "created"
        if paper.arxiv_id:
            by_id[paper.arxiv_id] = paper
        else:
            by_title[paper.title_key] = paper
    else:
        changes = _changes(paper, record, fill_only=fill_only)
        authors_change = bool(names) and "authors" not in paper.overridden_fields and names != paper.author_names
        if fill_only and paper.author_links.exists():
            authors_change = False
        for name, value in changes.items():
            setattr(paper, name, value)
        if changes:
            paper.save()
        if authors_change:
            _set_authors(paper, names, authors_by_name)
        status = "updated" if changes or authors_change else "unchanged"

    day = record.listed_on or default_day
    if day is not None and _list_on_day(paper, day, record, source) and status == "unchanged":
        status = "updated"
    return status


def _list_on_day(paper: Paper, day: dt.date, record: PaperRecord, source: str) -> bool:
    """Create or refresh the paper's entry for ``day``; True when something changed.

    Curation (status, pinned, note) belongs to the editor and is never touched here."""
    entry, created = DailyEntry.objects.get_or_create(
        day=day,
        paper=paper,
        defaults={"rank": record.rank, "upvotes": record.upvotes or 0, "source": source},
    )
    if created:
        return True
    changed = []
    if record.rank is not None and entry.rank != record.rank:
        entry.rank = record.rank
        changed.append("rank")
    if record.upvotes is not None and entry.upvotes != record.upvotes:
        entry.upvotes = record.upvotes
        changed.append("upvotes")
    if changed:
        entry.save(update_fields=[*changed, "updated_at"])
    return bool(changed)


def run_ingest(
    *,
    source: str,
    parameters: dict,
    load: Callable[[], ParseResult],
    default_day: dt.date | None = None,
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
) -> IngestRun:
    """One IngestRun: ``load`` fetches and parses; its records are upserted and counted.

    A ``SourceError`` (or a network failure) fails the run with its message; nothing stored
    before is touched."""
    run = IngestRun.objects.create(source=source, parameters=parameters)
    try:
        result = load()
    except SourceError as exc:
        _finish(run, IngestRun.Status.FAILED, errors=[str(exc)])
        return run

    progress = progress_factory(len(result.records)) if progress_factory else None
    outcome = upsert_records(result.records, source=source, default_day=default_day, progress=progress)
    outcome.skipped += len(result.errors)
    errors = [*result.errors, *outcome.errors]
    if outcome.failed and not (outcome.created or outcome.updated or outcome.unchanged):
        status = IngestRun.Status.FAILED
    elif errors:
        status = IngestRun.Status.PARTIAL
    else:
        status = IngestRun.Status.SUCCEEDED
    _finish(run, status, outcome=outcome, errors=errors)
    return run


def _finish(run: IngestRun, status: str, *, outcome: Outcome | None = None, errors: list[str]) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.errors = "\n".join(errors)
    if outcome:
        run.created, run.updated, run.unchanged = outcome.created, outcome.updated, outcome.unchanged
        run.skipped, run.failed = outcome.skipped, outcome.failed
    run.save()
    logger.debug("ingest run %s: %s", run.pk, run.summary)
