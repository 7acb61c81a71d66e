"""The Celery app: configuration from Django settings (CELERY_*), tasks autodiscovered from the
apps, and the whole periodic schedule in one place (BEAT_SCHEDULE below)."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("paperboy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The longest task (an ingest run paging through arXiv at one request per 3 s, or one send chunk
# of a few hundred messages) stays well under TASK_TIME_LIMIT. With late acks a worker holds a
# task's message unacknowledged from delivery until the task has run, and that includes the wait of
# a countdown (a chunk's retry waits up to newsletter.sending.BACKOFF_CEILING, an hour). What the
# broker does with a message held that long differs:
# - Redis hands it out again once VISIBILITY_TIMEOUT has passed, whether or not its worker still
#   lives: shorter than countdown + run, and a slow task would run twice at once.
# - RabbitMQ requeues it the moment the worker's connection closes (crash, kill), and closes a
#   channel whose delivery stays unacknowledged past the server's consumer_timeout (30 min by
#   default) with PRECONDITION_FAILED. The server must allow RABBITMQ_CONSUMER_TIMEOUT
#   (rabbitmq.conf: consumer_timeout = 7200000); it is a server setting, no client can raise it.
TASK_TIME_LIMIT = 30 * 60
VISIBILITY_TIMEOUT = 2 * 60 * 60
RABBITMQ_CONSUMER_TIMEOUT = VISIBILITY_TIMEOUT


def broker_kind(url: str) -> str:
    """``redis``, ``amqp`` or ``filesystem``: which reliability options the broker takes."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("amqp", "amqps", "pyamqp"):
        return "amqp"
    if scheme in ("redis", "rediss", "sentinel"):
        return "redis"
    return scheme


def broker_transport_options(url: str) -> dict[str, object]:
    """The visibility timeout is Redis's; RabbitMQ's counterpart is consumer_timeout on the server."""
    return {"visibility_timeout": VISIBILITY_TIMEOUT} if broker_kind(url) == "redis" else {}


BEAT_SCHEDULE = {
    "ingest-hf-today": {
        "task": "papers.ingest_hf_today",
        "schedule": crontab(hour=",".join(str(hour) for hour in settings.HF_INGEST_HOURS), minute=5),
    },
    "ingest-arxiv-today": {
        "task": "papers.ingest_arxiv_today",
        "schedule": crontab(hour=settings.ARXIV_INGEST_HOUR, minute=30),
    },
    "newsletter-tick": {
        "task": "newsletter.tick",
        "schedule": crontab(minute="*/5"),
    },
    "purge-unconfirmed-subscribers": {
        "task": "subscribers.purge_unconfirmed",
        "schedule": crontab(hour=3, minute=41),
    },
    "clear-expired-sessions": {
        "task": "paperboy.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=17),
    },
}

app.conf.update(
    # Every Paperboy task is idempotent and takes ids only (but subscribers.signup, which takes the
    # address it is about; run twice it is one more signup, within the mailbox's daily cap), so
    # acknowledging after the task has run is safe: a worker killed mid-task (deploy, OOM) leaves
    # the message to be re-delivered instead of losing it (Redis: after the visibility timeout;
    # RabbitMQ: at once, when the dead worker's connection closes).
    task_acks_late=True,
    # A prefork child that dies mid-task (OOM, SIGKILL) while its worker lives: requeue the message
    # rather than acknowledge it as failed.
    task_reject_on_worker_lost=True,
    # The broker connection lost mid-task: RabbitMQ has requeued the message and another worker may
    # already run it; stop ours instead of running it twice at once.
    worker_cancel_long_running_tasks_on_connection_loss=True,
    # Tasks are long (seconds to minutes); prefetching more than one would park messages behind a
    # busy process while another worker idles (and, on RabbitMQ, keep them unacknowledged, so
    # counting against consumer_timeout, the whole time).
    worker_prefetch_multiplier=1,
    task_time_limit=TASK_TIME_LIMIT,
    task_soft_time_limit=TASK_TIME_LIMIT - 60,
    broker_transport_options=broker_transport_options(settings.CELERY_BROKER_URL),
    result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    broker_connection_retry_on_startup=True,
    result_expires=24 * 60 * 60,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    beat_schedule=BEAT_SCHEDULE,
)


@app.on_after_configure.connect
def _prepare_embedded_broker(sender: Celery, **kwargs: object) -> None:
    """The ``filesystem://`` broker of an embedded run keeps everything under CELERY_QUEUE_DIR."""
    from django.conf import settings

    if settings.CELERY_EMBEDDED:
        queue_dir = settings.CELERY_QUEUE_DIR
        for sub in ("queue", "processed", "control"):
            (queue_dir / sub).mkdir(parents=True, exist_ok=True)
        sender.conf.broker_transport_options = {
            **sender.conf.broker_transport_options,
            "data_folder_in": str(queue_dir / "queue"),
            "data_folder_out": str(queue_dir / "queue"),
            "processed_folder": str(queue_dir / "processed"),
            "store_processed": False,
            # the exchanges' queue bindings; kombu's default is "control" in the working directory
            "control_folder": str(queue_dir / "control"),
        }


@app.task(name="paperboy.clear_expired_sessions")
def clear_expired_sessions() -> None:
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    Session.objects.filter(expire_date__lt=timezone.now()).delete()


@app.task(name="paperboy.worker_health")
def worker_health() -> dict[str, str]:
    """What a worker sees: its host name and whether it reaches the database.

    `celery -A config call paperboy.worker_health` checks a deployment end to end."""
    import socket

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"hostname": socket.gethostname(), "database": connection.vendor}
