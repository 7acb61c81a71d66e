"""ESP batch path: the same daily send as ``bench.send`` (N subscribers, 60 papers, PostgreSQL,
Redis, two real Celery workers), through Anymail's Postmark backend in batch mode
(DIGEST_ESP_BATCH_TEMPLATE set, 500 readers per call) to a local server speaking Postmark's email
API (``bench/fake_esp.py``, in its own process). Plain-text readers (1 in 20) go one per call, as
they would in production.

Baseline, same run: one client POSTing one pre-built 500-message batch payload of the run's
mean message size to the same server, over and over (what the server and HTTP can take).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request

from bench.db import BENCH_DB_NAME, bench_database, log
from bench.results import Result, cores
from bench.send import (
    DEFAULT_SUBSCRIBERS,
    QUICK_SUBSCRIBERS,
    ROOT,
    WORKERS,
    Process,
    add_subscribers,
    database_url,
    free_port,
    make_day,
    new_edition,
    redis_url,
    send_day,
    spawn,
    start_workers,
    stop_workers,
    worker_env,
)

TOKEN = "bench-postmark-token"  # noqa: S105 - the local stand-in's token
TEMPLATE = "paperboy-digest"
BATCH = 500
TARGET = 3000.0


def start_fake_esp(log_dir) -> tuple[str, Process]:
    port = free_port()
    args = [sys.executable, "-m", "bench.fake_esp", "--port", str(port), "--token", TOKEN]
    server = spawn("fake-esp", args, {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, log_dir)
    deadline = time.monotonic() + 20
    while "listening" not in server.output():
        if server.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the fake ESP did not start: {server.output()[-500:]}")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/", server


def esp_stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}__stats", timeout=10) as answer:  # noqa: S310 - our loopback server
        return json.load(answer)


def baseline_rate(url: str, mean_size: int, batches: int) -> float:
    """One client, one pre-built batch payload (500 messages of ``mean_size`` bytes of body)."""
    import requests

    body = "x" * max(1, mean_size // 2)
    message = {
        "From": "Paperboy <digest@paperboy.example>",
        "To": "reader@bench.example",
        "TemplateAlias": TEMPLATE,
        "TemplateModel": {"subject": "Trending papers", "html_body": body, "text_body": body},
        "Headers": [{"Name": "List-Unsubscribe", "Value": "<https://paperboy.example/unsubscribe/x/>"}],
        "Metadata": {"delivery_id": "1", "edition_id": "1"},
    }
    payload = json.dumps({"Messages": [message] * BATCH}).encode()
    headers = {"X-Postmark-Server-Token": TOKEN, "Content-Type": "application/json", "Accept": "application/json"}
    with requests.Session() as session:
        started = time.perf_counter()
        for _ in range(batches):
            session.post(f"{url}email/batchWithTemplates", data=payload, headers=headers, timeout=60).raise_for_status()
        return batches * BATCH / (time.perf_counter() - started)


def run(*, quick: bool, subscribers: int | None = None) -> list[Result]:
    n = subscribers or (QUICK_SUBSCRIBERS if quick else DEFAULT_SUBSCRIBERS)
    database = bench_database()
    broker = redis_url()
    log_dir = ROOT / "var" / "bench" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    _, paper_ids = make_day()
    add_subscribers(n)
    url, server = start_fake_esp(log_dir)
    log(f"fake Postmark API at {url}; {database}")
    try:
        email = {
            "EMAIL_BACKEND": "newsletter.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_SERVER_TOKEN": TOKEN,
            "ANYMAIL_POSTMARK_API_URL": url,
            "DIGEST_ESP_BATCH_TEMPLATE": TEMPLATE,
            "DIGEST_ESP_BATCH_SIZE": str(BATCH),
            "DIGEST_CHUNK_SIZE": str(BATCH),
        }
        env = worker_env(database=database_url(), broker=broker, email=email)
        edition = new_edition(paper_ids)
        workers = start_workers(env, log_dir)
        try:
            result, _ = send_day(
                edition, broker=broker, workers=workers, expected=n, counter=lambda: esp_stats(url)["accepted"]
            )
        finally:
            stop_workers(workers)
        stats = esp_stats(url)
        server_cpu = server.cpu_seconds()
        mean_size = stats["bytes"] / max(stats["accepted"], 1)
        log(
            f"esp: {result.sent:,} sent ({stats['accepted']:,} accepted by the fake ESP in {stats['calls']:,} calls), "
            f"{result.rate:,.0f} msg/s end to end; plan {result.plan_s:.1f} s, send {result.send_s:.1f} s; "
            f"CPU per message: workers {sum(result.worker_cpu) / max(result.sent, 1) * 1e6:.0f} µs, "
            f"fake ESP {server_cpu / max(result.sent, 1) * 1e6:.0f} µs"
        )
        base = baseline_rate(url, int(mean_size), batches=max(2, min(40, n // BATCH)))
        log(f"baseline: one client posting pre-built {BATCH}-message batches: {base:,.0f} msg/s")
    finally:
        server.stop()

    return [
        Result(
            "esp_batch",
            f"daily send end to end via ESP batches, {n:,} subscribers",
            result.rate,
            "msg/s",
            baseline=base,
            target=f"≥ {TARGET:,.0f} msg/s",
            met=None if quick else result.rate >= TARGET and result.sent == stats["accepted"],
            notes=(
                f"{result.sent:,} messages in {result.total_s:.1f} s from the tick to the last recorded row "
                f"(plan {result.plan_s:.1f} s, send {result.send_s:.1f} s: {result.sent / result.send_s:,.0f} msg/s); "
                f"{stats['accepted']:,} accepted by the fake Postmark API in {stats['calls']:,} calls "
                f"(batchWithTemplates, {BATCH} per call; plain-text readers one per call), "
                f"{mean_size / 1000:.1f} KB of JSON per message; other outcomes {result.other or 'none'}; "
                f"{WORKERS} Celery workers (solo pool, production settings), PostgreSQL {BENCH_DB_NAME}, Redis; "
                f"Anymail's Postmark backend; worker peak RSS {', '.join(f'{r:.0f}' for r in result.worker_rss)} MiB; "
                f"CPU per message: workers {sum(result.worker_cpu) / max(result.sent, 1) * 1e6:,.0f} µs, "
                f"fake ESP {server_cpu / max(result.sent, 1) * 1e6:,.0f} µs; "
                f"baseline: one client POSTing a pre-built {BATCH}-message payload of the same size "
                f"to the same server ({cores()} cores)"
            ),
        )
    ]
