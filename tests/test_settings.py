"""Settings come from the environment: embedded defaults with none, loud errors on bad values.

Each case imports the settings in a fresh interpreter with exactly the environment given, as a
new shell would, so nothing leaks in from the test run's own configuration."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, clean_env, run_python
from tests.envvars import PRODUCTION_MINIMUM

READ_SETTINGS = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
from django.conf import settings
names = {names!r}
print(json.dumps({{name: getattr(settings, name, None) for name in names}}, default=str))
"""


def settings_for(env: dict[str, str], *names: str) -> dict:
    result = run_python(READ_SETTINGS.format(names=list(names)), clean_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def settings_error(env: dict[str, str]) -> str:
    result = run_python(READ_SETTINGS.format(names=["DEBUG"]), clean_env(**env))
    assert result.returncode != 0, f"settings accepted {env}: {result.stdout}"
    return result.stderr


def test_no_environment_runs_embedded(tmp_path):
    values = settings_for(
        {"PAPERBOY_VAR_DIR": str(tmp_path)},
        "DEBUG",
        "DATABASES",
        "CELERY_BROKER_URL",
        "CELERY_EMBEDDED",
        "CELERY_RESULT_BACKEND",
        "EMAIL_BACKEND",
        "OUTBOX_DIR",
        "CACHES",
        "SECURE_SSL_REDIRECT",
    )
    assert values["DEBUG"] is True
    database = values["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(tmp_path / "paperboy.sqlite3")
    assert values["CELERY_BROKER_URL"].startswith("filesystem://")
    assert values["CELERY_EMBEDDED"] is True
    assert values["CELERY_RESULT_BACKEND"] is None
    assert values["EMAIL_BACKEND"] == "common.outbox.OutboxEmailBackend"
    assert values["OUTBOX_DIR"] == str(tmp_path / "outbox")
    assert values["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert values["SECURE_SSL_REDIRECT"] is False


def test_database_url_switches_to_postgres():
    values = settings_for({"DATABASE_URL": "postgres://paper:s3cret@db.internal:5433/paperboy"}, "DATABASES")
    database = values["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.internal", 5433, "paperboy")
    assert (database["USER"], database["PASSWORD"]) == ("paper", "s3cret")


def test_redis_url_feeds_cache_broker_and_results():
    values = settings_for(
        {"REDIS_URL": "redis://127.0.0.1:6379/3"},
        "CACHES",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "CELERY_EMBEDDED",
    )
    assert values["CACHES"]["default"] == {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/3",
    }
    assert values["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/3"
    assert values["CELERY_RESULT_BACKEND"] == "redis://127.0.0.1:6379/3"
    assert values["CELERY_EMBEDDED"] is False


def test_api_answers_are_cached_only_in_a_shared_cache():
    assert settings_for({"REDIS_URL": "redis://127.0.0.1:6379/3"}, "API_CACHE_SECONDS")["API_CACHE_SECONDS"] == 3600
    assert settings_for({}, "API_CACHE_SECONDS")["API_CACHE_SECONDS"] == 0


def test_rabbitmq_broker_keeps_results_on_redis():
    rabbitmq = "amqp://guest:guest@127.0.0.1:5672//"
    names = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_EMBEDDED", "CACHES")
    values = settings_for({"CELERY_BROKER_URL": rabbitmq, "REDIS_URL": "redis://127.0.0.1:6379/3"}, *names)
    assert values["CELERY_BROKER_URL"] == rabbitmq
    assert values["CELERY_RESULT_BACKEND"] == "redis://127.0.0.1:6379/3"
    assert values["CELERY_EMBEDDED"] is False
    assert values["CACHES"]["default"]["LOCATION"] == "redis://127.0.0.1:6379/3", "the cache stays on Redis"

    alone = settings_for({"CELERY_BROKER_URL": rabbitmq}, "CELERY_RESULT_BACKEND")
    assert alone == {"CELERY_RESULT_BACKEND": None}, "no Redis: no implicit result backend"


def test_each_broker_gets_its_own_transport_options():
    read = "from config.celery import app; print(json.dumps(app.conf.broker_transport_options))"
    code = "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; import django; django.setup();"
    for url, expected in (
        ("redis://127.0.0.1:6379/3", {"visibility_timeout": 7200}),
        ("amqp://guest:guest@127.0.0.1:5672//", {}),
    ):
        result = run_python(code + read, clean_env(CELERY_BROKER_URL=url))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.strip().splitlines()[-1]) == expected, url


def test_email_url_configures_smtp():
    values = settings_for(
        {"EMAIL_URL": "smtp+tls://mailer:pa55@smtp.example.org:587"},
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "EMAIL_USE_SSL",
    )
    assert values == {
        "EMAIL_BACKEND": "newsletter.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.example.org",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "pa55",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
    }


def test_anymail_provider_from_environment():
    values = settings_for(
        {
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_SERVER_TOKEN": "server-token",
            "ANYMAIL_WEBHOOK_SECRET": "hook:secret",
        },
        "EMAIL_BACKEND",
        "ANYMAIL",
    )
    assert values["EMAIL_BACKEND"] == "anymail.backends.postmark.EmailBackend"
    assert values["ANYMAIL"] == {"POSTMARK_SERVER_TOKEN": "server-token", "WEBHOOK_SECRET": "hook:secret"}


@pytest.mark.parametrize(
    ("env", "names_in_message"),
    [
        ({"DEBUG": "maybe"}, ["DEBUG", "maybe"]),
        ({"DJANGO_ENV": "staging"}, ["DJANGO_ENV", "staging", "production"]),
        ({"DATABASE_CONN_MAX_AGE": "sixty"}, ["DATABASE_CONN_MAX_AGE", "sixty"]),
        ({"DATABASE_URL": "nosuchdb://host/name"}, ["DATABASE_URL"]),
        ({"EMAIL_URL": "http://mail.example.org"}, ["EMAIL_URL", "smtp://"]),
        ({"SITE_URL": "papers.example.org"}, ["SITE_URL", "https://"]),
        ({"LOG_LEVEL": "loud"}, ["LOG_LEVEL", "loud"]),
        ({"API_RATE": "100/5m"}, ["API_RATE", "100/5m", "60/min"]),  # DRF would read it as 100 a minute
        ({"DJANGO_ENV": "production", "ALLOWED_HOSTS": "x.org"}, ["SECRET_KEY", "50"]),
        ({"DJANGO_ENV": "production", "ALLOWED_HOSTS": "x.org", "SECRET_KEY": "short"}, ["SECRET_KEY"]),
        ({"DJANGO_ENV": "production", "SECRET_KEY": "s" * 60}, ["ALLOWED_HOSTS"]),
    ],
)
def test_bad_values_stop_with_a_message_naming_the_variable(env, names_in_message):
    error = settings_error(env)
    assert "ImproperlyConfigured" in error
    last_line = error.strip().splitlines()[-1]
    for name in names_in_message:
        assert name in last_line, last_line


def test_production_turns_on_the_secure_settings():
    values = settings_for(
        PRODUCTION_MINIMUM,
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "STORAGES",
        "MIDDLEWARE",
    )
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SECURE_SSL_REDIRECT"]
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["STORAGES"]["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert "csp.middleware.CSPMiddleware" in values["MIDDLEWARE"]
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in values["MIDDLEWARE"]


def test_deploy_check_passes_with_the_documented_minimum(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_env(PAPERBOY_VAR_DIR=str(tmp_path), **PRODUCTION_MINIMUM),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS:" not in result.stdout + result.stderr
    assert "ERRORS:" not in result.stdout + result.stderr


def test_deploy_check_fails_on_development_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_env(PAPERBOY_VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on
