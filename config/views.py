"""Operational endpoints."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url


def _database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "vendor": connection.vendor, "error": str(exc).strip().splitlines()[0]}
    return {"ok": True, "vendor": connection.vendor}


def _broker_status() -> dict:
    url = settings.CELERY_BROKER_URL
    status: dict = {"url": maybe_sanitize_url(url)}
    try:
        with Connection(url, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises transport-specific errors; any of them means "down"
        return {**status, "ok": False, "error": str(exc)}
    return {**status, "ok": True}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the database answers; 503 when it does not.

    The broker is reported when one is configured, but a broker outage alone keeps 200: the
    site still serves pages and signups, and mail waits in the database until it is back."""
    database = _database_status()
    body: dict = {"database": database}
    if not settings.CELERY_EMBEDDED:
        body["broker"] = _broker_status()
    healthy = database["ok"]
    degraded = healthy and not body.get("broker", {"ok": True})["ok"]
    body["status"] = "degraded" if degraded else ("ok" if healthy else "down")
    return JsonResponse(body, status=200 if healthy else 503)
