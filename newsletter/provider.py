"""The email provider as sending sees it: which of its errors are worth a retry, and how fast
every worker together may call it."""

from __future__ import annotations

import smtplib
import time

import requests
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.cache import cache


class TransientError(Exception):
    """Worth retrying later: the connection, a timeout, a 4xx SMTP reply, an ESP 5xx or 429."""


class PermanentError(Exception):
    """This recipient will not take this message: invalid address, 5xx SMTP reply, ESP 4xx."""


def classify(exc: Exception) -> TransientError | PermanentError:
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentError(str(exc))
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        if status is not None and 400 <= status < 500 and status != 429:
            return PermanentError(str(exc))
        return TransientError(str(exc))
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return TransientError(str(exc)) if codes and all(400 <= c < 500 for c in codes) else PermanentError(str(exc))
    if isinstance(exc, smtplib.SMTPResponseException):
        return PermanentError(str(exc)) if exc.smtp_code >= 500 else TransientError(str(exc))
    return TransientError(f"{exc.__class__.__name__}: {exc}")  # the connection, a timeout, anything else


def wait_for_send_slot(count: int = 1) -> None:
    """At most DIGEST_SEND_RATE messages per second across every worker (shared cache counter).
    ``count``: messages about to go in one call (an ESP batch)."""
    rate = settings.DIGEST_SEND_RATE
    if rate <= 0:
        return
    while True:
        second = int(time.time())
        key = f"paperboy:send-rate:{second}"
        cache.add(key, 0, timeout=5)
        total = cache.incr(key, count)
        if total <= rate or total == count:  # a batch larger than the rate goes alone in its second
            return
        time.sleep(max(0.0, second + 1 - time.time()) + 0.001)


def outcome_unclear(exc: Exception) -> bool:
    """The connection broke or timed out without the provider's answer: it may have the message."""
    # Anymail's HTTP errors are also the requests exception they wrap: a ReadTimeout came after the
    # request went out (a refused connection sent nothing and is retried as usual).
    return isinstance(exc, smtplib.SMTPServerDisconnected | TimeoutError | ConnectionResetError | requests.ReadTimeout)
