from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from papers import services
from papers.models import IngestRun


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--date {value!r} is not a date like 2026-08-21") from exc


def iso_week(value: str) -> str:
    if not re.fullmatch(r"\d{4}-W\d{2}", value):
        raise CommandError(f"--week {value!r} is not a week like 2026-W34")
    return value


def iso_month(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}", value):
        raise CommandError(f"--month {value!r} is not a month like 2026-08")
    return value


class Command(BaseCommand):
    help = "Fetch a day's (or week's, month's) trending papers from a source, or read them from a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=services.SOURCES, required=True)
        period = parser.add_mutually_exclusive_group()
        period.add_argument("--date", type=str, help="YYYY-MM-DD (default: today)")
        period.add_argument("--week", type=str, help="YYYY-Www (HF API only)")
        period.add_argument("--month", type=str, help="YYYY-MM (HF API only)")
        parser.add_argument("--category", action="append", default=[], help="arXiv category, repeatable (cs.CL)")
        parser.add_argument(
            "--paper", action="append", default=[], help="HF paper page to fetch by arXiv id, repeatable (hf-page)"
        )
        parser.add_argument("--query", default="", help="arXiv export-API search instead of the feeds (arxiv)")
        parser.add_argument("--max", type=int, default=100, help="at most this many --query results (default 100)")
        parser.add_argument("--file", help="read this file instead of the network")

    def handle(
        self,
        *args: Any,
        source: str,
        date: str | None,
        week: str | None,
        month: str | None,
        category: list[str],
        paper: list[str],
        query: str,
        file: str | None,
        **options: Any,
    ) -> None:
        day = iso_date(date) if date else None
        week = iso_week(week) if week else None
        month = iso_month(month) if month else None
        check_options(source, period=week or month, paper=paper, query=query)
        show_progress = sys.stderr.isatty() and options["verbosity"] > 0
        try:
            run = services.ingest(
                source,
                day=day,
                week=week,
                month=month,
                categories=category,
                papers=paper,
                query=query,
                max_results=options["max"],
                path=file,
                progress=progress_bar(source) if show_progress else None,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        self.report_errors(run, verbosity=options["verbosity"])
        if run.status == IngestRun.Status.FAILED:
            raise CommandError(f"{run.summary} (run {run.pk})")
        self.stdout.write(f"{run.summary} (run {run.pk})")

    def report_errors(self, run: IngestRun, *, verbosity: int) -> None:
        """Every error line with -v 2; the first five otherwise; none with -v 0."""
        lines = run.errors.splitlines()
        if not lines or verbosity == 0:
            return
        shown = lines if verbosity > 1 else lines[:5]
        for line in shown:
            self.stderr.write(f"  {line}")
        if len(lines) > len(shown):
            self.stderr.write(f"  … {len(lines) - len(shown)} more (see IngestRun {run.pk} in admin, or -v 2)")


def check_options(source: str, *, period: str | None, paper: list[str], query: str) -> None:
    if period and source != "hf":
        raise CommandError("--week and --month work with --source hf only")
    if paper and source != "hf-page":
        raise CommandError("--paper works with --source hf-page only")
    if query and source != "arxiv":
        raise CommandError("--query works with --source arxiv only")


def progress_bar(source: str) -> Callable[[int], Callable[[int], None]]:
    """A progress factory for ``services.ingest``: a bar on stderr, advanced to the records done."""

    def start(total: int) -> Callable[[int], None]:
        bar = tqdm(total=total, unit="paper", desc=f"ingest {source}", file=sys.stderr, leave=False)

        def advance(done: int) -> None:
            bar.update(done - bar.n)
            if done >= total:
                bar.close()

        return advance

    return start
