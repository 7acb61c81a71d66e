"""Operational endpoints."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django_ratelimit.core import get_usage
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url

from subscribers.views import client_ip

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)
BROKER_TIMEOUT = 2  # seconds: a broker that does not answer by then counts as down


def _database_status() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "vendor": connection.vendor, "error": str(exc).strip().splitlines()[0]}
    return {"ok": True, "vendor": connection.vendor}


@functools.cache
def _redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per process and URL: a probe every few seconds, or a
    load balancer's every request, costs one PING on an open connection instead of a new TCP
    connection and Redis handshake each time. A pooled connection the server has closed is
    detected when it is taken from the pool and replaced, so a PING still answers only while
    Redis does."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=BROKER_TIMEOUT,
        socket_timeout=BROKER_TIMEOUT,
        retry=Retry(NoBackoff(), 0),  # one attempt per probe: a down broker answers "down" at once
        max_connections=4,
    )


def _ping_broker(url: str) -> None:
    if url.startswith(("redis://", "rediss://")):
        _redis_client(url).ping()
        return
    with Connection(url, connect_timeout=BROKER_TIMEOUT) as broker:  # AMQP: rare, and cheap enough to open
        broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)


def _broker_status() -> dict[str, Any]:
    url = settings.CELERY_BROKER_URL
    status: dict[str, Any] = {"url": maybe_sanitize_url(url)}
    try:
        _ping_broker(url)
    except Exception as exc:  # redis/kombu raise transport-specific errors; any of them means "down"
        return {**status, "ok": False, "error": str(exc)}
    return {**status, "ok": True}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the database answers; 503 when it does not.

    The broker is reported when one is configured, but a broker outage alone keeps 200: the
    site still serves pages and signups, and mail waits in the database until it is back.
    Anyone sees ``ok`` per part; staff also see the vendor, the broker URL and error texts."""
    database = _database_status()
    body: dict[str, Any] = {"database": database}
    if not settings.CELERY_EMBEDDED:
        body["broker"] = _broker_status()
    healthy = database["ok"]
    degraded = healthy and not body.get("broker", {"ok": True})["ok"]
    for name, part in body.items():
        if not part["ok"]:
            logger.warning("healthz: %s down: %s", name, part.get("error", ""))
    # Vendor, broker URL and error texts are for staff (and the log), not for anyone probing the site.
    if not (healthy and _is_staff(request)):
        body = {name: {"ok": part["ok"]} for name, part in body.items()}
    body["status"] = "degraded" if degraded else ("ok" if healthy else "down")
    return JsonResponse(body, status=200 if healthy else 503)


def _is_staff(request: HttpRequest) -> bool:
    try:
        return bool(request.user.is_staff)
    except DatabaseError:  # the session cannot be read: treat as anonymous
        return False


def _login_username(group: str, request: HttpRequest) -> str:
    return request.POST.get("username", "").strip().lower()


def _login_ip(group: str, request: HttpRequest) -> str:
    return client_ip(request) or ""


def admin_login(request: HttpRequest) -> HttpResponse:
    """Django admin's login, with its failed POSTs counted per username and per client address:
    password guessing gets a few tries per window, not an endless stream, while an editor who signs
    in on several devices is never refused for having succeeded."""
    if request.method != "POST":
        return admin.site.login(request)
    limits = [
        ("admin-login-username", _login_username, settings.ADMIN_LOGIN_RATE_PER_USERNAME),
        ("admin-login-ip", _login_ip, settings.ADMIN_LOGIN_RATE_PER_IP),
    ]

    def used_up() -> bool:
        # Every limit is looked at (no short-circuit), so neither can be probed on its own.
        usage = [get_usage(request, group=group, key=key, rate=rate, method="POST") for group, key, rate in limits]
        return any(u is not None and u["count"] >= u["limit"] for u in usage)  # None: RATELIMIT_FAIL_OPEN

    if used_up():
        logger.warning("admin login throttled for %r from %s", _login_username("", request), _login_ip("", request))
        return HttpResponse(
            "Too many failed login attempts. Try again in a few minutes.\n", status=429, content_type="text/plain"
        )
    response = admin.site.login(request)
    if response.status_code != 302:  # the form again: a wrong password (a success redirects)
        for group, key, rate in limits:
            get_usage(request, group=group, key=key, rate=rate, method="POST", increment=True)
    return response
