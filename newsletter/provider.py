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


class AccountError(Exception):
    """The provider refuses *us*, whoever the recipient: wrong credentials, a sender address it
    will not relay for, a suspended account. No reader is at fault: the edition pauses until an
    editor fixes the configuration, and nobody's row fails."""


# Postmark's account-level API error codes (postmarkapp.com/developer/api/overview#error-codes):
# 10 bad or missing server token, 400/401 sender signature missing/unconfirmed, 405 not allowed
# to send (out of credits), 412 account pending approval, 413 account may not send.
POSTMARK_ACCOUNT_CODES = frozenset({10, 400, 401, 405, 412, 413})


def _account_refused(exc: AnymailAPIError) -> bool:
    """Postmark named an account-level reason, for the call or for every message of a batch."""
    response = getattr(exc, "response", None)
    try:
        answer = response.json() if response is not None else None
    except ValueError:
        return False
    answers = answer if isinstance(answer, list) else [answer]
    codes = [item.get("ErrorCode") if isinstance(item, dict) else None for item in answers]
    return bool(codes) and all(code in POSTMARK_ACCOUNT_CODES for code in codes)


def classify(exc: Exception) -> TransientError | PermanentError | AccountError:
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentError(str(exc))
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        if status in (401, 403) or _account_refused(exc):
            return AccountError(str(exc))
        if status is not None and 400 <= status < 500 and status != 429:
            return PermanentError(str(exc))
        return TransientError(str(exc))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AccountError(str(exc))
    if isinstance(exc, smtplib.SMTPSenderRefused):  # MAIL FROM refused: the same for every reader
        return AccountError(str(exc)) if exc.smtp_code >= 500 else TransientError(str(exc))
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
