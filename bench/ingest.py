"""Ingest: one HF day from the fixture, and 10,000 arXiv API entries, through parse + upsert.

Each upsert is measured against its parse alone (the baseline), so the ratio is the upsert's cost;
the arXiv re-run (every entry already stored) is measured against the first run.

"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

from bench.db import bench_database, log
from bench.results import Result

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"
HF_DAY_FILE = FIXTURES / "hf_api" / "daily_papers_date_2026-08-21.json"
HF_DAY = dt.date(2026, 8, 21)
ARXIV_FILE = FIXTURES / "arxiv_atom" / "api_2026_search_testing_start0_max10.xml"


_ENTRY = re.compile(rb"<entry>.*?</entry>", re.S)
_WORDS = [
    "Sparse",
    "Adaptive",
    "Robust",
    "Efficient",
    "Scalable",
    "Causal",
    "Contrastive",
    "Federated",
    "Multimodal",
    "Diffusion",
    "Retrieval",
    "Quantized",
    "Bayesian",
    "Graph",
    "Temporal",
    "Hierarchical",
    "Self-Supervised",
    "Lightweight",
    "Agentic",
    "Streaming",
]
_TOPICS = [
    "Transformers",
    "Test Generation",
    "Protein Folding",
    "Reinforcement Learning",
    "Speech Recognition",
    "Code Models",
    "Vision-Language Models",
    "Mixture of Experts",
    "Program Repair",
    "Weather Forecasting",
    "Robot Manipulation",
    "Tokenizers",
]


def arxiv_feed(n: int) -> bytes:
    """An arXiv API (Atom, 2026 format) answer of ``n`` entries: the fixture's first entry, templated
    with distinct ids (2601.00001 ...) and varied titles; ids and versions everywhere they occur."""
    data = ARXIV_FILE.read_bytes()
    first = _ENTRY.search(data)
    assert first is not None, f"no entry in {ARXIV_FILE}"
    head, tail = data[: first.start()], data[data.rfind(b"</entry>") + len(b"</entry>") :]
    entry = first.group(0).decode()
    found_id = re.search(r"<id>https?://arxiv\.org/abs/([^<]+?)v\d+</id>", entry)
    found_title = re.search(r"<title>(.*?)</title>", entry, re.S)
    assert found_id and found_title, "the fixture's entry has an id and a title"
    old_id, old_title = found_id.group(1), found_title.group(1)
    parts = []
    for i in range(n):
        new_id = f"2601.{i + 1:05d}"
        title = f"{_WORDS[i % len(_WORDS)]} {_WORDS[(i // 7) % len(_WORDS)]} {_TOPICS[i % len(_TOPICS)]} ({i + 1})"
        parts.append(entry.replace(old_id, new_id).replace(f"<title>{old_title}</title>", f"<title>{title}</title>"))
    return head + "\n  ".join(parts).encode() + tail


def _timed(function):
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def run(*, quick: bool) -> list[Result]:
    database = bench_database()
    from papers.ingest import upsert_records
    from papers.models import Paper
    from papers.sources import arxiv, hf_api

    results: list[Result] = []

    # --- One HF day: parse + upsert, baseline parse alone. Warm the imports and caches first.
    hf_bytes = HF_DAY_FILE.read_bytes()
    hf_api.parse(hf_bytes, listed_on=HF_DAY)
    parse_s, parsed = _timed(lambda: hf_api.parse(hf_bytes, listed_on=HF_DAY))

    def hf_day():
        result = hf_api.parse(hf_bytes, listed_on=HF_DAY)
        return upsert_records(result.records, source="hf", default_day=HF_DAY)

    total_s, outcome = _timed(hf_day)
    log(f"HF day: {len(parsed.records)} papers, parse {parse_s:.4f} s, parse+upsert {total_s:.3f} s ({outcome})")
    results.append(
        Result(
            "ingest",
            "HF day parse+upsert",
            total_s,
            "s",
            baseline=parse_s,
            target="< 0.5 s",
            met=None if quick else total_s < 0.5,
            notes=f"{len(parsed.records)} papers of 2026-08-21 into an empty DB ({database}); "
            f"created {outcome.created}; baseline: parse only",
        )
    )

    # --- n arXiv entries: first run (all new) and re-run (all stored), baseline parse alone.
    n = 100 if quick else 10_000
    feed = arxiv_feed(n)
    parse_s, parsed = _timed(lambda: arxiv.parse(feed))
    assert len(parsed.records) == n, (len(parsed.records), parsed.errors[:3])

    def arxiv_run():
        result = arxiv.parse(feed)
        return upsert_records(result.records, source="arxiv", default_day=HF_DAY)

    first_s, first = _timed(arxiv_run)
    log(f"arXiv {n}: parse {parse_s:.3f} s, first run {first_s:.2f} s ({first})")
    rerun_s, again = _timed(arxiv_run)
    log(f"arXiv {n}: re-run {rerun_s:.2f} s ({again}); {Paper.objects.count()} papers stored")
    label = f"{n // 1000}k" if n >= 1000 else str(n)
    feed_mib = len(feed) / 2**20
    results.append(
        Result(
            "ingest",
            f"{label} arXiv first run",
            first_s,
            "s",
            baseline=parse_s,
            target="< 10 s",
            met=None if quick else first_s < 10,
            notes=f"{n} templated API entries ({feed_mib:.1f} MiB), {first_s / n * 1000:.1f} ms/entry, "
            f"created {first.created}, failed {first.failed}; baseline: parse only",
        )
    )
    results.append(
        Result(
            "ingest",
            f"{label} arXiv re-run",
            rerun_s,
            "s",
            baseline=first_s,
            target="< 10 s",
            met=None if quick else rerun_s < 10,
            notes=f"same feed again, {rerun_s / n * 1000:.1f} ms/entry: unchanged {again.unchanged}, "
            f"updated {again.updated}; baseline: the first run",
        )
    )
    return results
