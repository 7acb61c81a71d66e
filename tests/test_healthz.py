"""/healthz: 200 with the database (and broker) status while the database answers, 503 when not."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import clean_env, free_port


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback URL)
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
