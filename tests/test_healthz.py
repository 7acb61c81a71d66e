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
    assert body["database"] == {"ok": True, "vendor": "postgresql"}
    assert body["broker"]["ok"] is True
    assert body["broker"]["url"].startswith("redis://")


def test_database_down_answers_503(web_server, tmp_path):
    dead = f"postgres://postgres@127.0.0.1:{free_port()}/paperboy"
    url = web_server(clean_env(DATABASE_URL=dead, PAPERBOY_VAR_DIR=str(tmp_path)))
    status, body = get_json(f"{url}/healthz")
    assert status == 503
    assert body["status"] == "down"
    assert body["database"]["ok"] is False
    assert body["database"]["error"]


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
