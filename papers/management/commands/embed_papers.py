from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from papers import embeddings


class Command(BaseCommand):
    help = (
        "Compute the semantic-similarity embedding (all-MiniLM-L6-v2) of every paper that has none: "
        "the backfill for RANKING_EMBEDDINGS. Needs requirements-embeddings.txt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="compute every paper's embedding again")

    def handle(self, *args: Any, **options: Any) -> None:
        todo = embeddings.papers_to_embed(redo=options["all"]).count()
        if not todo:
            self.stdout.write("Nothing to embed: every paper has its embedding.")
            return
        missing = embeddings.missing_packages()
        if missing:
            raise CommandError(
                f"{todo} papers to embed, but {', '.join(missing)} cannot be imported: {embeddings.INSTALL_HINT}"
            )
        show_progress = sys.stderr.isatty() and options["verbosity"] > 0
        started = time.monotonic()
        count = embeddings.embed_papers(redo=options["all"], progress=progress_bar if show_progress else None)
        elapsed = time.monotonic() - started
        self.stdout.write(f"Embedded {count} papers in {elapsed:.1f} s ({1000 * elapsed / count:.0f} ms a paper).")


def progress_bar(total: int) -> Callable[[int], None]:
    """A bar on stderr, advanced to the papers done."""
    bar = tqdm(total=total, unit="paper", desc="embed", file=sys.stderr, leave=False)

    def advance(done: int) -> None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return advance
