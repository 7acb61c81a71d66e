"""Celery end to end: a real worker process, started by the test, runs the project's tasks."""

from __future__ import annotations

import sqlite3
import sys
import time
import uuid

from celery import Celery

from config.celery import (
    BEAT_SCHEDULE,
    RABBITMQ_CONSUMER_TIMEOUT,
    VISIBILITY_TIMEOUT,
    app,
    broker_kind,
    broker_transport_options,
)
from tests.conftest import clean_env, forget_queue, run_python, wake_idle_workers


def start_worker(spawn, env: dict[str, str], *extra: str):
    return spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--concurrency",
            "1",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *extra,
        ],
        env,
        name="worker",
    )


def test_task_round_trip_through_a_worker(spawn, broker_url, redis_url, tmp_path):
    """On Redis and on RabbitMQ; the result comes back through Redis in both cases."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = clean_env(CELERY_BROKER_URL=broker_url, REDIS_URL=redis_url, PAPERBOY_VAR_DIR=str(tmp_path))
    worker = start_worker(spawn, env, "--queues", queue)

    client = Celery(broker=broker_url, backend=redis_url)
    try:
        result = client.send_task("paperboy.worker_health", queue=queue)
        answer = result.get(timeout=60)
    except Exception:
        print(worker.output())
        raise
    finally:
        output = worker.output()
        # The worker goes before its queue: a consumer whose queue is deleted would declare it again.
        worker.popen.terminate()
        wake_idle_workers(client, [worker])
        worker.stop()
        client.close()
        forget_queue(broker_url, queue)
    assert answer["database"] == "sqlite"
    assert answer["hostname"]
    assert "paperboy.worker_health" in output
    assert f"transport:   {broker_url.split('://', 1)[0]}://" in output, "the worker used the given broker"


def test_embedded_worker_runs_tasks_from_the_folder_queue(spawn, tmp_path):
    """No broker configured: `make run`'s embedded worker picks tasks up from var/celery."""
    env = clean_env(PAPERBOY_VAR_DIR=str(tmp_path))
    migrate = run_python(
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)",
        env,
    )
    assert migrate.returncode == 0, migrate.stderr
    database = tmp_path / "paperboy.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) VALUES "
            "('expired', 'x', '2001-01-01 00:00:00'), ('current', 'y', '2999-01-01 00:00:00')"
        )

    enqueue = run_python(
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from config.celery import clear_expired_sessions; clear_expired_sessions.delay()",
        env,
    )
    assert enqueue.returncode == 0, enqueue.stderr
    assert list((tmp_path / "celery" / "queue").iterdir()), "the task should wait in the folder queue"

    worker = start_worker(spawn, env)
    deadline = time.monotonic() + 60
    remaining: list[str] = []
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            remaining = [row[0] for row in db.execute("SELECT session_key FROM django_session")]
        if remaining == ["current"]:
            break
        time.sleep(0.3)
    assert remaining == ["current"], worker.output()


def test_every_scheduled_task_exists():
    app.loader.import_default_modules()
    for entry in BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, f"beat schedules {entry['task']}, which no app defines"


def test_reliability_settings():
    from newsletter.sending import BACKOFF_CEILING

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is True
    # A worker holds a retry's message unacknowledged through its countdown and its run: Redis
    # would re-deliver it once the visibility timeout passes, RabbitMQ close the channel once its
    # consumer_timeout does.
    longest_hold = BACKOFF_CEILING + app.conf.task_time_limit
    assert longest_hold < VISIBILITY_TIMEOUT
    assert longest_hold < RABBITMQ_CONSUMER_TIMEOUT


def test_the_visibility_timeout_goes_only_to_redis():
    assert broker_transport_options("redis://127.0.0.1:6379/0") == {"visibility_timeout": VISIBILITY_TIMEOUT}
    assert broker_transport_options("rediss://cache.internal:6380/0") == {"visibility_timeout": VISIBILITY_TIMEOUT}
    assert broker_transport_options("amqp://guest:guest@127.0.0.1:5672//") == {}
    assert broker_kind("amqps://rabbit.internal//") == broker_kind("pyamqp://127.0.0.1//") == "amqp"
