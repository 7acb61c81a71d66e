"""End-to-end daily send: N synthetic subscribers, a day of 60 real-length papers, PostgreSQL,
Redis and two real Celery worker processes, through Django's SMTP backend into Postfix's
``smtp-sink`` on a loopback port (installed from Debian's ``postfix`` package when missing).

One run = the daily flow as production runs it: the bench sends ``newsletter.tick`` to the
workers (planning every due reader, dispatching chunk tasks), and the two workers send every
chunk. Phases: plan (the tick, from enqueue to its result), render (measured in this process
over a sample: the shared parts once, then per reader), send (tick's end to the last row
recorded). Baseline, same run: one SMTP connection re-sending a single pre-built message of the
run's mean size to the same sink.

The hand-written transport's gains, same run, each against the setting that turns it off: the
digests' MIME (DIGEST_FAST_MIME, newsletter/mime.py vs Django's EmailMultiAlternatives) and one
worker's send loop re-sending part of the day to the same sink (EMAIL_SMTP_PIPELINING,
newsletter/smtp.py pipelined vs Django's SMTP backend), both in this process.

Memory: the peak RSS (VmHWM) of each worker is read at the end of a run at 10k and at N
subscribers. The ESP batch path (the same send through Anymail's Postmark backend to a local
fake Postmark API, bench/fake_esp.py) is in ``bench.esp_batch``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import re
import secrets
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.db import BENCH_DB_NAME, bench_database, log
from bench.results import Result, peak_rss_mib
from bench.tools import ensure

ROOT = Path(__file__).resolve().parent.parent
N_PAPERS = 60
DEFAULT_SUBSCRIBERS = 100_000
QUICK_SUBSCRIBERS = 300
SMALL_SUBSCRIBERS = 10_000
WORKERS = 2
BENCH_QUEUE = "celery"  # the default queue, as dispatch() uses it, on the bench's own Redis database
SITE_URL = "https://paperboy.example"
SENDER = "Paperboy <digest@paperboy.example>"
SEED = 20261202
POLL_S = 0.1  # how often a send's end is looked for: the end time is late by at most this
_PHRASES = [
    "diffusion models",
    "large language models",
    "reinforcement learning",
    "graph neural networks",
    "speech recognition",
    "robot manipulation",
    "protein structure",
    "code generation",
    "retrieval augmented generation",
    "vision transformers",
    "video generation",
    "mixture of experts",
    "reasoning benchmarks",
    "agents and tool use",
    "quantization",
]
_CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "cs.RO", "stat.ML"]
_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url() -> str:
    """The bench's own Redis database (15 unless PAPERBOY_BENCH_REDIS_URL says otherwise); flushed."""
    import redis

    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    parts = urlsplit(os.environ.get("PAPERBOY_BENCH_REDIS_URL", "") or base)
    url = os.environ.get("PAPERBOY_BENCH_REDIS_URL") or urlunsplit(parts._replace(path="/15"))
    redis.Redis.from_url(url).flushdb()
    return url


def database_url() -> str:
    """DATABASE_URL of the throwaway database ``bench_database()`` set up (PostgreSQL only)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        raise RuntimeError("the send benchmark needs PostgreSQL: set DATABASE_URL (see README)")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{BENCH_DB_NAME}"


# --- The day and its readers ------------------------------------------------------------------------


def make_day() -> tuple[dt.date, list[int]]:
    """60 papers with real-length abstracts (the HF fixture day's, then templated arXiv entries)."""
    from bench.ingest import HF_DAY, HF_DAY_FILE, arxiv_feed
    from papers.ingest import upsert_records
    from papers.models import Paper
    from papers.sources import arxiv, hf_api

    records = hf_api.parse(HF_DAY_FILE.read_bytes(), listed_on=HF_DAY).records
    upsert_records(records, source="hf", default_day=HF_DAY)
    upsert_records(arxiv.parse(arxiv_feed(N_PAPERS - len(records))).records, source="arxiv", default_day=HF_DAY)
    paper_ids = list(Paper.objects.order_by("pk").values_list("pk", flat=True)[:N_PAPERS])
    return HF_DAY, paper_ids


READER_DOMAIN = "send.bench.example"


def add_subscribers(total: int) -> int:
    """Grow the synthetic readership to ``total`` active daily subscribers, all due now (send hour
    0 in five time zones), with varied interests, filters, digest sizes and formats. Subscribers
    other benchmarks left in the database are removed first."""
    from django.utils import timezone

    from subscribers.models import Subscriber

    Subscriber.objects.exclude(email__endswith=f"@{READER_DOMAIN}").delete()
    have = Subscriber.objects.count()
    if have >= total:
        return have
    rng = random.Random(SEED + have)  # noqa: S311 - benchmark data
    confirmed = timezone.now() - dt.timedelta(days=3)
    started = time.perf_counter()
    Subscriber.objects.bulk_create(
        (
            Subscriber(
                email=f"reader{i}@{READER_DOMAIN}",
                status=Subscriber.Status.ACTIVE,
                confirmed_at=confirmed,
                consent_at=confirmed,
                consent_source="benchmark (synthetic)",
                send_hour=0,
                time_zone=_ZONES[i % len(_ZONES)],
                interests=", ".join(rng.sample(_PHRASES, 1 + i % 3)) if i % 10 else "",
                categories=rng.sample(_CATEGORIES, 2) if i % 4 == 0 else [],
                papers_per_digest=(5, 10, 10, 15)[i % 4],
                email_format=Subscriber.Format.TEXT if i % 20 == 0 else Subscriber.Format.HTML,
            )
            for i in range(have, total)
        ),
        batch_size=5000,
    )
    log(f"subscribers: {have:,} -> {total:,} in {time.perf_counter() - started:.1f} s (not counted)")
    return total


def new_edition(paper_ids: list[int]):
    """Today's daily edition, published (scheduled) with the day's papers; earlier runs' rows gone,
    so every reader is due again."""
    from django.utils import timezone

    from newsletter.models import Delivery, Edition

    Delivery.objects.all().delete()
    Edition.objects.all().delete()
    today = timezone.now().date()
    return Edition.objects.create(
        kind=Edition.Kind.DAILY,
        period_start=today,
        period_end=today,
        status=Edition.Status.SCHEDULED,
        paper_ids=paper_ids,
        pinned_ids=paper_ids[:1],
        published_at=timezone.now(),
    )


# --- Processes --------------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def peak_rss_mib(self) -> float:
        """VmHWM: the process's peak resident set so far."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (/proc/<pid>/stat, fields 14 and 15)."""
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return float("nan")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Process:
    log_path = log_dir / f"{name}.log"
    handle = log_path.open("w")
    popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    return Process(name, popen, log_path)


@contextlib.contextmanager
def smtp_sink(log_dir: Path) -> Iterator[tuple[int, Process]]:
    """Postfix's smtp-sink on a loopback port; ``-c`` makes it print its message count."""
    binary = ensure("smtp-sink", "postfix")
    port = free_port()
    args = [binary, "-c"]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]  # required when started as root
    sink = spawn("smtp-sink", [*args, f"127.0.0.1:{port}", "1024"], dict(os.environ), log_dir)
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        if time.monotonic() > deadline or sink.popen.poll() is not None:
            raise RuntimeError(f"smtp-sink did not start: {sink.output()[-500:]}")
        time.sleep(0.05)
    try:
        yield port, sink
    finally:
        sink.stop()


def sink_count(sink: Process) -> int:
    """The last ``mesg=N`` smtp-sink -c printed (it rewrites one line with carriage returns)."""
    counts = re.findall(r"mesg=(\d+)", sink.output())
    return int(counts[-1]) if counts else 0


def worker_env(*, database: str, broker: str, email: dict[str, str], extra: dict[str, str] | None = None) -> dict:
    """A production-like worker: DEBUG off, persistent DB connections (said in the notes)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    return {
        **env,
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "paperboy.example",
        "SITE_URL": SITE_URL,
        "DEFAULT_FROM_EMAIL": SENDER,
        "DATABASE_URL": database,
        "DATABASE_CONN_MAX_AGE": "600",
        "REDIS_URL": broker,
        "DIGEST_SEND_RATE": "0",
        "PAPERBOY_VAR_DIR": str(ROOT / "var" / "bench"),
        **email,
        **(extra or {}),
    }


def start_workers(env: dict[str, str], log_dir: Path, count: int = WORKERS) -> list[Process]:
    args = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--concurrency", "1"]
    args += ["--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", BENCH_QUEUE]
    workers = [spawn(f"worker{i + 1}", [*args, "--hostname", f"bench{i + 1}@%h"], env, log_dir) for i in range(count)]
    deadline = time.monotonic() + 90
    for worker in workers:
        while " ready." not in worker.output():
            if worker.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{worker.name} did not start:\n{worker.output()[-2000:]}")
            time.sleep(0.1)
    return workers


def stop_workers(workers: list[Process]) -> None:
    for worker in workers:
        if worker.popen.poll() is None:
            worker.popen.send_signal(signal.SIGTERM)  # warm shutdown: the current task finishes
    for worker in workers:
        worker.stop(signal.SIGQUIT)


# --- One run ----------------------------------------------------------------------------------------


@dataclass
class Run:
    subscribers: int
    planned: int = 0
    sent: int = 0
    other: dict[str, int] = field(default_factory=dict)
    plan_s: float = 0.0
    send_s: float = 0.0
    total_s: float = 0.0
    worker_rss: list[float] = field(default_factory=list)
    worker_cpu: list[float] = field(default_factory=list)
    ready_rss: list[float] = field(default_factory=list)  # each worker's RSS when ready, before any task
    idle_tick_s: float = 0.0  # a second tick, when every reader is planned already
    sink_cpu: float = 0.0
    accepted: int = 0  # what the receiving end counted

    @property
    def rate(self) -> float:
        return self.sent / self.total_s if self.total_s else 0.0


def celery_client(broker: str):
    from celery import Celery

    client = Celery("bench", broker=broker, backend=broker)
    client.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    return client


def send_day(
    edition, *, broker: str, workers: list[Process], expected: int, counter, timeout: float = 1800
) -> tuple[Run, list[Process]]:
    """Tick once on the workers, wait until every planned row has an outcome."""
    from newsletter.models import Delivery

    client = celery_client(broker)
    run = Run(subscribers=expected, ready_rss=[worker.peak_rss_mib() for worker in workers])
    started = time.perf_counter()
    result = client.send_task("newsletter.tick", queue=BENCH_QUEUE)
    summary = result.get(timeout=timeout)
    run.plan_s = time.perf_counter() - started
    run.planned = summary["planned"]
    log(f"plan: tick planned {run.planned:,} readers, dispatched {summary['dispatched']:,} in {run.plan_s:.1f} s")
    open_statuses = [Delivery.Status.PENDING, Delivery.Status.SENDING]
    rows = Delivery.objects.filter(edition=edition)
    still_open = rows.filter(status__in=open_statuses)
    last_report, last_done = time.perf_counter(), -1
    # Polled with an EXISTS every POLL_S, counted every 5 s for the progress line: counting the
    # open rows every 50 ms (until 2026-12-07) took PostgreSQL 18.8 s in a 60.6 s ESP run (627
    # counts of ~30 ms), CPU taken from the workers being measured.
    while still_open.exists():
        now = time.perf_counter()
        if now - last_report >= 5:
            left = still_open.count()
            done = run.planned - left
            log(f"send: {done:,}/{run.planned:,} recorded, {done / (now - started):,.0f} msg/s so far")
            if done == last_done:
                stalled = "\n".join(w.output()[-1500:] for w in workers)
                raise RuntimeError(f"send: no progress for 5 s with {left} rows open:\n{stalled}")
            last_report, last_done = now, done
        if now - started > timeout:
            raise RuntimeError(f"send: rows still open after {timeout} s")
        time.sleep(POLL_S)
    run.total_s = time.perf_counter() - started
    run.send_s = run.total_s - run.plan_s
    counts = _status_counts(rows)
    run.sent = counts.pop(Delivery.Status.SENT, 0)
    run.other = counts
    run.worker_rss = [worker.peak_rss_mib() for worker in workers]
    run.worker_cpu = [worker.cpu_seconds() for worker in workers]
    idle_started = time.perf_counter()
    client.send_task("newsletter.tick", queue=BENCH_QUEUE).get(timeout=timeout)
    run.idle_tick_s = time.perf_counter() - idle_started
    time.sleep(0.3)
    run.accepted = counter()
    # A run that sent nothing, lost messages or failed rows measured nothing worth a number.
    problems = {status: count for status, count in run.other.items() if status != Delivery.Status.SKIPPED}
    if run.sent == 0 or run.accepted != run.sent or problems:
        logs = "\n".join(w.output()[-3000:] for w in workers)
        raise RuntimeError(
            f"send: {run.sent} rows sent, {run.accepted} messages received, other outcomes {run.other}:\n{logs}"
        )
    return run, workers


def _status_counts(rows) -> dict[str, int]:
    from django.db.models import Count

    return {row["status"]: row["n"] for row in rows.values("status").annotate(n=Count("pk")).order_by()}


ROUNDS = 3  # each on/off comparison: medians of this many rounds, taken in turn


def on_and_off(measure: Callable[[bool], float], rounds: int = ROUNDS) -> tuple[float, float]:
    """Medians of ``measure(True)`` and ``measure(False)`` over ``rounds`` rounds taken in turn,
    so a change in the machine's load falls on both."""
    on, off = [], []
    for _ in range(rounds):
        on.append(measure(True))
        off.append(measure(False))
    return statistics.median(on), statistics.median(off)


@dataclass
class Render:
    """Per message, µs, as (DIGEST_FAST_MIME on, off): the whole digest and its MIME alone."""

    shared_s: float  # the edition's shared parts, once per process
    digest_us: tuple[float, float]  # papers joined, personal links signed, MIME built to bytes
    mime_us: tuple[float, float]  # message().as_bytes() of the built EmailMessage only
    mean_size: float  # bytes on the wire
    rows: int


def measure_render(edition, sample: int) -> Render:
    """In this process, over ``sample`` planned rows of ``edition``, with DIGEST_FAST_MIME on and
    off (newsletter/mime.py's DigestEmail or Django's EmailMultiAlternatives, as the send loop
    builds them)."""
    from django.test import override_settings

    from newsletter import digest_email, rendering
    from newsletter.models import Delivery

    rendering.forget_renderings()
    started = time.perf_counter()
    rendering.rendered_edition(edition)
    shared_s = time.perf_counter() - started
    rows = list(Delivery.objects.filter(edition=edition).select_related("subscriber", "edition").order_by("?")[:sample])

    def build(row):
        return digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))

    def digest_us(fast: bool) -> float:
        with override_settings(DIGEST_FAST_MIME=fast):
            started = time.perf_counter()
            for row in rows:
                build(row).message().as_bytes(linesep="\r\n")
            return (time.perf_counter() - started) / len(rows) * 1e6

    def mime_us(fast: bool) -> float:
        with override_settings(DIGEST_FAST_MIME=fast):
            messages = [build(row) for row in rows]
        started = time.perf_counter()
        for message in messages:
            message.message().as_bytes(linesep="\r\n")
        return (time.perf_counter() - started) / len(rows) * 1e6

    with override_settings(DIGEST_FAST_MIME=True):
        sizes = [len(build(row).message().as_bytes(linesep="\r\n")) for row in rows]
    return Render(shared_s, on_and_off(digest_us), on_and_off(mime_us), sum(sizes) / len(sizes), len(rows))


def measure_pipelining(edition, port: int, counter: Callable[[], int], sample: int) -> tuple[float, float, int]:
    """In this process, the send loop (``sending.send_chunk``, chunks of DIGEST_CHUNK_SIZE) over
    ``sample`` rows of ``edition`` sent again through newsletter/smtp.py's backend to the sink:
    (msg/s with EMAIL_SMTP_PIPELINING on, off, rows)."""
    from django.conf import settings
    from django.test import override_settings

    from newsletter import sending, services
    from newsletter.models import Delivery

    rows = Delivery.objects.filter(edition=edition, status=Delivery.Status.SENT)
    ids = sorted(rows.order_by("?").values_list("pk", flat=True)[:sample])
    size = settings.DIGEST_CHUNK_SIZE
    chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
    smtp = {"EMAIL_BACKEND": "newsletter.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": port}

    def rate(pipelining: bool) -> float:
        # Back to pending (and the edition to sending, if the idle tick closed it), as an editor's resend does.
        services.deliveries_requeue(rows=Delivery.objects.filter(pk__in=ids), note="bench: sent again")
        before = counter()
        with override_settings(**smtp, EMAIL_SMTP_PIPELINING=pipelining, DIGEST_SEND_RATE=0):
            started = time.perf_counter()
            sent = sum(sending.send_chunk(chunk).sent for chunk in chunks)
            elapsed = time.perf_counter() - started
        time.sleep(0.3)  # smtp-sink's count lags a little
        received = counter() - before
        if sent != len(ids) or received != sent:
            raise RuntimeError(f"pipelining={pipelining}: {sent} of {len(ids)} rows sent, {received} received")
        return sent / elapsed

    on, off = on_and_off(rate)
    return on, off, len(ids)


def baseline_rate(port: int, size: int, count: int) -> float:
    """One SMTP connection re-sending one pre-built message of ``size`` bytes ``count`` times."""
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor x\r\n"
    head = b"From: Paperboy <digest@paperboy.example>\r\nTo: reader@bench.example\r\nSubject: baseline\r\n"
    head += b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    message = head + body
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        started = time.perf_counter()
        for _ in range(count):
            smtp.sendmail("digest@paperboy.example", ["reader@bench.example"], message)
        return count / (time.perf_counter() - started)


# --- The benchmark ----------------------------------------------------------------------------------


def run(*, quick: bool, subscribers: int | None = None) -> list[Result]:
    """The send at ``small`` and at ``n`` subscribers (quick: small sizes, targets not judged)."""
    from django.conf import settings
    from django.test import override_settings

    from bench.results import cores

    n = subscribers or (QUICK_SUBSCRIBERS if quick else DEFAULT_SUBSCRIBERS)
    small = min(SMALL_SUBSCRIBERS, n // 10) if not quick else n // 3
    database = bench_database()
    db_url = database_url()
    broker = redis_url()
    log_dir = ROOT / "var" / "bench" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    _, paper_ids = make_day()
    log(f"day: {len(paper_ids)} papers; {database}; Redis {broker}; logs in {log_dir}")

    runs: list[Run] = []
    with smtp_sink(log_dir) as (port, sink):
        env = worker_env(database=db_url, broker=broker, email={"EMAIL_URL": f"smtp://127.0.0.1:{port}"})
        for size in (small, n):
            add_subscribers(size)
            edition = new_edition(paper_ids)
            before, sink_cpu_before = sink_count(sink), sink.cpu_seconds()
            workers = start_workers(env, log_dir)  # fresh processes: peak RSS belongs to this run
            try:
                result, _ = send_day(
                    edition,
                    broker=broker,
                    workers=workers,
                    expected=size,
                    counter=lambda b=before: sink_count(sink) - b,
                )
            finally:
                stop_workers(workers)
            result.sink_cpu = sink.cpu_seconds() - sink_cpu_before
            runs.append(result)
            log(
                f"run {size:,}: {result.sent:,} sent ({result.accepted:,} accepted by smtp-sink), "
                f"{result.rate:,.0f} msg/s end to end; plan {result.plan_s:.1f} s, send {result.send_s:.1f} s; "
                f"worker peak RSS {', '.join(f'{r:.0f}' for r in result.worker_rss)} MiB; CPU per message: "
                f"workers {sum(result.worker_cpu) / max(result.sent, 1) * 1e6:.0f} µs, "
                f"smtp-sink {result.sink_cpu / max(result.sent, 1) * 1e6:.0f} µs"
            )
        big = runs[-1]
        with override_settings(SITE_URL=SITE_URL, DEFAULT_FROM_EMAIL=SENDER):  # the digests the workers sent
            render = measure_render(edition, sample=min(2000, big.sent))
            log(
                f"render: shared parts {render.shared_s * 1000:.0f} ms once; per message, DIGEST_FAST_MIME on/off: "
                f"digest {render.digest_us[0]:.0f}/{render.digest_us[1]:.0f} µs, "
                f"MIME {render.mime_us[0]:.0f}/{render.mime_us[1]:.0f} µs"
            )
            pipelined, one_by_one, resent = measure_pipelining(
                edition, port, lambda: sink_count(sink), sample=min(4000, big.sent)
            )
            log(f"send loop in this process, EMAIL_SMTP_PIPELINING on/off: {pipelined:,.0f}/{one_by_one:,.0f} msg/s")
        mean_size = render.mean_size
        count = min(20_000, max(200, big.sent))
        base = baseline_rate(port, int(mean_size), count)
        log(f"baseline: one connection re-sending a {mean_size / 1000:.1f} KB message: {base:,.0f} msg/s")
        sink_rss = sink.peak_rss_mib()

    cores_note = f"{cores()} cores"
    workers_note = (
        f"{WORKERS} Celery worker processes (solo pool, DJANGO_ENV=production, persistent DB connections), "
        f"PostgreSQL {BENCH_DB_NAME}, Redis broker; newsletter/smtp.py's SMTP backend (pipelined) -> "
        "Postfix smtp-sink on loopback"
    )
    checks = f"{big.sent:,} rows sent, {big.accepted:,} messages counted by smtp-sink" + (
        f", other outcomes {big.other}" if big.other else ""
    )
    rate_target = 1000.0
    small_run = runs[0]
    peak_small, peak_big = max(small_run.worker_rss), max(big.worker_rss)
    return [
        Result(
            "send",
            f"daily send end to end, {n:,} subscribers",
            big.rate,
            "msg/s",
            baseline=base,
            target="≥ 1,000 msg/s and ≥ 0.6x baseline",
            met=None if quick else big.rate >= rate_target and big.rate >= 0.6 * base and big.sent == big.accepted,
            notes=(
                f"{big.sent:,} messages in {big.total_s:.1f} s from the tick to the last recorded row; {checks}; "
                f"{workers_note}; {N_PAPERS} papers, 5-15 per reader, mean message {mean_size / 1000:.1f} KB; "
                f"baseline: one SMTP connection re-sending one pre-built {mean_size / 1000:.1f} KB message "
                f"{count:,} times to the same sink ({cores_note})"
            ),
        ),
        Result(
            "send",
            "phase: plan (tick)",
            big.plan_s,
            "s",
            baseline=big.idle_tick_s,
            target="reported",
            notes=(
                f"publish check, due readers, ranking and {big.planned:,} Delivery rows in one worker, each batch of "
                "10,000 dispatched once stored, so the other worker is already sending; baseline: the same tick "
                "again once every reader is planned (publish check, due-reader query, dispatch: no ranking, no rows)"
            ),
        ),
        Result(
            "send",
            "phase: render per message",
            render.digest_us[0],
            "µs",
            baseline=render.digest_us[1],
            target="reported",
            notes=(
                f"shared parts once per edition per process: {render.shared_s * 1000:.0f} ms; per reader: papers "
                f"joined, personal links signed, MIME built to bytes (in this process, {render.rows:,} rows, "
                f"median of {ROUNDS} rounds); runs inside the send phase; baseline: the same digests with "
                f"DIGEST_FAST_MIME=false (Django's EmailMultiAlternatives builds the MIME), rounds taken in turn"
            ),
        ),
        Result(
            "send",
            "MIME per message, DIGEST_FAST_MIME on vs off",
            render.mime_us[0],
            "µs",
            baseline=render.mime_us[1],
            target="reported",
            notes=(
                f"message().as_bytes() of {render.rows:,} built digests (mean {render.mean_size / 1000:.1f} KB): "
                f"newsletter/mime.py's DigestEmail; baseline: the same digests built with DIGEST_FAST_MIME=false "
                f"(Django's EmailMultiAlternatives); in this process, median of {ROUNDS} rounds taken in turn"
            ),
        ),
        Result(
            "send",
            "send loop, EMAIL_SMTP_PIPELINING on vs off",
            pipelined,
            "msg/s",
            baseline=one_by_one,
            target="reported",
            notes=(
                f"sending.send_chunk in this process (one worker's loop: claim, render, send, record; chunks of "
                f"{settings.DIGEST_CHUNK_SIZE}) resending {resent:,} of the day's rows through newsletter/smtp.py's "
                f"backend to the same smtp-sink: pipelined (RFC 2920), the next digest rendered while the sink takes "
                f"the previous one; baseline: EMAIL_SMTP_PIPELINING=false (Django's SMTP backend, one message at a "
                f"time); median of {ROUNDS} rounds taken in turn, every message counted by smtp-sink"
            ),
        ),
        Result(
            "send",
            "phase: send",
            big.send_s,
            "s",
            baseline=big.sent / base,
            target="reported",
            notes=(
                f"the tick's end to the last recorded row: {big.sent / big.send_s:,.0f} msg/s over {WORKERS} workers; "
                f"CPU per message sent: workers {sum(big.worker_cpu) / big.sent * 1e6:,.0f} µs (planning included), "
                f"smtp-sink {big.sink_cpu / big.sent * 1e6:,.0f} µs; baseline: the baseline connection's time for "
                f"as many messages"
            ),
        ),
        Result(
            "send",
            "peak RSS per process",
            peak_big,
            "MiB",
            baseline=max(big.ready_rss),
            target="reported",
            notes=(
                f"workers {', '.join(f'{r:.0f}' for r in big.worker_rss)} MiB; this bench process "
                f"{peak_rss_mib():.0f} MiB; smtp-sink {sink_rss:.0f} MiB; baseline: a worker's RSS when ready, "
                "before its first task"
            ),
        ),
        Result(
            "send",
            f"worker peak RSS, {n:,} vs {small:,} subscribers",
            peak_big,
            "MiB",
            baseline=peak_small,
            target="≤ 1.2x",
            met=None if quick else peak_big <= 1.2 * peak_small,
            notes=(
                f"the larger worker's VmHWM after each run (fresh worker processes per run); {small:,}: "
                f"{small_run.sent:,} sent at {small_run.rate:,.0f} msg/s, workers "
                f"{', '.join(f'{r:.0f}' for r in small_run.worker_rss)} MiB"
            ),
        ),
    ]
