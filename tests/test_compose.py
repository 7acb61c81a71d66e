"""docker-compose.yml cannot be started here (no Docker engine), so check what can be checked:
every service is there with a health check, every command names real code, and every variable
handed to the app is one the settings read."""

from __future__ import annotations

import importlib
import re
import shlex

import pytest
import yaml

from tests.conftest import ROOT
from tests.envvars import is_read_by_settings

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = [name for name, service in SERVICES.items() if service.get("build")]
INTERPOLATED = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))


def env_file_names(path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.split("=", 1)[0])
    return names


def command_of(service: dict) -> list[str]:
    command = service["command"]
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(words[2].replace("&&", " && "))
    return words


def test_the_production_stack_is_complete():
    assert set(SERVICES) == {"postgres", "redis", "web", "worker", "beat", "mailpit"}
    assert set(APP_SERVICES) == {"web", "worker", "beat"}
    for name, service in SERVICES.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"], name
    assert "postgres-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]
    assert "--appendonly" in SERVICES["redis"]["command"], "queued mail must survive a Redis restart"
    for name in APP_SERVICES:
        depends = SERVICES[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
    assert "8025:8025" in SERVICES["mailpit"]["ports"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_commands_point_at_real_code(name):
    words = command_of(SERVICES[name])
    if "gunicorn" in words:
        target = words[words.index("gunicorn") + 1]
        module_name, attribute = target.split(":")
        assert callable(getattr(importlib.import_module(module_name), attribute))
    if "celery" in words:
        app_module = words[words.index("-A") + 1]
        app = importlib.import_module(app_module).celery_app
        assert app.main == "paperboy"
        assert words[words.index("-A") + 2] in ("worker", "beat")
    if "manage.py" in words:
        from django.core.management import get_commands

        subcommand = words[words.index("manage.py") + 1]
        assert subcommand in get_commands(), f"{name} runs manage.py {subcommand}, which does not exist"
    assert {"gunicorn", "celery"} & set(words), f"{name} runs neither gunicorn nor celery: {words}"


def test_web_migrates_before_serving():
    words = command_of(SERVICES["web"])
    assert words.index("migrate") < words.index("gunicorn")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment_is_read_by_settings(name):
    unknown = [variable for variable in SERVICES[name]["environment"] if not is_read_by_settings(variable)]
    assert unknown == [], f"{name} sets variables the settings never read"


def test_env_example_variables_are_read_by_settings():
    names = env_file_names(ROOT / ".env.example")
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ENV"} <= names
    unknown = sorted(name for name in names if not is_read_by_settings(name) and name not in INTERPOLATED)
    assert unknown == []


def test_dockerfile_serves_with_gunicorn_and_collects_static():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile
    assert "config.wsgi:application" in dockerfile
    assert (ROOT / "requirements.txt").read_text().count("gunicorn==") == 1


RABBITMQ_COMPOSE = yaml.safe_load((ROOT / "docker-compose.rabbitmq.yml").read_text())


def test_the_rabbitmq_override_moves_only_the_queue():
    """docker-compose.rabbitmq.yml: a RabbitMQ service with a health check, its data on a volume and
    a consumer timeout long enough for config/celery.py; the app services' broker on it."""
    from config.celery import RABBITMQ_CONSUMER_TIMEOUT

    services = RABBITMQ_COMPOSE["services"]
    assert set(services) == {"rabbitmq", *APP_SERVICES}
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["healthcheck"]["test"] and rabbitmq["hostname"] == "rabbitmq"
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbitmq["volumes"]
    erl_args = rabbitmq["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"].split()
    assert erl_args[:2] == ["-rabbit", "consumer_timeout"]
    assert int(erl_args[2]) >= RABBITMQ_CONSUMER_TIMEOUT * 1000
    for name in APP_SERVICES:
        override = services[name]
        assert set(override["environment"]) == {"CELERY_BROKER_URL"}, "results and the cache stay on Redis"
        assert override["environment"]["CELERY_BROKER_URL"].startswith("amqp://")
        assert all(is_read_by_settings(variable) for variable in override["environment"])
        assert override["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert SERVICES[name]["environment"]["CELERY_RESULT_BACKEND"].startswith("redis://")
