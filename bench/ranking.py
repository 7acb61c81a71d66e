"""Planning at scale: ranking 1,000,000 readers x 60 papers (time and peak RSS), and Delivery-row
creation through ``plan_deliveries`` on the configured database.

The ranking runs in a child process (``python -c``) so its peak RSS (ru_maxrss) is its own: the
child builds the readers, then times ``score_papers`` over all of them in one call. The baseline, in
another child, is a naive popularity-only numpy top-k over the same readers (same counts, same
already-sent exclusions, same ``{reader id: [paper ids]}`` output).
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.db import bench_database, log
from bench.ingest import HF_DAY, HF_DAY_FILE, ROOT, arxiv_feed
from bench.results import Result

N_PAPERS = 60
SEED = 20260821
_PHRASES = [
    "diffusion models",
    "RLHF",
    "protein folding",
    "large language models",
    "reinforcement learning",
    "speech recognition",
    "code generation",
    "software testing",
    "mixture of experts",
    "vision-language models",
    "robotics",
    "graph neural networks",
    "retrieval augmented generation",
    "quantization",
    "federated learning",
    "causal inference",
    "weather forecasting",
    "program repair",
    "tokenization",
    "video generation",
    "3D reconstruction",
    "agents",
    "reasoning",
    "alignment",
    "interpretability",
    "time series",
    "recommendation",
    "medical imaging",
    "question answering",
    "machine translation",
]
_CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "cs.SE", "cs.RO", "stat.ML", "q-bio.BM"]


def paper_dicts(n: int = N_PAPERS) -> list[dict]:
    """``n`` papers for an edition: the HF fixture day's real papers, then templated arXiv entries."""
    from papers.sources import arxiv, hf_api

    records = hf_api.parse(HF_DAY_FILE.read_bytes(), listed_on=HF_DAY).records
    records += arxiv.parse(arxiv_feed(max(0, n - len(records)))).records
    rng = random.Random(SEED)  # noqa: S311 - benchmark data
    return [
        {
            "id": i + 1,
            "text": f"{r.title} {r.abstract}",
            "upvotes": r.upvotes if r.upvotes is not None else rng.randint(0, 40),
            "categories": list(r.categories) or [rng.choice(_CATEGORIES)],
            "authors": list(r.authors)[:20],
        }
        for i, r in enumerate(records[:n])
    ]


def make_readers(n: int, papers: list, *, seed: int = SEED) -> list:
    """``n`` varied ReaderInfo: interests, some category filters, followed authors, history, likes.

    Empty sets and tuples are the dataclass defaults' shared objects, as ``ReaderInfo()`` gives."""
    from newsletter.ranking import ReaderInfo

    rng = random.Random(seed)  # noqa: S311 - benchmark data
    rand, pick = rng.random, rng.randrange
    empty = ReaderInfo(id=0)
    ids = [p.id for p in papers]
    authors = sorted({a for p in papers for a in p.authors}) or ["Nobody"]
    texts = {p.id: p.text for p in papers}
    phrases, cats, m = _PHRASES, _CATEGORIES, len(ids)
    readers = []
    for i in range(n):
        r = rand()
        k = 1 + i % 3
        interests = ", ".join(phrases[pick(len(phrases))] for _ in range(k)) if r < 0.9 else ""
        liked = frozenset((ids[pick(m)], ids[pick(m)])) if r < 0.05 else empty.liked
        readers.append(
            ReaderInfo(
                id=i + 1,
                interests=interests,
                categories=(cats[pick(len(cats))], cats[pick(len(cats))]) if r < 0.3 else empty.categories,
                followed_authors=(authors[pick(len(authors))],) if 0.2 < r < 0.3 else empty.followed_authors,
                count=(5, 10, 10, 20)[i % 4],
                skip_if_no_match=0.5 < r < 0.7,
                sent=frozenset(ids[pick(m)] for _ in range(5)) if r > 0.8 else empty.sent,
                liked=liked,
                disliked=frozenset((ids[pick(m)],)) if 0.6 < r < 0.63 else empty.disliked,
                liked_texts=tuple(texts[pk] for pk in sorted(liked)) if liked else empty.liked_texts,
            )
        )
    return readers


def _child() -> None:
    """In a fresh interpreter: ``python -c ... MODE N PAPERS_JSON``; prints one JSON line."""
    import gc

    import numpy as np

    from newsletter.ranking import PaperInfo, score_papers

    mode, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    papers = [
        PaperInfo(**{**p, "categories": tuple(p["categories"]), "authors": tuple(p["authors"])})
        for p in json.loads(Path(path).read_text())
    ]
    started = time.perf_counter()
    readers = make_readers(n, papers)
    build_s = time.perf_counter() - started
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    if mode == "rank":
        picks = score_papers(papers, readers)
    else:  # naive popularity-only top-k over the same readers
        ids = np.array([p.id for p in papers])
        popularity = np.log1p(np.array([p.upvotes for p in papers], dtype=np.float32))
        column = {pk: j for j, pk in enumerate(ids.tolist())}
        width = max((reader.count for reader in readers), default=0)  # sent papers sort last
        picks = {}
        gc.disable()  # as score_papers does while it builds its result lists
        for start in range(0, n, 20_000):
            batch = readers[start : start + 20_000]
            score = np.repeat(popularity[None, :], len(batch), axis=0)
            rows = [row for row, reader in enumerate(batch) for _ in reader.sent]
            cols = [column[pk] for reader in batch for pk in reader.sent]
            score[rows, cols] = -np.inf
            order = np.argsort(-score, axis=1, kind="stable")[:, :width]
            for reader, ranked in zip(batch, ids[order].tolist(), strict=True):
                picks[reader.id] = ranked[: reader.count]
        gc.enable()
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "build_s": build_s,
                "rss_before_mib": rss_before,
                "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "readers": len(picks),
                "nonempty": sum(1 for chosen in picks.values() if chosen),
            }
        )
    )


def _in_child(mode: str, n: int, papers_file: str) -> dict:
    code = "from bench.ranking import _child; _child()"
    done = subprocess.run(
        [sys.executable, "-c", code, mode, str(n), papers_file],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench ranking child ({mode}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def copy_subscribers(n: int, *, domain: str, seed: int = SEED) -> list[int]:
    """``n`` active subscribers with varied interests and filters, written with COPY (bulk_create
    would take minutes at 1M); the other columns take their model defaults. Returns their ids."""
    import uuid

    from django.utils import timezone

    from common.db import insert_rows
    from subscribers.models import Subscriber

    rng = random.Random(seed)  # noqa: S311 - benchmark data
    now = timezone.now()
    names = ("email", "public_id", "link_key", "status", "confirmed_at", "interests", "categories", "papers_per_digest")
    insert_rows(
        Subscriber,
        names,
        [
            (
                f"reader{i}@{domain}",
                uuid.UUID(int=rng.getrandbits(128), version=4),
                f"k{i:09d}",
                Subscriber.Status.ACTIVE,
                now,
                ", ".join(rng.sample(_PHRASES, 1 + i % 3)),
                rng.sample(_CATEGORIES, 2) if i % 3 == 0 else [],
                (5, 10, 10, 20)[i % 4],
            )
            for i in range(n)
        ],
    )
    return list(Subscriber.objects.filter(email__endswith=f"@{domain}").order_by("pk").values_list("pk", flat=True))


def _plan_on_database(papers: list[dict], n: int) -> tuple[float, float, str]:
    """plan_deliveries for ``n`` new subscribers; baseline: the same rows stored the same way
    (insert_deliveries: COPY on PostgreSQL), without reading or ranking anything."""
    import datetime as dt

    from django.db import connection

    from newsletter.models import Edition
    from newsletter.planning import insert_deliveries, plan_deliveries
    from newsletter.ranking import Pick
    from papers.ingest import upsert_records
    from papers.models import Paper
    from papers.sources import arxiv, hf_api

    upsert_records(hf_api.parse(HF_DAY_FILE.read_bytes(), listed_on=HF_DAY).records, source="hf", default_day=HF_DAY)
    upsert_records(arxiv.parse(arxiv_feed(N_PAPERS)).records, source="arxiv", default_day=HF_DAY)
    paper_ids = list(Paper.objects.order_by("pk").values_list("pk", flat=True)[: len(papers)])
    day = dt.date(2030, 1, 1)
    plain, ranked = (
        Edition.objects.create(
            kind=Edition.Kind.DAILY,
            period_start=day + dt.timedelta(days=k),
            period_end=day + dt.timedelta(days=k),
            status=Edition.Status.SCHEDULED,
            paper_ids=paper_ids,
        )
        for k in (0, 1)
    )
    started = time.perf_counter()
    subscriber_ids = copy_subscribers(n, domain="plan.bench.example")
    log(f"plan: {len(subscriber_ids):,} subscribers created in {time.perf_counter() - started:.1f} s (not counted)")

    started = time.perf_counter()
    ten = Pick(paper_ids[:10], [("trending",)] * 10)
    insert_deliveries(plain, [(pk, day, ten) for pk in subscriber_ids])
    baseline_s = time.perf_counter() - started
    log(f"plan: baseline, {n:,} rows stored without reads or ranking, {baseline_s:.2f} s")
    started = time.perf_counter()
    planned = plan_deliveries(ranked, [(pk, day + dt.timedelta(days=1)) for pk in subscriber_ids])
    plan_s = time.perf_counter() - started
    assert planned == n, planned
    log(f"plan: plan_deliveries {n:,} readers {plan_s:.2f} s")
    return plan_s, baseline_s, connection.vendor


def run(*, quick: bool) -> list[Result]:
    database = bench_database()
    n = 2_000 if quick else 1_000_000
    label = "2k" if quick else "1M"
    papers = paper_dicts()
    assert len(papers) == N_PAPERS, len(papers)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(papers, handle)
    try:
        log(f"ranking {n} readers x {len(papers)} papers in a child process")
        rank = _in_child("rank", n, handle.name)
        log(f"ranking: {rank}")
        naive = _in_child("naive", n, handle.name)
        log(f"baseline: {naive}")
    finally:
        Path(handle.name).unlink()
    results = [
        Result(
            "ranking",
            f"ranking {label} x {N_PAPERS}",
            rank["seconds"],
            "s",
            baseline=naive["seconds"],
            target="< 10 s",
            met=None if quick else rank["seconds"] < 10,
            notes=f"one score_papers call, {rank['nonempty']:,} of {rank['readers']:,} readers get papers "
            f"(building the readers: {rank['build_s']:.1f} s, not counted); baseline: naive numpy "
            "popularity-only top-k over the same readers (same counts, sent exclusions, output)",
        ),
        Result(
            "ranking",
            "ranking peak RSS",
            rank["rss_mib"],
            "MiB",
            baseline=naive["rss_mib"],
            target="< 1024 MiB",
            met=None if quick else rank["rss_mib"] < 1024,
            notes=f"child's ru_maxrss, readers included ({rank['rss_before_mib']:.0f} MiB before ranking); "
            "baseline: the naive top-k child's",
        ),
    ]

    rows = 2_000 if quick else 1_000_000
    plan_s, baseline_s, vendor = _plan_on_database(papers, rows)
    results.append(
        Result(
            "ranking",
            f"whole plan, {label} readers",
            plan_s,
            "s",
            baseline=baseline_s,
            target="reported",
            met=None,
            notes=f"{database}: plan_deliveries reads every reader's preferences and history, ranks "
            f"({rows:,} readers in batches of 10,000) and stores {rows:,} Delivery rows: {rows / plan_s:,.0f} rows/s; "
            "baseline: the same number of rows stored the same way (COPY), no reads or ranking",
        )
    )
    if vendor != "postgresql":
        results[-1].notes += " (not PostgreSQL: set DATABASE_URL for the real figure)"
    return results
