"""Scheduled ingest. Each task is one IngestRun; running one twice stores nothing twice."""

from __future__ import annotations

import functools
import logging

from celery import shared_task
from django.db import transaction

from papers import embeddings, services
from papers.models import IngestRun

logger = logging.getLogger(__name__)


@shared_task(name="papers.ingest_hf_today")
def ingest_hf_today() -> int:
    """Today's HF Daily Papers (the API, or the papers page when the API is off or failing)."""
    run = services.ingest("hf")
    logger.info("%s (run %s)", run.summary, run.pk)
    return run.pk


@shared_task(name="papers.ingest_arxiv_today")
def ingest_arxiv_today() -> int:
    """Today's announcements in the categories of ARXIV_CATEGORIES."""
    run = services.ingest("arxiv")
    logger.info("%s (run %s)", run.summary, run.pk)
    return run.pk


@shared_task(name="papers.finish_editor_run")
def finish_editor_run(run_id: int) -> str:
    """An ingest an editor started in admin (Add by arXiv id, Import text dump), off the request."""
    run = services.finish_in_background(run_id)
    if run is None:
        return "already finished"
    logger.info("%s (run %s)", run.summary, run.pk)
    return run.summary


def start_in_background(run: IngestRun) -> IngestRun:
    """Hand ``run`` (created, still running) to a worker once the admin's request commits."""
    transaction.on_commit(functools.partial(finish_editor_run.delay, run.pk))
    return run


@shared_task(name="papers.enrich_arxiv_categories")
def enrich_arxiv_categories(after_run: int | None = None) -> int | None:
    """arXiv's categories for the papers an HF ingest (run ``after_run``) listed without them."""
    run = services.enrich_categories(after_run=after_run)
    if run is None:
        logger.info("arXiv categories after run %s: every recent paper has its categories", after_run)
        return None
    logger.info("%s (run %s)", run.summary, run.pk)
    return run.pk


@shared_task(name="papers.embed_papers")
def embed_papers() -> int:
    """Embed the papers that have no embedding yet (RANKING_EMBEDDINGS; queued after each ingest)."""
    count = embeddings.embed_papers()
    logger.info("embeddings: %s papers embedded", count)
    return count
