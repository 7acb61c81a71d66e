"""Run the benchmarks, print a table, append it to BENCHMARKS.md.

python -m bench                 # every benchmark at default sizes
python -m bench --quick         # small sizes: a smoke test, numbers not meaningful
python -m bench --only ingest   # one module
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import os
import platform
import sys
import time
from pathlib import Path

from bench.results import Result, cores

# search last: it adds 100,000 papers to the run's shared database, which the others would then read.
MODULES = [
    "ingest",
    "ranking",
    "relevance",
    "email_quality",
    "signup_load",
    "send",
    "esp_batch",
    "dashboard",
    "search",
]
ROOT = Path(__file__).resolve().parent.parent


def table(results: list[Result]) -> str:
    lines = [
        "| benchmark | metric | value | baseline | ratio | target | met | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        baseline = f"{r.baseline:,.3g} {r.unit}" if r.baseline is not None else ""
        met = {True: "met", False: "**missed**", None: ""}[r.met]
        value = f"{r.value:,.3g} {r.unit}"
        cells = [r.benchmark, r.metric, value, baseline, ratio, r.target, met, r.notes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test; numbers not meaningful)")
    parser.add_argument("--only", choices=MODULES, action="append", help="run only these modules")
    parser.add_argument("--no-write", action="store_true", help="do not append to BENCHMARKS.md")
    parser.add_argument("--subscribers", type=int, help="subscribers in the send benchmarks (default 100,000)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    started = time.monotonic()
    results: list[Result] = []
    for name in args.only or MODULES:
        print(f"== {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.{name}")
        options = (
            {"subscribers": args.subscribers}
            if args.subscribers and "subscribers" in inspect.signature(module.run).parameters
            else {}
        )
        results.extend(module.run(quick=args.quick, **options))
    elapsed = time.monotonic() - started

    if args.only:
        command = (
            "python -m bench"
            + "".join(f" --only {name}" for name in args.only)
            + (" --quick" if args.quick else "")
            + (f" --subscribers {args.subscribers}" if args.subscribers else "")
        )
    else:
        command = (
            "make bench"
            + (" QUICK=1" if args.quick else "")
            + (f" SUBSCRIBERS={args.subscribers}" if args.subscribers else "")
        )
    header = (
        f"## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — `{command}`\n\n"
        f"{cores()} cores, Python {platform.python_version()}, {platform.machine()}; "
        f"{len(results)} figures in {elapsed:.0f} s.\n"
    )
    report = f"{header}\n{table(results)}\n"
    print(report)
    if not args.no_write:
        path = ROOT / "BENCHMARKS.md"
        intro = (
            "# Benchmarks\n\nWritten by `make bench` (newest first). Reproduce with the command in each heading.\n\n"
        )
        old = path.read_text().removeprefix(intro) if path.exists() else ""
        path.write_text(intro + report + "\n" + old)
    missed = [r for r in results if r.met is False]
    print(f"bench: {len(results)} figures, {len(missed)} targets missed, {elapsed:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
