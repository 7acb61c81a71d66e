"""/healthz: 200 with the database (and broker) status while the database answers, 503 when not."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import clean_env, free_port


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.django_db
def test_healthy_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert response["Cache-Control"].startswith("max-age=0")


def test_postgres_and_redis_reported_by_a_real_server(web_server, test_database_url, redis_url, tmp_path):
    url = web_server(clean_env(DATABASE_URL=test_database_url, REDIS_URL=redis_url, PAPERBOY_VAR_DIR=str(tmp_path)))
    status, body = get_json(f"{url}/healthz")
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["broker"] == {"ok": True}, "no broker URL for the public"


def test_database_down_answers_503(web_server, tmp_path):
    dead = f"postgres://postgres@127.0.0.1:{free_port()}/paperboy"
    url = web_server(clean_env(DATABASE_URL=dead, PAPERBOY_VAR_DIR=str(tmp_path)))
    status, body = get_json(f"{url}/healthz")
    assert status == 503
    assert body["status"] == "down"
    assert body["database"] == {"ok": False}, "no database error text for the public"


def test_broker_down_is_reported_but_still_200(web_server, tmp_path):
    url = web_server(
        clean_env(CELERY_BROKER_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0", PAPERBOY_VAR_DIR=str(tmp_path))
    )
    status, body = get_json(f"{url}/healthz")
    assert status == 200
    assert body["status"] == "degraded"
    assert body["broker"]["ok"] is False
    assert "hunter2" not in json.dumps(body), "the broker password must not leak"


def test_production_stack_serves_pages_and_hashed_static_files(web_server, tmp_path):
    """DJANGO_ENV=production behind gunicorn: collectstatic + whitenoise, as the Dockerfile does it."""
    import re
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.envvars import PRODUCTION_MINIMUM

    env = clean_env(
        **{**PRODUCTION_MINIMUM, "ALLOWED_HOSTS": "127.0.0.1"},
        SECURE_SSL_REDIRECT="false",
        TRUST_X_FORWARDED_PROTO="true",
        PAPERBOY_VAR_DIR=str(tmp_path),
        STATIC_ROOT=str(tmp_path / "static"),
    )
    for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=120)
    url = web_server(env)

    # As behind the TLS-terminating proxy the deployment expects.
    request = urllib.request.Request(f"{url}/", headers={"X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(request, timeout=30) as response:
        html = response.read().decode()
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    stylesheet = re.search(r'href="(/static/paperboy/site\.[0-9a-f]{12}\.css)"', html)
    assert stylesheet, "production pages link the hashed (cache-busting) stylesheet"
    with urllib.request.urlopen(f"{url}{stylesheet.group(1)}", timeout=30) as response:
        assert response.status == 200
        assert "immutable" in response.headers["Cache-Control"]
        assert b"--accent" in response.read()


@pytest.mark.django_db
def test_broker_check_pings_one_pooled_connection(client, settings, redis_url):
    """A probe every few seconds costs one PING on an open connection, not a new connection each time."""
    from config.views import _redis_client

    settings.CELERY_BROKER_URL, settings.CELERY_EMBEDDED = redis_url, False
    _redis_client.cache_clear()
    for _ in range(5):
        body = client.get("/healthz").json()
        assert body["status"] == "ok" and body["broker"]["ok"] is True
    assert _redis_client(redis_url).connection_pool._created_connections == 1
    _redis_client.cache_clear()


@pytest.mark.django_db
def test_broker_going_down_and_back_is_seen_at_once(client, settings, spawn, tmp_path):
    """The pooled connection never answers for a broker that is gone, and recovers when it is back."""
    import shutil
    import time

    from tests.conftest import tcp_reachable, unavailable, wait_for_port

    binary = shutil.which("redis-server")
    if not binary:
        unavailable("redis-server is not installed")
    from config.views import _redis_client

    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    settings.CELERY_BROKER_URL, settings.CELERY_EMBEDDED = f"redis://127.0.0.1:{port}/0", False
    _redis_client.cache_clear()
    try:
        broker = spawn(command, {}, name="redis")
        wait_for_port(broker, port)
        assert client.get("/healthz").json()["broker"]["ok"] is True

        broker.stop()
        deadline = time.monotonic() + 10
        while tcp_reachable("127.0.0.1", port, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.1)
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["status"] == "degraded"
        assert response.json()["broker"]["ok"] is False

        wait_for_port(spawn(command, {}, name="redis-again"), port)
        assert client.get("/healthz").json()["broker"]["ok"] is True
    finally:
        _redis_client.cache_clear()


@pytest.mark.django_db
def test_staff_see_the_details_and_the_public_does_not(client, admin_client, settings, redis_url):
    settings.CELERY_BROKER_URL, settings.CELERY_EMBEDDED = redis_url, False

    public = client.get("/healthz").json()
    staff = admin_client.get("/healthz").json()

    assert public == {"database": {"ok": True}, "broker": {"ok": True}, "status": "ok"}
    assert staff["database"]["vendor"] in ("postgresql", "sqlite")
    assert staff["broker"]["url"].startswith("redis://")


@pytest.mark.django_db
def test_a_broker_error_is_logged_not_shown(client, settings, caplog):
    settings.CELERY_BROKER_URL, settings.CELERY_EMBEDDED = f"redis://127.0.0.1:{free_port()}/0", False

    body = client.get("/healthz").json()

    assert body["broker"] == {"ok": False}
    assert body["status"] == "degraded"
    assert "healthz: broker down" in caplog.text and "Error" in caplog.text


@pytest.mark.django_db
def test_a_rabbitmq_broker_is_checked_too(admin_client, settings, rabbitmq_url):
    settings.CELERY_BROKER_URL, settings.CELERY_EMBEDDED = rabbitmq_url, False
    staff = admin_client.get("/healthz").json()
    assert staff["broker"]["ok"] is True and staff["broker"]["url"].startswith("amqp://guest:**@")

    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    response = admin_client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "degraded"
    assert response.json()["broker"]["ok"] is False
