"""Delivery invariants with real parts: a real SMTP server (aiosmtpd), Anymail's test backend,
and real Celery worker processes on PostgreSQL, with Redis or RabbitMQ as the broker.

Every subscriber gets a digest at most once — whatever runs twice, crashes, or races — and
exactly once when nothing went wrong; the headers a mailbox provider needs are exact.

The in-process tests call ``sending.send_chunk`` directly (settings point Django's SMTP backend
at the test's server). The worker tests start ``celery -A config worker`` processes that share
the pytest-django test database (PostgreSQL only) and a broker, and send tasks by name on a queue
of their own. Each runs twice: on Redis and on RabbitMQ (``broker_url`` in tests/conftest.py;
results and the cache are on Redis in both). They skip on a laptop without those services and
fail in CI.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.core import mail
from django.db import connection, connections, transaction
from django.utils import timezone

from newsletter import planning, sending, tasks
from newsletter.models import Delivery, Edition
from papers.models import Paper
from subscribers import services
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token, read_token
from tests.conftest import Process, clean_env, forget_queue, free_port, messages_waiting, wake_idle_workers
from tests.factories import SubscriberFactory
from tests.newsletter.conftest import LIST_ID, SITE_URL, UNSUBSCRIBE_HEADER

pytestmark = pytest.mark.usefixtures("digest_settings")


# --- Helpers -------------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, output: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{output()}")
        time.sleep(0.05)


# --- 1. Through a real SMTP server ----------------------------------------------------------------


@pytest.mark.django_db
def test_every_subscriber_gets_exactly_one_message_with_exact_headers(smtp_server, use_smtp, client, planned_edition):
    inbox = smtp_server()
    use_smtp(inbox.port)
    edition, _ = planned_edition(27)
    text_only = SubscriberFactory.create_batch(
        3, status="active", confirmed_at=timezone.now() - dt.timedelta(days=1), email_format="text"
    )
    assert planning.plan_deliveries(edition, planning.all_readers(edition)) == 3
    rows = list(Delivery.objects.filter(edition=edition).select_related("subscriber").order_by("pk"))
    assert len(rows) == 30

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.failed, outcome.suppressed, outcome.retry_ids) == (30, 0, 0, [])
    assert inbox.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows})
    message_ids = set()
    for row in rows:
        row.refresh_from_db()
        assert row.status == "sent" and row.attempts == 1 and row.sent_at and row.last_error == ""
        (message,) = inbox.messages_to(row.subscriber.email)
        assert message["To"] == row.subscriber.email
        assert message["Subject"] and message["Subject"] == inbox.received[0][1]["Subject"]
        assert message["Message-ID"] == row.message_id and row.message_id.endswith("@paperboy.example>")
        message_ids.add(message["Message-ID"])
        assert message["List-Id"] == LIST_ID
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # The long header is folded onto a second line; unfolded, it is exactly "<URL>".
        match = UNSUBSCRIBE_HEADER.fullmatch(message["List-Unsubscribe"].strip())
        assert match, message["List-Unsubscribe"]
        assert read_token(match[2], Purpose.UNSUBSCRIBE).pk == row.subscriber_id
        text = message.get_body(("plain",)).get_content()
        assert SITE_URL + match[1] in text
        assert row.paper_ids and set(row.paper_ids) <= set(edition.paper_ids)
        for paper in Paper.objects.filter(pk__in=row.paper_ids):
            assert paper.title in text
            assert re.search(rf"{SITE_URL}/f/[^/\s]+/{paper.pk}/more/", text), "a personal feedback link"
        html = message.get_body(("html",))
        if row.subscriber in text_only:
            assert html is None and message.get_content_type() == "text/plain", "plain-text readers get no HTML"
        else:
            assert message.get_content_type() == "multipart/alternative"
            assert "<html" in html.get_content().lower()
    assert len(message_ids) == 30, "every Message-ID is unique"

    # The header's one-click link works (RFC 8058): a POST, no cookies, no CSRF token.
    reader = rows[0].subscriber
    link = UNSUBSCRIBE_HEADER.fullmatch(inbox.messages_to(reader.email)[0]["List-Unsubscribe"].strip())[1]
    response = client.post(link, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


# --- 2. Through Anymail's test backend ------------------------------------------------------------


@pytest.mark.django_db
def test_anymail_gets_the_delivery_id_as_metadata_and_its_message_id_is_recorded(settings, planned_edition):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    edition, rows = planned_edition(5)

    outcome = sending.send_chunk([row.pk for row in rows])

    assert outcome.sent == 5
    assert len(mail.outbox) == 5
    by_recipient = {message.to[0]: message for message in mail.outbox}
    for row in rows:
        row.refresh_from_db()
        message = by_recipient[row.subscriber.email]
        params = message.anymail_test_params
        assert params["metadata"] == {"delivery_id": str(row.pk), "edition_id": str(edition.pk)}
        assert params["tags"] == ["digest-daily"]  # one tag: Postmark takes no more
        assert params["extra_headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.anymail_status.status == {"sent"}
        assert row.status == "sent"
        assert row.esp_message_id == str(message.anymail_status.message_id)
        assert row.message_id == message.extra_headers["Message-ID"]


# --- 3. The same chunk twice ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_chunk_run_twice_sends_once(smtp_server, use_smtp, planned_edition, statuses):
    inbox = smtp_server()
    use_smtp(inbox.port)
    _, rows = planned_edition(10)
    ids = [row.pk for row in rows]

    first = sending.send_chunk(ids)
    second = sending.send_chunk(ids)
    third = tasks.send_chunk.delay(ids).get()  # the Celery task (run eagerly here) as a worker runs it

    assert first.sent == 10
    assert (second.sent, second.failed, second.suppressed, second.retry_ids) == (0, 0, 0, [])
    assert third == {"sent": 0, "failed": 0, "suppressed": 0, "retrying": 0}
    assert inbox.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows})
    assert len(inbox.received) == 10
    assert set(statuses(rows).values()) == {"sent"}
    assert set(Delivery.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}


# --- 5. The SMTP server down, then back ------------------------------------------------------------


@pytest.mark.django_db
def test_smtp_server_down_then_back_sends_everything_once(smtp_server, use_smtp, planned_edition):
    port = free_port()  # nothing listens here yet: connection refused
    use_smtp(port)
    edition, rows = planned_edition(8)
    ids = [row.pk for row in rows]

    down = sending.send_chunk(ids)

    assert (down.sent, down.failed, down.paused) == (0, 0, False)
    assert down.retry_ids == ids and down.retry_in > 0
    for row in Delivery.objects.filter(pk__in=ids):
        assert row.status == "pending" and row.attempts == 1 and row.claimed_at is None
        assert "Connection refused" in row.last_error
    edition.refresh_from_db()
    assert edition.consecutive_errors == 1 and edition.status == Edition.Status.SENDING

    inbox = smtp_server(port=port)
    back = sending.send_chunk(down.retry_ids)

    assert (back.sent, back.retry_ids) == (8, [])
    assert inbox.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows})
    for row in Delivery.objects.filter(pk__in=ids):
        assert row.status == "sent" and row.attempts == 2 and row.last_error == ""
    edition.refresh_from_db()
    assert edition.consecutive_errors == 0, "a success resets the error count"


@pytest.mark.django_db
@pytest.mark.parametrize("pipelining", [True, False])
def test_a_reply_that_comes_after_the_timeout_makes_the_row_unknown_not_a_second_copy(
    smtp_server, use_smtp, settings, planned_edition, statuses, pipelining
):
    """The server keeps the message but answers DATA after the client gave up waiting."""
    slow = smtp_server(delay=2.5, pipelining=pipelining)
    use_smtp(slow.port)
    settings.EMAIL_TIMEOUT = 1
    _, rows = planned_edition(3)

    outcome = sending.send_chunk([row.pk for row in rows])

    stored = statuses(rows)
    assert stored[rows[0].pk] == "unknown", "it may have arrived: never sent again blindly"
    assert [stored[row.pk] for row in rows[1:]] == ["pending", "pending"], "never attempted: back to pending"
    assert outcome.retry_ids == [row.pk for row in rows[1:]]
    wait_until(lambda: len(slow.received) == 1, timeout=5, what="the slow server to store the message")

    fast = smtp_server()
    use_smtp(fast.port)
    assert sending.send_chunk(outcome.retry_ids).sent == 2
    first_reader = rows[0].subscriber.email.lower()
    assert fast.counts()[first_reader] == 0 and slow.counts()[first_reader] == 1, "one copy, not two"


@pytest.mark.django_db
def test_the_sweeper_leaves_handed_back_rows_alone_until_their_backoff_is_over(use_smtp, planned_edition):
    use_smtp(free_port())  # nothing listens: every row goes back with a backoff of at least 15 s
    _, rows = planned_edition(3)
    ids = [row.pk for row in rows]
    down = sending.send_chunk(ids)
    assert down.retry_ids == ids and down.retry_in >= 15

    assert tasks.dispatch(stale_after_minutes=0) == 0, "the backoff is not over: nothing is re-queued"
    waiting = Delivery.objects.filter(pk__in=ids)
    assert all(row.retry_at and row.retry_at > timezone.now() for row in waiting)

    waiting.update(retry_at=timezone.now() - dt.timedelta(seconds=1))  # the backoff has passed
    assert tasks.dispatch(stale_after_minutes=0) == 3


@pytest.mark.django_db
def test_consecutive_errors_pause_the_edition_and_a_paused_edition_sends_nothing(
    settings, smtp_server, use_smtp, planned_edition
):
    settings.DIGEST_PAUSE_AFTER_ERRORS = 3
    settings.DIGEST_MAX_ATTEMPTS = 10
    port = free_port()
    use_smtp(port)
    edition, rows = planned_edition(4)
    ids = [row.pk for row in rows]

    outcomes = [sending.send_chunk(ids) for _ in range(3)]

    assert [outcome.paused for outcome in outcomes] == [False, False, True]
    edition.refresh_from_db()
    assert edition.status == Edition.Status.PAUSED
    assert edition.pause_reason.startswith("Paused after 3 consecutive send errors. Last: ")
    assert "Connection refused" in edition.pause_reason
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", "attempts")) == {("pending", 3)}

    # The provider is back, but the edition stays paused until an editor resumes it.
    inbox = smtp_server(port=port)
    again = sending.send_chunk(ids)
    task = tasks.send_chunk.delay(ids).get()

    assert (again.sent, again.failed, again.retry_ids, again.paused) == (0, 0, [], False)
    assert task == {"sent": 0, "failed": 0, "suppressed": 0, "retrying": 0}
    assert inbox.received == []
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", "attempts")) == {("pending", 3)}


@pytest.mark.django_db
def test_retries_give_up_after_max_attempts(settings, use_smtp, planned_edition):
    """The task re-enqueues what it could not send (here eagerly, at once) until the rows run
    out of attempts; then they fail instead of retrying for ever."""
    settings.DIGEST_MAX_ATTEMPTS = 3
    use_smtp(free_port())
    edition, rows = planned_edition(3)
    ids = [row.pk for row in rows]

    result = tasks.send_chunk.delay(ids).get()

    assert result == {"sent": 0, "failed": 0, "suppressed": 0, "retrying": 3}  # the first run's own outcome
    for row in Delivery.objects.filter(pk__in=ids):
        assert row.status == "failed" and row.attempts == 3
        assert row.last_error.startswith("gave up after 3 attempts: ") and "Connection refused" in row.last_error
    edition.refresh_from_db()
    assert edition.consecutive_errors == 3 and edition.status == Edition.Status.SENDING


# --- 6. A permanent rejection -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_permanently_rejected_recipient_fails_without_retry_and_the_others_are_sent(
    smtp_server, use_smtp, planned_edition, statuses
):
    _, rows = planned_edition(6)
    rejected = rows[2]
    inbox = smtp_server(reject={rejected.subscriber.email})
    use_smtp(inbox.port)
    ids = [row.pk for row in rows]

    outcome = sending.send_chunk(ids)
    again = sending.send_chunk(ids)

    assert (outcome.sent, outcome.failed, outcome.retry_ids, outcome.paused) == (5, 1, [], False)
    assert (again.sent, again.failed, again.retry_ids) == (0, 0, [])
    assert inbox.refused == [rejected.subscriber.email]
    assert inbox.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows if row != rejected})
    rejected.refresh_from_db()
    assert rejected.status == "failed" and rejected.attempts == 1
    assert "550" in rejected.last_error
    assert statuses(rows) == {row.pk: "failed" if row == rejected else "sent" for row in rows}
    assert Edition.objects.get(pk=rejected.edition_id).consecutive_errors == 0


# --- 8. Unsubscribing mid-edition -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reader_who_unsubscribes_after_planning_gets_nothing(
    smtp_server, use_smtp, client, planned_edition, statuses
):
    inbox = smtp_server()
    use_smtp(inbox.port)
    _, rows = planned_edition(5)
    by_service, by_link = rows[1], rows[3]

    assert services.subscriber_unsubscribe(subscriber=by_service.subscriber)
    link = f"/unsubscribe/{make_token(by_link.subscriber, Purpose.UNSUBSCRIBE)}/"
    assert client.post(link, {"List-Unsubscribe": "One-Click"}).status_code == 200  # yesterday's email
    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.suppressed, outcome.failed) == (3, 2, 0)
    left = {by_service.pk, by_link.pk}
    assert statuses(rows) == {row.pk: "suppressed" if row.pk in left else "sent" for row in rows}
    assert inbox.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows if row.pk not in left})


# --- Real workers: Celery on Redis or RabbitMQ, PostgreSQL ------------------------------------------


class Workers:
    """Real ``celery -A config worker`` processes on the test database, consuming a queue of
    their own; ``send(ids)`` enqueues a chunk task by name, as ``tasks.dispatch`` would."""

    def __init__(self, spawn, client: Celery, env: dict[str, str], queue: str) -> None:
        self.spawn, self.client, self.env, self.queue = spawn, client, env, queue
        self.broker_url = env["CELERY_BROKER_URL"]
        self.on_rabbitmq = self.broker_url.startswith("amqp")
        self.started: list = []

    def start(self, smtp_port: int, *names: str) -> list:
        """Start one worker per name, all at once, and wait until every one of them is ready.
        One thread runs the tasks, in the process we start: its pid is the one to kill. (Not the
        solo pool: on RabbitMQ it now and then leaves the next message unread for 10 s, until
        kombu's event loop wakes on a timer.)"""
        env = {**self.env, "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}"}
        args = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads", "--concurrency", "1"]
        args += ["--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", self.queue]
        started = [self.spawn([*args, "--hostname", f"{name}@%h"], env, name=name) for name in names]
        self.started += started
        for worker in started:

            def ready(worker: Process = worker) -> bool:
                return " ready." in worker.output()

            wait_until(ready, timeout=60, what="a worker", output=self.output)
        return started

    def send(self, ids: list[int]):
        return self.client.send_task("newsletter.send_chunk", args=[ids], queue=self.queue)

    def results(self, results: list, timeout: float = 60) -> list[dict]:
        try:
            return [result.get(timeout=timeout) for result in results]
        except Exception:
            print(self.output())
            raise

    def waiting(self) -> int:
        """Messages in the queue that no worker holds."""
        return messages_waiting(self.broker_url, self.queue)

    def output(self) -> str:
        return "\n".join(f"--- {worker.log.name}\n{worker.output()}" for worker in self.started)

    def stop(self) -> None:
        """Cold shutdown (SIGQUIT), all at once: every task has finished or been abandoned."""
        running = [worker for worker in self.started if worker.popen.poll() is None]
        for worker in running:
            worker.popen.send_signal(signal.SIGQUIT)
        wake_idle_workers(self.client, running)
        for worker in running:
            try:
                worker.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.popen.kill()
                worker.popen.wait()


@pytest.fixture
def workers(broker_url, redis_url, test_database_url, spawn, tmp_path) -> Iterator[Workers]:
    """Needs PostgreSQL (the workers are other processes and must see the test's committed rows:
    mark the test ``django_db(transaction=True)``), Redis and the broker (Redis or RabbitMQ);
    skips without them, fails in CI."""
    queue = f"test-delivery-{uuid.uuid4().hex[:8]}"
    env = clean_env(
        DATABASE_URL=test_database_url,
        CELERY_BROKER_URL=broker_url,
        REDIS_URL=redis_url,  # the cache (hand-over records, send rate) and, by default, the results
        SITE_URL=SITE_URL,
        PAPERBOY_VAR_DIR=str(tmp_path),
        DIGEST_SEND_RATE="0",
        DIGEST_MAX_ATTEMPTS="5",
        DIGEST_PAUSE_AFTER_ERRORS="50",
        DIGEST_SENDING_TIMEOUT_MINUTES="30",
    )
    client = Celery(broker=broker_url, backend=redis_url)
    pool = Workers(spawn, client, env, queue)
    yield pool
    pool.stop()
    client.close()
    forget_queue(broker_url, queue)


def kill_hard(pid: int) -> None:
    """SIGKILL a process and any children it has (a threads-pool worker has none; a prefork one would)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    for target in [pid, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)


# --- 4. Racing claims: two database sessions, then two real workers --------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_claim_waiting_on_another_claims_rows_takes_none_of_them(postgres_url, planned_edition):
    """The race two workers run on one chunk, made deterministic: the second claim's UPDATE
    waits on the first one's row locks; once the first commits, the rows are no longer pending
    and the second claim must take nothing (READ COMMITTED re-checks the row it waited for)."""
    _, rows = planned_edition(10)
    ids = [row.pk for row in rows]
    second: list[list[Delivery]] = []

    def claim_in_another_connection() -> None:
        try:
            second.append(sending.claim(ids))
        finally:
            connections.close_all()

    with transaction.atomic():
        first = sending.claim(ids)
        racer = threading.Thread(target=claim_in_another_connection)
        racer.start()
        with connection.cursor() as cursor:
            wait_until(lambda: waiting_on_a_lock(cursor) == 1, timeout=10, what="the second claim to wait on the first")
    racer.join(timeout=10)

    assert [row.pk for row in first] == ids
    assert second == [[]], "a row claimed by one worker was claimed (and would be sent) by another"
    assert set(Delivery.objects.filter(pk__in=ids).values_list("claim", flat=True)) == {first[0].claim}
    assert set(Delivery.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}


def waiting_on_a_lock(cursor) -> int:
    """Sessions of the test database waiting for a lock (PostgreSQL keeps one snapshot of the
    activity view per transaction unless told to take a new one)."""
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_the_same_rows_send_each_message_once(workers, smtp_server, planned_edition, statuses):
    inbox = smtp_server(delay=0.02)  # slow enough that the workers' tasks overlap in time
    _, rows = planned_edition(70)
    ids = [row.pk for row in rows]
    first, second = workers.start(inbox.port, "w1", "w2")

    # The same chunk four times at once (a duplicated enqueue, a re-delivery), in several rounds
    # so that the two idle workers pick their copies up at the same moment: one claim wins.
    for start in range(0, 50, 10):
        outcomes = workers.results([workers.send(ids[start : start + 10]) for _ in range(4)])
        assert sum(outcome["sent"] for outcome in outcomes) == 10, outcomes
    # Overlapping chunks, in any order: both workers send, and the overlap goes out once.
    rest = ids[50:]
    outcomes = workers.results([workers.send(chunk) for chunk in (rest[:12], rest[8:], rest[::-1], rest[4:16])])
    assert sum(outcome["sent"] for outcome in outcomes) == 20, outcomes
    assert all(outcome["failed"] == outcome["retrying"] == outcome["suppressed"] == 0 for outcome in outcomes)

    assert inbox.counts() == Counter({row.subscriber.email.lower(): 1 for row in rows})
    assert len(inbox.received) == 70
    assert set(statuses(rows).values()) == {"sent"}
    message_ids = [message["Message-ID"] for _, message in inbox.received]
    assert len(set(message_ids)) == 70
    assert set(message_ids) == set(Delivery.objects.filter(pk__in=ids).values_list("message_id", flat=True))
    for worker in (first, second):
        assert "newsletter.send_chunk" in worker.output(), f"{worker.log.name} took no task:\n{workers.output()}"


# --- 7. A worker killed mid-chunk, a database connection cut mid-chunk ------------------------------


def route_dispatch(monkeypatch, workers: Workers) -> list:
    """``tasks.dispatch`` enqueues onto the test workers' queue: what the beat tick would do."""
    enqueued: list = []
    monkeypatch.setattr(tasks.send_chunk, "delay", lambda ids: enqueued.append(workers.send(ids)))
    return enqueued


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_chunk_sends_every_reader_exactly_one_message(
    workers, smtp_server, planned_edition, statuses, monkeypatch
):
    """Killed while the server holds message 5: that row may have gone (unknown); rows 6-20 were
    never handed over and go back to pending by themselves; nobody gets two, nobody gets none.

    The brokers treat the killed task's unacknowledged message differently: Redis keeps it aside
    until the visibility timeout (hours), RabbitMQ puts it back in the queue the moment the
    worker's connection drops, and the successor runs it again. Either way the outcome is the same."""
    inbox = smtp_server(delay=0.3)  # the server takes each message, then thinks: a chunk takes seconds
    _, rows = planned_edition(40)
    ids = [row.pk for row in rows]
    doomed, untouched = ids[:20], ids[20:]
    email_of = {row.pk: row.subscriber.email.lower() for row in rows}

    (worker,) = workers.start(inbox.port, "doomed")
    killed_task = workers.send(doomed)
    wait_until(lambda: len(inbox.received) >= 5, timeout=30, what="5 messages", output=workers.output)
    kill_hard(worker.popen.pid)  # during the server's pause after the 5th message arrived
    assert worker.popen.wait(timeout=10) == -signal.SIGKILL
    time.sleep(0.3)
    at_kill = inbox.counts()
    if workers.on_rabbitmq:
        wait_until(lambda: workers.waiting() == 1, timeout=10, what="RabbitMQ to requeue the killed task's message")
    else:
        assert workers.waiting() == 0, "Redis holds an unacknowledged message until its visibility timeout"

    after_kill = statuses(rows)
    sent = [pk for pk in doomed if after_kill[pk] == "sent"]
    stuck = [pk for pk in doomed if after_kill[pk] != "sent"]
    assert len(sent) == 4 and {after_kill[pk] for pk in stuck} == {"sending"}, after_kill
    assert {after_kill[pk] for pk in untouched} == {"pending"}

    assert sending.reap_stale() == (0, 0), "a claim younger than the timeout may still be running"
    assert sending.reap_stale(now=timezone.now() + dt.timedelta(hours=1)) == (1, len(stuck) - 1)
    reaped = statuses(rows)
    on_the_wire, never_attempted = stuck[:1], stuck[1:]
    assert [reaped[pk] for pk in on_the_wire] == ["unknown"], "only the message the server held may have gone"
    assert {reaped[pk] for pk in never_attempted} == {"pending"}, "rows never handed over are not lost"
    assert at_kill[email_of[on_the_wire[0]]] == 1 and not any(at_kill[email_of[pk]] for pk in never_attempted)

    workers.start(inbox.port, "successor")
    redelivered = 0
    if workers.on_rabbitmq:  # the successor's first task: the killed one, which sends what is pending of it
        (again,) = workers.results([killed_task])
        assert again == {"sent": len(never_attempted), "failed": 0, "suppressed": 0, "retrying": 0}
        redelivered = again["sent"]
    enqueued = route_dispatch(monkeypatch, workers)
    assert tasks.dispatch() == len(never_attempted) + len(untouched) - redelivered
    outcomes = workers.results(enqueued)
    assert sum(outcome["sent"] for outcome in outcomes) == len(never_attempted) + len(untouched) - redelivered
    # Redis would hand the killed task's message out again after its visibility timeout: harmless.
    assert workers.results([workers.send(doomed)]) == [{"sent": 0, "failed": 0, "suppressed": 0, "retrying": 0}]

    final = statuses(rows)
    assert inbox.counts() == Counter(email_of.values()), "every reader got exactly one message"
    assert [final[pk] for pk in on_the_wire] == ["unknown"] and all(final[pk] == "sent" for pk in ids[5:] + sent)


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_cut_mid_chunk_loses_nobody(workers, smtp_server, planned_edition, statuses, monkeypatch):
    """pg_terminate_backend on the worker's session while it sends: it reconnects, records what
    went out, and puts back what it had not handed over. No unknown rows, no second message."""
    inbox = smtp_server(delay=0.3)
    _, rows = planned_edition(20)
    ids = [row.pk for row in rows]
    email_of = {row.pk: row.subscriber.email.lower() for row in rows}

    workers.start(inbox.port, "cut")
    result = workers.send(ids)
    wait_until(lambda: len(inbox.received) >= 5, timeout=30, what="5 messages", output=workers.output)
    with connection.cursor() as cursor:  # every session on the test database but ours: the worker's
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    (outcome,) = workers.results([result])
    assert "the database failed while sending" in workers.output()

    after = statuses(rows)
    assert outcome["sent"] == len(inbox.received) >= 5, (outcome, after)
    assert Counter(after.values()) == {"sent": outcome["sent"], "pending": 20 - outcome["sent"]}, after
    assert inbox.counts() == Counter({email_of[pk]: 1 for pk, status in after.items() if status == "sent"})

    enqueued = route_dispatch(monkeypatch, workers)
    assert tasks.dispatch() == 20 - outcome["sent"]
    workers.results(enqueued)
    assert set(statuses(rows).values()) == {"sent"}
    assert inbox.counts() == Counter(email_of.values()), "every reader got exactly one message"
