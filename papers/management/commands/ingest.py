from __future__ import annotations

import datetime as dt
import re
import sys

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

    def handle(self, *args, source: str, date, week, month, category, paper, query, file, **options) -> None:
        day = iso_date(date) if date else None
        week = iso_week(week) if week else None
        month = iso_month(month) if month else None
        if (week or month) and source != "hf":
            raise CommandError("--week and --month work with --source hf only")
        if paper and source != "hf-page":
            raise CommandError("--paper works with --source hf-page only")
        if query and source != "arxiv":
            raise CommandError("--query works with --source arxiv only")
        show_progress = sys.stderr.isatty() and options["verbosity"] > 0

        def progress(total: int):
            bar = tqdm(total=total, unit="paper", desc=f"ingest {source}", file=sys.stderr, leave=False)

            def advance(done: int) -> None:
                bar.update(done - bar.n)
                if done >= total:
                    bar.close()

            return advance

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
                progress=progress if show_progress else None,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        if run.errors and options["verbosity"] > 1:
            for line in run.errors.splitlines():
                self.stderr.write(f"  {line}")
        elif run.errors and options["verbosity"] > 0:
            lines = run.errors.splitlines()
            for line in lines[:5]:
                self.stderr.write(f"  {line}")
            if len(lines) > 5:
                self.stderr.write(f"  … {len(lines) - 5} more (see IngestRun {run.pk} in admin, or -v 2)")
        if run.status == IngestRun.Status.FAILED:
            raise CommandError(f"{run.summary} (run {run.pk})")
        self.stdout.write(f"{run.summary} (run {run.pk})")
