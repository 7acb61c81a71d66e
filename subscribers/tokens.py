"""Signed links, one scheme per purpose.

A token is ``<public id>.<link key>`` signed with a salt of its own, so a confirmation token
cannot unsubscribe anyone and an unsubscribe token cannot open the preference center. It carries
no email address, cannot be guessed (HMAC with SECRET_KEY), and dies when the subscriber's link
key changes (erasure, or an editor rotating it). Confirmation tokens expire; the others do not,
because an unsubscribe link must work in a years-old email.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum

from django.core import signing

from subscribers.models import Subscriber

CONFIRM_MAX_AGE = dt.timedelta(days=7)


class Purpose(Enum):
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"
    FEEDBACK = "feedback"


class TokenInvalid(Exception):
    """Tampered with, made for another purpose, or for a subscriber who no longer exists."""


class TokenExpired(TokenInvalid):
    """A genuine confirmation token that is too old; ``subscriber`` is who it was for."""

    def __init__(self, subscriber: Subscriber):
        super().__init__("expired")
        self.subscriber = subscriber


def _signer(purpose: Purpose) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"paperboy.subscribers.{purpose.value}")


def make_token(subscriber: Subscriber, purpose: Purpose) -> str:
    return _signer(purpose).sign(f"{subscriber.public_id.hex}.{subscriber.link_key}")


def _subscriber_for(value: str) -> Subscriber:
    public_id_hex, _, link_key = value.partition(".")
    try:
        public_id = uuid.UUID(hex=public_id_hex)
    except ValueError:
        raise TokenInvalid("malformed token") from None
    subscriber = Subscriber.objects.filter(public_id=public_id, link_key=link_key).first() if link_key else None
    if subscriber is None:
        raise TokenInvalid("no such subscriber")
    return subscriber


def read_token(token: str, purpose: Purpose) -> Subscriber:
    """The subscriber a token was made for, or ``TokenInvalid`` / ``TokenExpired``."""
    signer = _signer(purpose)
    max_age = CONFIRM_MAX_AGE if purpose is Purpose.CONFIRM else None
    try:
        value = signer.unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        value = signer.unsign(token)  # authentic but old: say whose it was, so we can offer a new one
        raise TokenExpired(_subscriber_for(value)) from None
    except signing.BadSignature as exc:
        raise TokenInvalid(str(exc)) from None
    return _subscriber_for(value)
