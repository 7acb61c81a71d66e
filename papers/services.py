"""The ways papers come in, each one IngestRun: used by the command, the Celery tasks and admin."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from papers.ingest import run_ingest
from papers.models import DailyEntry, IngestRun, Paper
from papers.sources import arxiv, hf_api, hf_page, text_dump
from papers.sources.base import PaperRecord, ParseResult, SourceError
from papers.text import canonical_arxiv_id

logger = logging.getLogger(__name__)

SOURCES = ("hf", "hf-page", "arxiv", "text")
ProgressFactory = Callable[[int], Callable[[int], None]]

# Asking arXiv for the categories HF does not carry (enrich_categories).
ENRICH_SOURCE = "arxiv-categories"
ENRICH_WINDOW = dt.timedelta(days=30)  # papers first seen this recently are asked about
ENRICH_LIMIT = 500  # papers per run: five id_list requests


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc


def ingest(
    source: str,
    *,
    day: dt.date | None = None,
    week: str | None = None,
    month: str | None = None,
    categories: Iterable[str] = (),
    papers: Iterable[str] = (),
    query: str = "",
    max_results: int = 100,
    path: str | Path | None = None,
    progress: ProgressFactory | None = None,
) -> IngestRun:
    """Fetch (or read ``path``) and store one source's papers.

    Without ``day``/``week``/``month`` the day is today (server time zone). ``papers`` (arXiv
    ids, hf-page only) fetches single HF paper pages instead of a day's listing; ``query`` (arxiv
    only) runs an export-API search (``cat:cs.CL AND ti:diffusion``) instead of the feeds. A live HF
    ingest then starts the task that asks arXiv for the categories HF does not carry."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    request = _Request.of(day=day, week=week, month=month, path=path, progress=progress)
    if source in ("hf", "hf-page"):
        run = _ingest_hf(request, list(papers)) if source == "hf" else _ingest_hf_page(request, list(papers))
        if path is None:  # a saved file is a replay, offline by nature (make demo)
            queue_category_enrichment(run)
        return run
    if source == "arxiv":
        return _ingest_arxiv(request, list(categories), query=query, max_results=max_results)
    if path is None:
        raise ValueError("the text source reads a file: give --file")
    return import_text_dump(_read_text(path), day=request.day, parameters=request.parameters, progress=progress)


class _Period(TypedDict, total=False):
    """One of a listing day, an ISO week (``2026-W34``) or a month (``2026-08``), as ``hf_api.fetch`` takes it."""

    day: dt.date
    week: str
    month: str


@dataclass
class _Request:
    """What one ``ingest`` call asks of any source: a period (a day, or an HF week or month), a file
    to read instead of the network, and a progress bar."""

    period: _Period
    day: dt.date | None  # the listing day; None for a week or a month
    parameters: dict[str, object]  # what the IngestRun records
    path: str | Path | None
    progress: ProgressFactory | None

    @classmethod
    def of(
        cls,
        *,
        day: dt.date | None,
        week: str | None,
        month: str | None,
        path: str | Path | None,
        progress: ProgressFactory | None,
    ) -> _Request:
        period: _Period
        listing_day: dt.date | None = None
        if week:
            period = {"week": week}
        elif month:
            period = {"month": month}
        else:
            listing_day = day or timezone.localdate()
            period = {"day": listing_day}
        parameters: dict[str, object] = {key: str(value) for key, value in period.items()}
        if path:
            parameters["file"] = str(path)
        return cls(period=period, day=listing_day, parameters=parameters, path=path, progress=progress)

    def run(self, source: str, load: Callable[[], ParseResult], **parameters: object) -> IngestRun:
        return run_ingest(
            source=source,
            parameters={**self.parameters, **parameters},
            load=load,
            default_day=self.day,
            progress_factory=self.progress,
        )

    def read(self) -> bytes:
        if self.path is None:
            raise ValueError("there is no file to read: give --file")
        return _read(self.path)

    def single_day(self) -> dt.date:
        if self.day is None:
            raise ValueError("the HF papers page lists single days only; give a date")
        return self.day


def _ingest_hf(request: _Request, papers: list[str]) -> IngestRun:
    if request.path or settings.HF_API_ENABLED:
        run = request.run(
            "hf",
            lambda: hf_api.parse(
                request.read() if request.path else hf_api.fetch(**request.period), listed_on=request.day
            ),
        )
        if request.path or run.status != IngestRun.Status.FAILED or request.day is None:
            return run
    # The API is off or failing: the papers page carries the same list, one day at a time.
    request.single_day()
    return _ingest_hf_page(request, papers)


def _ingest_hf_page(request: _Request, papers: list[str]) -> IngestRun:
    if papers:
        return request.run("hf-page", lambda: _fetch_hf_paper_pages(papers, request.day), papers=papers)
    day = request.single_day()
    return request.run(
        "hf-page", lambda: hf_page.parse(request.read() if request.path else hf_page.fetch_day(day), listed_on=day)
    )


def _ingest_arxiv(request: _Request, categories: list[str], *, query: str, max_results: int) -> IngestRun:
    if query:
        return request.run(
            "arxiv", lambda: arxiv.search(query, max_results=max_results), query=query, max_results=max_results
        )
    if request.path:
        return request.run("arxiv", lambda: _parse_arxiv_file(request.read()))
    chosen = categories or list(settings.ARXIV_CATEGORIES)
    return request.run("arxiv", lambda: _fetch_arxiv_feeds(chosen), categories=chosen)


def _fetch_hf_paper_pages(ids: list[str], day: dt.date | None) -> ParseResult:
    combined = ParseResult()
    for arxiv_id in ids:
        try:
            result = hf_page.parse(hf_page.fetch_paper(arxiv_id), listed_on=day)
        except SourceError as exc:
            combined.errors.append(f"{arxiv_id}: {exc}")
            continue
        combined.records.extend(result.records)
        combined.errors.extend(result.errors)
    if not combined.records and combined.errors:
        raise SourceError("; ".join(combined.errors))
    return combined


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path} as UTF-8 text: {exc}") from exc


def _parse_arxiv_file(data: bytes) -> ParseResult:
    """A saved arXiv answer: an announcement feed (Atom or RSS) or an export-API response."""
    head = data[:4096].lstrip()
    if b"<rss" in head or b"rss.arxiv.org" in head:
        return arxiv.parse_feed(data)
    return arxiv.parse(data)


def _fetch_arxiv_feeds(categories: list[str]) -> ParseResult:
    """Each category's announcement feed; a failing category is reported, the others land."""
    combined = ParseResult()
    seen: set[str] = set()
    failures = 0
    for category in categories:
        try:
            result = arxiv.parse_feed(arxiv.fetch_feed(category, flavour="atom"))
        except SourceError as exc:
            failures += 1
            combined.errors.append(f"{category}: {exc}")
            continue
        combined.errors.extend(f"{category}: {line}" for line in result.errors)
        for record in result.records:
            if record.arxiv_id not in seen:
                seen.add(record.arxiv_id)
                combined.records.append(record)
    if categories and failures == len(categories):
        raise SourceError("every arXiv feed failed: " + "; ".join(combined.errors))
    return combined


def import_text_dump(
    content: str,
    *,
    day: dt.date | None,
    parameters: dict[str, object] | None = None,
    progress: ProgressFactory | None = None,
    run: IngestRun | None = None,
) -> IngestRun:
    listing_day = day or timezone.localdate()
    return run_ingest(
        source="text",
        parameters=parameters or {"day": str(listing_day), "upload": True},
        load=lambda: text_dump.parse(content, listed_on=listing_day),
        default_day=listing_day,
        progress_factory=progress,
        run=run,
    )


def add_by_arxiv_ids(
    values: list[str], *, day: dt.date, progress: ProgressFactory | None = None, run: IngestRun | None = None
) -> IngestRun:
    """An editor's pick: fetch ``values`` (arXiv ids or URLs) from the arXiv API and list them,
    approved, on ``day``. A value that is no arXiv id, or that the API does not know, is reported
    on the run."""
    run = run_ingest(
        source="editor",
        parameters={"ids": values, "day": str(day)},
        load=lambda: arxiv.lookup_ids(values),
        default_day=day,
        progress_factory=progress,
        run=run,
    )
    ids = [arxiv_id for arxiv_id in map(canonical_arxiv_id, values) if arxiv_id]
    DailyEntry.objects.filter(day=day, paper__arxiv_id__in=ids).update(status=DailyEntry.Status.APPROVED)
    return run


def stored_progress(run: IngestRun) -> ProgressFactory:
    """Progress written to ``run`` as it goes (once per stored batch), for its admin page."""

    def start(total: int) -> Callable[[int], None]:
        run.progress_total = total  # kept on the object too: the run's final save writes it again
        IngestRun.objects.filter(pk=run.pk).update(progress_total=total)

        def advance(done: int) -> None:
            run.progress_done = done
            IngestRun.objects.filter(pk=run.pk).update(progress_done=done)

        return advance

    return start


def finish_in_background(run_id: int) -> IngestRun | None:
    """Carry out a run an editor started in admin (``papers.tasks.finish_editor_run``). A run that
    already finished is left alone, so a re-delivered task does nothing."""
    run = IngestRun.objects.filter(pk=run_id, status=IngestRun.Status.RUNNING, finished_at=None).first()
    if run is None:
        return None
    day = dt.date.fromisoformat(str(run.parameters["day"]))
    if run.source == "editor":
        return add_by_arxiv_ids(list(run.parameters["ids"]), day=day, progress=stored_progress(run), run=run)
    if run.source == "text":
        return import_text_dump(run.input_text, day=day, progress=stored_progress(run), run=run)
    raise ValueError(f"run {run.pk}: {run.source} runs are not started from admin")


# --- arXiv categories for papers HF listed without them ----------------------------------------------


def queue_category_enrichment(run: IngestRun) -> None:
    """After an HF ingest run: once it is committed, the Celery task ``papers.enrich_arxiv_categories``
    asks arXiv for the categories of the papers that have none. Whatever becomes of that task (arXiv
    offline, a broker that refuses it, a bug) is its own affair and never the ingest's."""
    if settings.ARXIV_ENRICH_CATEGORIES and run.status != IngestRun.Status.FAILED:
        transaction.on_commit(functools.partial(_start_enrichment, run.pk))


def _start_enrichment(after_run: int) -> None:
    from papers.tasks import enrich_arxiv_categories  # the tasks module imports this one

    try:
        enrich_arxiv_categories.delay(after_run)
    except Exception:  # the HF ingest is done and stays done
        logger.exception("arXiv categories after ingest run %s: the task could not be started", after_run)


def papers_missing_categories(*, limit: int = ENRICH_LIMIT) -> list[str]:
    """The arXiv ids of papers first seen in the last ``ENRICH_WINDOW`` whose categories are not known
    (none stored, and no editor has made the empty list theirs), newest first. A paper arXiv did not
    know about is asked about again after later ingests, until it is out of the window."""
    rows = (
        Paper.objects.filter(arxiv_id__isnull=False, categories=[], first_seen__gte=timezone.now() - ENRICH_WINDOW)
        .order_by("-first_seen", "-pk")
        .values_list("arxiv_id", "overridden_fields")
    )
    ids: list[str] = []
    for arxiv_id, overridden in rows.iterator(chunk_size=ENRICH_LIMIT):
        if "categories" not in overridden and arxiv_id:
            ids.append(arxiv_id)
            if len(ids) >= limit:
                break
    return ids


def enrich_categories(*, after_run: int | None = None) -> IngestRun | None:
    """Ask the arXiv export API (``id_list``, ``arxiv.ID_CHUNK`` ids a request, its rate wait kept) for
    the categories of ``papers_missing_categories()``, and fill them in: categories and primary
    category, where empty and not the editor's (a fill-only source). One IngestRun, source
    ``arxiv-categories``, says what came of it; when arXiv cannot be reached or refuses (HTTP 400,
    500...) it fails with the reason and no paper is touched. None when no paper needs asking about."""
    ids = papers_missing_categories()
    if not ids:
        return None
    parameters: dict[str, object] = {"ids": ids}
    if after_run is not None:
        parameters["after_run"] = after_run
    return run_ingest(source=ENRICH_SOURCE, parameters=parameters, load=lambda: _arxiv_categories(ids))


def _categories_only(record: PaperRecord) -> PaperRecord:
    """What arXiv says of a paper's categories, and nothing else (an empty title keeps the stored one)."""
    return PaperRecord(record.arxiv_id, "", categories=record.categories, primary_category=record.primary_category)


def _arxiv_categories(ids: list[str]) -> ParseResult:
    """Records that carry only what arXiv says of the categories of ``ids``; a failing request is
    one error line and the other requests still land; all of them failing raises ``SourceError``."""
    combined = ParseResult()
    chunks = [ids[start : start + arxiv.ID_CHUNK] for start in range(0, len(ids), arxiv.ID_CHUNK)]
    failures: list[str] = []
    for chunk in chunks:
        try:
            found = arxiv.lookup_ids(chunk)
        except SourceError as exc:
            failures.append(f"{len(chunk)} papers from {chunk[0]}: {exc}")
            continue
        combined.errors.extend(found.errors)
        asked = set(chunk)  # an answer may hold papers not asked about: they are left alone
        combined.records.extend(
            _categories_only(record) for record in found.records if record.arxiv_id in asked and record.categories
        )
    if len(failures) == len(chunks):
        raise SourceError("the arXiv API could not be asked for categories: " + "; ".join(failures))
    combined.errors.extend(failures)
    # Only papers still stored: a record with no title must never become a new paper.
    found_ids = [record.arxiv_id for record in combined.records]
    stored = set(Paper.objects.filter(arxiv_id__in=found_ids).values_list("arxiv_id", flat=True))
    combined.records = [record for record in combined.records if record.arxiv_id in stored]
    return combined
