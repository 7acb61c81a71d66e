"""Django's signers, with the HMAC key derived once per salt and secret instead of once per
signature. Django's ``salted_hmac`` hashes ``salt + secret`` on every call; a digest sends four
signed links per reader. The signatures are byte for byte Django's (tests/test_signing.py)."""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Literal, overload

from django.conf import settings
from django.core import signing
from django.utils.encoding import force_bytes


@functools.lru_cache(maxsize=64)
def _derived_key(salt: str, secret: str | bytes, algorithm: str) -> bytes:
    key: bytes = getattr(hashlib, algorithm)(force_bytes(salt) + force_bytes(secret)).digest()
    return key


class _DerivedKeyOnce(signing.Signer):
    salt: str  # signer() below is the only maker, and its salt is a str

    def signature(self, value: bytes | str, key: bytes | str | None = None) -> str:
        derived = _derived_key(self.salt + "signer", key or self.key, self.algorithm)
        digest = hmac.new(derived, force_bytes(value), getattr(hashlib, self.algorithm)).digest()
        return signing.b64_encode(digest).decode()


class Signer(_DerivedKeyOnce):
    pass


class TimestampSigner(_DerivedKeyOnce, signing.TimestampSigner):
    pass


@functools.lru_cache(maxsize=64)
def _cached(salt: str, timestamped: bool, secret: str, fallbacks: tuple[str | bytes, ...]) -> signing.Signer:
    cls = TimestampSigner if timestamped else Signer
    return cls(key=secret, salt=salt, fallback_keys=list(fallbacks))


@overload
def signer(salt: str, *, timestamped: Literal[False] = False) -> signing.Signer: ...
@overload
def signer(salt: str, *, timestamped: Literal[True]) -> signing.TimestampSigner: ...
def signer(salt: str, *, timestamped: bool = False) -> signing.Signer:
    """A signer for ``salt`` under the current SECRET_KEY (and its fallbacks), reused."""
    return _cached(salt, timestamped, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))
