"""`make bench QUICK=1` as a smoke test: every benchmark runs end to end at small sizes against
the real services (PostgreSQL, Redis, Celery workers, smtp-sink, wrk, SpamAssassin, the fake
Postmark API) and prints its figures. Nothing here judges speed: quick mode marks no target met or
missed, and this test checks only that each benchmark measured something real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.__main__ import MODULES

pytestmark = pytest.mark.bench
ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_runs_every_benchmark(postgres_url, redis_url):
    benchmarks = ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    own = urlsplit(postgres_url).path.strip("/") or "paperboy"
    env = {
        **{key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ},
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        # Named after this run's database, so two checkouts testing at once do not drop each other's.
        "PAPERBOY_BENCH_DB": f"{own}_bench_smoke",
        "PAPERBOY_BENCH_SIGNUP_DB": f"{own}_bench_signup_smoke",
    }

    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-write"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "`make bench QUICK=1`" in done.stdout
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    header, figures = rows[0], rows[1:]
    assert header[:3] == ["| benchmark", "metric", "value"]
    assert {row[0].removeprefix("| ") for row in figures} == set(MODULES)
    met = header.index("met")
    assert {row[met] for row in figures} == {""}, "quick mode judges no target"
    for row in figures:
        assert re.fullmatch(r"-?[\d,.]+(e[+-]\d+)? \S+", row[2]), row  # a number and its unit
    sends = [row for row in figures if row[1].startswith(("daily send end to end",))]
    assert len(sends) == 2 and all(float(row[2].split()[0].replace(",", "")) > 0 for row in sends)
    assert re.search(r"bench: \d+ figures, 0 targets missed", done.stderr)
    assert (benchmarks.read_text() if benchmarks.exists() else None) == before, "--no-write wrote BENCHMARKS.md"
