"""ESP batch path: the same daily send as ``bench.send`` (N subscribers, 60 papers, PostgreSQL,
Redis, two real Celery workers), through Paperboy's Postmark backend (newsletter/postmark.py:
Anymail's, through its extension points) in batch mode (DIGEST_ESP_BATCH_TEMPLATE set, 500
readers per call; plain-text readers, 1 in 20, in batches of their own through
DIGEST_ESP_BATCH_TEXT_TEMPLATE) to a local server speaking Postmark's email API
(``bench/fake_esp.py``, in its own process).

Baseline, same run: one client POSTing one pre-built 500-message batch payload of the run's
mean message size to the same server, over and over (what the server and HTTP can take).

Same run, in this process: the send loop (``sending.send_chunk``, chunks of 500) re-sending part
of the day through our backend and through Anymail's own, rounds taken in turn (msg/s and this
process's CPU per message), and a cProfile of one round of ours, whose top entries the end-to-end
row's notes give (what is left per message, met or not).
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import time
import urllib.request
from collections.abc import Callable

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
    on_and_off,
    redis_url,
    send_day,
    spawn,
    start_workers,
    stop_workers,
    worker_env,
)

TOKEN = "bench-postmark-token"  # noqa: S105 - the local stand-in's token
TEMPLATE = "paperboy-digest"
TEXT_TEMPLATE = "paperboy-digest-text"
BATCH = 500
TARGET = 2000.0
OURS = "newsletter.postmark.EmailBackend"
ANYMAILS = "anymail.backends.postmark.EmailBackend"


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


def _resend(edition, ids: list[int], counter: Callable[[], int], backend: str) -> tuple[float, float]:
    """Send ``ids`` again (back to pending, as an editor's resend does) through ``backend`` in this
    process: (msg/s, this process's CPU µs per message). Every message must reach the server."""
    from django.test import override_settings

    from newsletter import sending, services
    from newsletter.models import Delivery

    services.deliveries_requeue(rows=Delivery.objects.filter(pk__in=ids), note="bench: sent again")
    chunks = [ids[start : start + BATCH] for start in range(0, len(ids), BATCH)]
    before = counter()
    with override_settings(EMAIL_BACKEND=backend, DIGEST_SEND_RATE=0):
        started, cpu = time.perf_counter(), time.process_time()
        sent = sum(sending.send_chunk(chunk).sent for chunk in chunks)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    received = counter() - before
    if sent != len(ids) or received != sent:
        raise RuntimeError(f"{backend}: {sent} of {len(ids)} rows sent, {received} received")
    return sent / elapsed, cpu / sent * 1e6


# What each profile line is called in the notes: (file ending, function) -> label.
PROFILED = {
    ("newsletter/esp_batch.py", "build_batch"): "rendering the digests (build_batch)",
    ("newsletter/links.py", "personal_links"): "of which signing links",
    ("newsletter/postmark.py", "build_message_payload"): "Anymail's payload (merge data, recipients)",
    ("anymail/backends/postmark.py", "serialize_data"): "writing the batch JSON",
    ("requests/sessions.py", "request"): "HTTP (the fake ESP reading the call included)",
    ("newsletter/postmark.py", "parse_recipient_status"): "reading the answer",
    ("newsletter/esp_batch.py", "record_statuses"): "recording the outcomes",
    ("newsletter/sending.py", "claim"): "claiming the rows",
    ("newsletter/sending.py", "suppress_gone"): "who is still receiving",
    ("newsletter/handover.py", "__init__"): "the hand-over record",
    ("newsletter/handover.py", "forget"): "forgetting the hand-over record",
}


def profile_send(edition, ids: list[int], counter: Callable[[], int]) -> str:
    """One round of our backend under cProfile: where the send loop's time goes, as text."""
    profile = cProfile.Profile()
    profile.enable()
    _resend(edition, ids, counter, OURS)
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]  # pstats keeps it untyped
    total = max(sum(entry[2] for entry in stats.values()), 1e-9)
    shares = []
    for (path, _, function), (_, _, _, cumulative, _) in stats.items():
        for (ending, name), label in PROFILED.items():
            if function == name and path.endswith(ending):
                shares.append((cumulative, label))
    own = sorted(((entry[2], key) for key, entry in stats.items()), reverse=True)[:5]
    top = ", ".join(f"{label} {seconds / total:.0%}" for seconds, label in sorted(shares, reverse=True))
    heavy = ", ".join(f"{key[2]} ({key[0].rsplit('/', 1)[-1]}) {seconds / total:.0%}" for seconds, key in own)
    return f"cumulative: {top}; own time: {heavy}"


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
            "EMAIL_BACKEND": OURS,
            "ANYMAIL_POSTMARK_SERVER_TOKEN": TOKEN,
            "ANYMAIL_POSTMARK_API_URL": url,
            "DIGEST_ESP_BATCH_TEMPLATE": TEMPLATE,
            "DIGEST_ESP_BATCH_TEXT_TEMPLATE": TEXT_TEMPLATE,
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
        # The send loop in this process, our backend against Anymail's, on a sample of the day.
        from django.test import override_settings

        from newsletter.models import Delivery

        sample = sorted(
            Delivery.objects.filter(edition=edition).order_by("?").values_list("pk", flat=True)[: min(n, 4000)]
        )
        loop_settings = {
            "ANYMAIL": {"POSTMARK_SERVER_TOKEN": TOKEN, "POSTMARK_API_URL": url},
            "DIGEST_ESP_BATCH_TEMPLATE": TEMPLATE,
            "DIGEST_ESP_BATCH_TEXT_TEMPLATE": TEXT_TEMPLATE,
            "DIGEST_ESP_BATCH_SIZE": BATCH,
        }
        counter = lambda: esp_stats(url)["accepted"]  # noqa: E731
        with override_settings(**loop_settings):
            runs: dict[bool, tuple[float, float]] = {}

            def loop_rate(ours: bool) -> float:
                runs[ours] = _resend(edition, sample, counter, OURS if ours else ANYMAILS)
                cpus.setdefault(ours, []).append(runs[ours][1])
                return runs[ours][0]

            cpus: dict[bool, list[float]] = {}
            ours_rate, anymails_rate = on_and_off(loop_rate)
            profile = profile_send(edition, sample, counter)
        ours_cpu, anymails_cpu = (sorted(cpus[flag])[len(cpus[flag]) // 2] for flag in (True, False))
        log(
            f"send loop: ours {ours_rate:,.0f} msg/s ({ours_cpu:,.0f} µs CPU/msg), "
            f"Anymail's {anymails_rate:,.0f} msg/s ({anymails_cpu:,.0f} µs CPU/msg); profile: {profile}"
        )
    finally:
        server.stop()

    met = None if quick else result.rate >= TARGET and result.sent == stats["accepted"]
    return [
        Result(
            "esp_batch",
            f"daily send end to end via ESP batches, {n:,} subscribers",
            result.rate,
            "msg/s",
            baseline=base,
            target=f">= {TARGET:,.0f} msg/s",
            met=met,
            notes=(
                f"{result.sent:,} messages in {result.total_s:.1f} s from the tick to the last recorded row "
                f"(plan {result.plan_s:.1f} s, send {result.send_s:.1f} s: {result.sent / result.send_s:,.0f} msg/s); "
                f"{stats['accepted']:,} accepted by the fake Postmark API in {stats['calls']:,} calls "
                f"(batchWithTemplates, {BATCH} per call; plain-text readers in batches of their own), "
                f"{mean_size / 1000:.1f} KB of JSON per message; other outcomes {result.other or 'none'}; "
                f"{WORKERS} Celery workers (solo pool, production settings), PostgreSQL {BENCH_DB_NAME}, Redis; "
                f"Paperboy's Postmark backend (newsletter/postmark.py); "
                f"worker peak RSS {', '.join(f'{r:.0f}' for r in result.worker_rss)} MiB; "
                f"CPU per message: workers {sum(result.worker_cpu) / max(result.sent, 1) * 1e6:,.0f} µs, "
                f"fake ESP {server_cpu / max(result.sent, 1) * 1e6:,.0f} µs; "
                f"baseline: one client POSTing a pre-built {BATCH}-message payload of the same size "
                f"to the same server ({cores()} cores)"
                # Met or not: what is left per message.
                + f"; where the send loop's time goes (cProfile, this process): {profile}"
            ),
        ),
        Result(
            "esp_batch",
            "send loop, Paperboy's Postmark backend vs Anymail's",
            ours_rate,
            "msg/s",
            baseline=anymails_rate,
            target="reported",
            notes=(
                f"sending.send_chunk in this process (claim, render, one batch call per 500 readers, record) "
                f"re-sending {len(sample):,} of the day's rows to the same fake Postmark API, median of 3 rounds "
                f"taken in turn; this process's CPU per message: ours {ours_cpu:,.0f} µs, Anymail's "
                f"{anymails_cpu:,.0f} µs (the same JSON value: tests/newsletter/test_postmark_backend.py); "
                f"baseline: anymail.backends.postmark.EmailBackend"
            ),
        ),
    ]
