"""Scheduled ingest. Each task is one IngestRun; running one twice stores nothing twice."""

from __future__ import annotations

import logging

from celery import shared_task

from papers import services

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


@shared_task(name="papers.enrich_arxiv_categories")
def enrich_arxiv_categories(after_run: int | None = None) -> int | None:
    """arXiv's categories for the papers an HF ingest (run ``after_run``) listed without them."""
    run = services.enrich_categories(after_run=after_run)
    if run is None:
        logger.info("arXiv categories after run %s: every recent paper has its categories", after_run)
        return None
    logger.info("%s (run %s)", run.summary, run.pk)
    return run.pk
