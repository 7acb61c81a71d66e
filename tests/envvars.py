"""Which environment variables the settings module reads, in every mode."""

from __future__ import annotations

import functools
import json
import secrets

from tests.conftest import clean_env, run_python

PRINT_READ = (
    "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings';"
    "from django.conf import settings; settings.INSTALLED_APPS;"
    "from config.settings import env; print(json.dumps(sorted(env.read)))"
)
PRODUCTION_MINIMUM = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k" + secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "papers.example.org",
    "POSTAL_ADDRESS": "Paperboy, 1 Example Street, 12345 City, Country",  # else check --deploy warns
}


@functools.cache
def settings_variables() -> frozenset[str]:
    names: set[str] = set()
    for env in ({}, {"EMAIL_URL": "smtp://mail.example.org:25", "TRUST_X_FORWARDED_PROTO": "true"}, PRODUCTION_MINIMUM):
        result = run_python(PRINT_READ, clean_env(**env))
        assert result.returncode == 0, result.stderr
        names.update(json.loads(result.stdout.strip().splitlines()[-1]))
    return frozenset(names)


def is_read_by_settings(name: str) -> bool:
    from django.conf import settings

    return name in settings_variables() or name.startswith(settings.ANYMAIL_ENV_PREFIX)
