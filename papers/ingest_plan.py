"""The upsert rules, in one place: given the incoming records and what is stored, what each record
inserts or updates, for its paper and for its daily entry. Nothing here writes: ``papers.ingest_write``
carries the plans out and ``papers.ingest`` runs the two.

The rules:

- A new paper is stored with everything its record knows, its authors in order.
- A stored paper takes every value its record sends; an empty one (``None``, "", []) means "not
  known" and keeps what is stored. That is how upvotes, comments, stars and thumbnails follow the
  day, and how a corrected title or abstract arrives. A field an editor changed
  (``Paper.overridden_fields``) is never touched.
- A stored paper's authors are replaced when its record lists others, unless an editor changed them.
- A fill-only source (a text dump, copied by hand; arXiv's categories for papers HF listed without
  them) only fills what is empty: it never corrects.
- On its day (``record.listed_on``, or the call's day) a paper gets an entry if it has none there; a
  stored entry takes the record's rank and upvotes where the record knows them. The curation of an
  entry (status, pinned, note) belongs to the editor and is never touched.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection

from papers.models import DailyEntry, Paper, PaperAuthor, title_key
from papers.sources.base import PaperRecord
from papers.text import safe_url

Numbered = tuple[int, PaperRecord]  # a record and its place in the call, 1 first
PaperKey = tuple[str, str | int]  # ("id", arXiv id), ("title", title key) or ("pk", pk): see Stored.keys

# Every field a source may fill.
INGESTED_FIELDS = Paper.EDITABLE_FIELDS
# Sources that only fill what is empty, never correct: text copied by hand, and the categories
# arXiv is asked for after an HF ingest (papers.services.enrich_categories).
FILL_ONLY_SOURCES = {"text", "arxiv-categories"}
URL_FIELDS = ("pdf_url", "project_url", "github_url", "thumbnail_url")
AUTHOR_NAME_LENGTH = 300  # Author.name's max_length


def author_names(record: PaperRecord) -> list[str]:
    return [name[:AUTHOR_NAME_LENGTH] for name in record.authors]


def record_value(record: PaperRecord, name: str) -> object:
    """The value of ``name`` as a paper stores it."""
    value = getattr(record, name)
    if name in URL_FIELDS:
        return safe_url(value)  # sources check too; nothing but http(s) is ever stored
    return list(value) if isinstance(value, tuple) else value


def is_empty(value: object) -> bool:
    return value is None or value == "" or value == []


def new_paper(record: PaperRecord) -> Paper:
    values = {name: record_value(record, name) for name in INGESTED_FIELDS}
    known = {name: value for name, value in values.items() if value is not None}  # the others keep their default
    paper = Paper(arxiv_id=record.arxiv_id or None, **known)
    paper.title_key = title_key(paper.title)  # what Paper.save() does; a bulk insert does not call it
    return paper


def paper_changes(paper: Paper, record: PaperRecord, *, fill_only: bool) -> dict[str, object]:
    """The field values ``record`` brings to the stored ``paper``."""
    changes: dict[str, object] = {}
    for name in INGESTED_FIELDS:
        if name in paper.overridden_fields:
            continue
        new = record_value(record, name)
        if is_empty(new):
            continue  # the source does not know: keep what we have
        current = getattr(paper, name)
        if fill_only and not is_empty(current):
            continue
        if new != current:
            changes[name] = new
    return changes


class EntryValues(NamedTuple):
    """What ingest writes of a daily entry; the rest of it is the editor's."""

    rank: int | None
    upvotes: int


def entry_values(record: PaperRecord, stored: EntryValues | None) -> EntryValues | None:
    """The entry ``record`` writes on its day: a new one, or the stored one with the record's rank and
    upvotes where it knows them; None when the stored entry already says so."""
    if stored is None:
        return EntryValues(record.rank, record.upvotes or 0)
    rank = stored.rank if record.rank is None else record.rank
    upvotes = stored.upvotes if record.upvotes is None else record.upvotes
    if rank == stored.rank and upvotes == stored.upvotes:
        return None
    return EntryValues(rank, upvotes)


class EntryChange(NamedTuple):
    """A daily entry to write: ``values`` on ``day``, in a new entry or the stored one."""

    day: dt.date
    values: EntryValues
    new: bool  # the entry is to be created, not updated


@dataclass
class Change:
    """What one record writes, planned from ``Stored`` without a query."""

    number: int  # the record's place in the call, 1 first: how a failure is reported
    record: PaperRecord
    # The paper as it is to be stored: a new one, or a copy of the stored one with ``fields`` set (the
    # stored one itself when none changed).
    paper: Paper
    stored: Paper | None = None  # the stored paper, left as it is until the change is written; None: new
    fields: tuple[str, ...] = ()  # the stored paper's changed fields
    authors: list[str] | None = None  # the author list to link, in order; None leaves the links alone
    entry: EntryChange | None = None  # the daily entry to write; None: nothing to write there

    @property
    def status(self) -> str:
        if self.stored is None:
            return "created"
        return "updated" if self.fields or self.authors is not None or self.entry is not None else "unchanged"


@dataclass
class Stored:
    """What the database holds for one call's records: read up front in a few queries, so that an
    unchanged record costs none, and kept current as the call's changes are written."""

    by_id: dict[str, Paper]
    by_title: dict[str, Paper]  # for records without an arXiv id (text dumps), by title key
    names: dict[int, list[str]]  # author names by paper pk, in order
    entries: dict[tuple[dt.date, int], EntryValues]  # by (day, paper pk), for the days the records name

    @classmethod
    def load(cls, records: list[PaperRecord], default_day: dt.date | None) -> Stored:
        by_id, by_title = _find_papers(records)
        pks = {paper.pk for paper in (*by_id.values(), *by_title.values())}
        days = {day for record in records if (day := record.listed_on or default_day) is not None}
        names, entries = _read_authors_and_entries(sorted(pks), days)
        return cls(by_id=by_id, by_title=by_title, names=names, entries=entries)

    def paper_for(self, record: PaperRecord) -> Paper | None:
        return self.by_id.get(record.arxiv_id) if record.arxiv_id else self.by_title.get(title_key(record.title))

    def keys(self, record: PaperRecord, paper: Paper | None) -> set[PaperKey]:
        """What names the paper ``record`` writes (``paper``, when stored): records sharing a key write
        the same paper."""
        own: PaperKey = ("id", record.arxiv_id) if record.arxiv_id else ("title", title_key(record.title))
        return {own} if paper is None else {own, ("pk", paper.pk)}

    def remember(self, change: Change) -> None:
        """``change`` is written: what is stored now includes it."""
        paper = change.stored
        if paper is None:
            paper = change.paper
            if paper.arxiv_id:
                self.by_id[paper.arxiv_id] = paper
            else:
                self.by_title[paper.title_key] = paper
        elif change.fields:
            # The one instance of the paper, whichever way a record finds it, takes the written values.
            for name in (*change.fields, "title_key", "updated_at"):
                setattr(paper, name, getattr(change.paper, name))
        if change.authors is not None:
            self.names[paper.pk] = change.authors
        if change.entry is not None:
            self.entries[(change.entry.day, paper.pk)] = change.entry.values


def _find_papers(records: list[PaperRecord]) -> tuple[dict[str, Paper], dict[str, Paper]]:
    ids = {record.arxiv_id for record in records if record.arxiv_id}
    by_id = Paper.objects.in_bulk(ids, field_name="arxiv_id") if ids else {}
    by_pk = {paper.pk: paper for paper in by_id.values()}
    keys = {title_key(record.title) for record in records if not record.arxiv_id}
    by_title: dict[str, Paper] = {}
    # Prefer a paper that already has its arXiv id over an id-less one with the same title.
    for paper in Paper.objects.filter(title_key__in=keys).order_by("arxiv_id", "pk") if keys else ():
        # One instance per paper, whichever way a record finds it: a write through one is seen by the other.
        by_title.setdefault(paper.title_key, by_pk.get(paper.pk, paper))
    return by_id, by_title


def _read_authors_and_entries(
    pks: list[int], days: set[dt.date]
) -> tuple[dict[int, list[str]], dict[tuple[dt.date, int], EntryValues]]:
    names: dict[int, list[str]] = defaultdict(list)
    entries: dict[tuple[dt.date, int], EntryValues] = {}
    # SQLite caps the parameters of one query; PostgreSQL takes the whole list at once.
    limit = connection.features.max_query_params
    size = max(limit - len(days), 1) if limit else max(len(pks), 1)
    for chunk in (pks[start : start + size] for start in range(0, len(pks), size)):
        links = PaperAuthor.objects.filter(paper_id__in=chunk).order_by("paper_id", "position")
        for paper_id, name in links.values_list("paper_id", "author__name"):
            names[paper_id].append(name)
        if days:
            rows = DailyEntry.objects.filter(paper_id__in=chunk, day__in=days)
            for day, paper_id, rank, upvotes in rows.values_list("day", "paper_id", "rank", "upvotes"):
                entries[(day, paper_id)] = EntryValues(rank, upvotes)
    return names, entries


@dataclass
class Planner:
    """The rules above, applied to one call's records against what is stored."""

    stored: Stored
    fill_only: bool
    default_day: dt.date | None

    @classmethod
    def for_records(cls, records: list[PaperRecord], *, source: str, default_day: dt.date | None) -> Planner:
        return cls(Stored.load(records, default_day), source in FILL_ONLY_SOURCES, default_day)

    def plan_round(self, numbered: Iterable[Numbered]) -> tuple[list[Change], list[Numbered]]:
        """Plans for the records that can be written together (one record per paper), and the
        records that must wait for the next round: a later record of a paper already changed in this
        round is planned against what that change stored."""
        planned: list[Change] = []
        waiting: list[Numbered] = []
        taken: set[PaperKey] = set()
        for number, record in numbered:
            stored = self.stored.paper_for(record)
            keys = self.stored.keys(record, stored)
            if not keys.isdisjoint(taken):
                waiting.append((number, record))
                continue
            change = self.plan(number, record, stored)
            if change.status != "unchanged":  # an unchanged record writes nothing a later one must wait for
                taken |= keys
            planned.append(change)
        return planned, waiting

    def plan(self, number: int, record: PaperRecord, stored: Paper | None) -> Change:
        """What ``record`` changes of the ``stored`` paper it names (None: a new paper)."""
        if stored is None:
            change = Change(number, record, new_paper(record), authors=author_names(record))
        else:
            change = self._update(number, record, stored)
        day = record.listed_on or self.default_day
        if day is not None:
            current = None if stored is None else self.stored.entries.get((day, stored.pk))
            values = entry_values(record, current)
            if values is not None:
                change.entry = EntryChange(day, values, new=current is None)
        return change

    def _update(self, number: int, record: PaperRecord, stored: Paper) -> Change:
        changes = paper_changes(stored, record, fill_only=self.fill_only)
        paper = stored
        if changes:
            paper = copy.copy(stored)  # the stored paper changes only once the write succeeded
            for name, value in changes.items():
                setattr(paper, name, value)
            paper.title_key = title_key(paper.title)  # as Paper.save() would
        authors = self._new_authors(record, stored)
        return Change(number, record, paper, stored=stored, fields=tuple(sorted(changes)), authors=authors)

    def _new_authors(self, record: PaperRecord, stored: Paper) -> list[str] | None:
        names = author_names(record)
        current = self.stored.names.get(stored.pk, [])
        if not names or names == current or "authors" in stored.overridden_fields:
            return None
        if self.fill_only and current:
            return None
        return names
