"""Upserting what sources return: idempotent, editor-safe, one bad item never sinks the rest.

``upsert_records`` plans each record against what is stored (``papers.ingest_plan``, where the
rules live) and writes the changes a batch at a time (``papers.ingest_write``); ``run_ingest`` is one
source's fetch and upsert, recorded as an IngestRun.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.utils import timezone

from papers import embeddings
from papers.ingest_plan import Change, Numbered, Planner
from papers.ingest_write import ensure_authors, write_batch, write_each
from papers.models import Author, IngestRun
from papers.sources.base import PaperRecord, ParseResult, SourceError

logger = logging.getLogger(__name__)

# Records are planned and written this many at a time: a few queries per batch, not ~9 per record.
BATCH_SIZE = 500


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def upsert_records(
    records: list[PaperRecord],
    *,
    source: str,
    default_day: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Store ``records``; list each on its day (``record.listed_on`` or ``default_day``).

    An unchanged record costs no query. The changes are written a batch at a time, in one
    transaction per batch; if that fails, the batch's changes are written again one by one, so that
    only a bad one is lost (and reported). A record for a paper that an earlier record of the batch
    changes is planned once that one is written, against what it stored. ``progress`` is called with
    the number of records done after each batch."""
    upsert = _Upsert(
        planner=Planner.for_records(records, source=source, default_day=default_day),
        authors=ensure_authors(records),
        source=source,
    )
    numbered = list(enumerate(records, start=1))
    for start in range(0, len(numbered), BATCH_SIZE):
        batch = numbered[start : start + BATCH_SIZE]
        upsert.batch(batch)
        if progress:
            progress(batch[-1][0])
    return upsert.finish()


@dataclass
class _Upsert:
    """One ``upsert_records`` call: its planner, which knows what is stored, and what it counted."""

    planner: Planner
    authors: dict[str, Author]
    source: str
    outcome: Outcome = field(default_factory=Outcome)
    failures: list[tuple[int, str]] = field(default_factory=list)

    def batch(self, numbered: list[Numbered]) -> None:
        while numbered:
            planned, numbered = self.planner.plan_round(numbered)
            changes = [change for change in planned if change.status != "unchanged"]
            self.outcome.unchanged += len(planned) - len(changes)  # the common re-run case: no query
            if changes:
                self.write(changes)

    def write(self, changes: list[Change]) -> None:
        try:
            write_batch(changes, source=self.source, authors=self.authors)
        except DatabaseError as exc:
            # One bad change sinks the batch's transaction: write them one by one, so only that one is lost.
            logger.info("ingest %s: a batch of %s failed (%s); writing it one by one", self.source, len(changes), exc)
            for change, error in write_each(changes, source=self.source, authors=self.authors):
                self.settle(change, error)
        else:
            for change in changes:
                self.settle(change, None)

    def settle(self, change: Change, error: DatabaseError | None) -> None:
        if error is None:
            status = change.status
            self.planner.stored.remember(change)
            setattr(self.outcome, status, getattr(self.outcome, status) + 1)
            return
        record = change.record
        label = record.arxiv_id or f"“{record.title[:60]}”"
        self.outcome.failed += 1
        self.failures.append((change.number, f"item {change.number} ({label}): not stored: {error}".strip()))
        logger.warning("ingest %s: item %s (%s) failed: %s", self.source, change.number, label, error)

    def finish(self) -> Outcome:
        self.outcome.errors.extend(message for _, message in sorted(self.failures))
        return self.outcome


def run_ingest(
    *,
    source: str,
    parameters: dict[str, object],
    load: Callable[[], ParseResult],
    default_day: dt.date | None = None,
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
    run: IngestRun | None = None,
) -> IngestRun:
    """One IngestRun (``run``, or a new one): ``load`` fetches and parses; its records are upserted
    and counted.

    A ``SourceError`` (or a network failure) fails the run with its message; nothing stored
    before is touched."""
    run = run or IngestRun.objects.create(source=source, parameters=parameters)
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
    if outcome.created or outcome.updated:
        embeddings.queue_embeddings()
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
