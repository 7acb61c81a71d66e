"""Reading settings from the environment, strictly.

django-environ is lenient by default (``DEBUG=maybe`` is silently False); a mistyped value in
production should stop the process with a message that names the variable instead.
"""

from __future__ import annotations

import re
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_STRINGS = {"1", "true", "yes", "on", "y"}
FALSE_STRINGS = {"0", "false", "no", "off", "n", ""}


class StrictEnv(environ.Env):
    """An ``environ.Env`` that fails loudly and remembers which variables were read."""

    def __init__(self, **scheme: Any) -> None:
        super().__init__(**scheme)
        self.read: set[str] = set()

    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        self.read.add(var)
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ImproperlyConfigured:
            raise
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{var}={self.ENVIRON.get(var)!r} is not valid: {exc}") from exc

    @classmethod
    def parse_value(cls, value: Any, cast: Any) -> Any:
        if cast is bool and isinstance(value, str):
            word = value.strip().lower()
            if word in TRUE_STRINGS:
                return True
            if word in FALSE_STRINGS:
                return False
            raise ValueError(f"expected one of {sorted(TRUE_STRINGS | FALSE_STRINGS - {''})}")
        return super().parse_value(value, cast)

    def choice(self, var: str, choices: tuple[str, ...], default: str) -> str:
        value = self.str(var, default=default).strip().lower()
        if value not in choices:
            raise ImproperlyConfigured(f"{var}={value!r} is not valid: expected one of {', '.join(choices)}")
        return value

    def rate(self, var: str, default: str) -> str:
        """A django-ratelimit rate such as ``10/h`` or ``100/5m``."""
        value = self.str(var, default=default).strip()
        if not re.fullmatch(r"\d+/\d*[smhd]", value):
            raise ImproperlyConfigured(f"{var}={value!r} is not valid: expected a rate like 10/h, 5/m or 100/d")
        return value

    def throttle_rate(self, var: str, default: str) -> str:
        """A Django REST framework throttle rate such as ``60/min`` or ``1000/day``: a count per one
        second, minute, hour or day (DRF reads only the unit's first letter, so ``100/5m`` would be per minute)."""
        value = self.str(var, default=default).strip()
        if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", value):
            raise ImproperlyConfigured(f"{var}={value!r} is not valid: expected a rate like 60/min, 1000/hour or 5/s")
        return value

    def url_with_scheme(self, var: str, schemes: tuple[str, ...], default: str) -> str:
        value = self.str(var, default=default).strip()
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in schemes:
            raise ImproperlyConfigured(
                f"{var}={value!r} is not valid: expected a URL starting with one of "
                + ", ".join(f"{s}://" for s in schemes)
            )
        return value

    def database(self, var: str, default: str) -> dict[str, Any]:
        """Django's DATABASES entry from a URL; Paperboy runs on PostgreSQL, or SQLite embedded."""
        value = self.str(var, default=default).strip()
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("postgres", "postgresql", "sqlite"):
            raise ImproperlyConfigured(
                f"{var} is not valid: expected postgres://user:password@host:port/name or sqlite:///path"
            )
        config: dict[str, Any] = self.db_url_config(value)
        return config

    def smtp(self, var: str) -> dict[str, Any]:
        """Django's EMAIL_* settings from an SMTP URL such as ``smtp+tls://user:pass@host:587``."""
        value = self.str(var, default="").strip()
        if not value:
            return {}
        scheme = value.split("://", 1)[0]
        if scheme not in ("smtp", "smtps", "smtp+tls", "smtp+ssl"):
            raise ImproperlyConfigured(
                f"{var} is not valid: expected smtp://, smtp+tls:// (STARTTLS) or smtp+ssl:// (implicit TLS)"
            )
        config: dict[str, Any] = self.email_url_config(value)
        if not config.get("EMAIL_HOST"):
            raise ImproperlyConfigured(f"{var} is not valid: it names no host")
        # Django's SMTP backend, pipelined when the server offers it (newsletter/smtp.py).
        config["EMAIL_BACKEND"] = "newsletter.smtp.EmailBackend"
        return config
