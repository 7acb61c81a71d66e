from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from papers.models import Paper
from papers.search import full_text, index_papers
from papers.version import papers_changed

BATCH = 5_000  # papers per statement: progress to show, and no single long lock on the whole table


class Command(BaseCommand):
    help = (
        "Recompute every paper's full-text search row (PostgreSQL). Ingest and admin edits keep them "
        "current; run this after changing papers by hand in SQL, or after a change to papers/search.py's index."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not full_text():
            self.stdout.write("Nothing to index: on SQLite, search matches the stored text directly.")
            return
        ids = list(Paper.objects.order_by("pk").values_list("pk", flat=True))
        started = time.monotonic()
        show = sys.stderr.isatty() and options["verbosity"] > 0
        with tqdm(total=len(ids), unit="paper", disable=not show, file=sys.stderr) as bar:
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                index_papers(batch)
                bar.update(len(batch))
        papers_changed()  # cached API search answers were computed from the old vectors
        self.stdout.write(f"Indexed {len(ids)} papers for search in {time.monotonic() - started:.1f} s.")
