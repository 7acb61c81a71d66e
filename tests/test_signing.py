"""config.signing: Django's signatures, byte for byte, with the key derivation cached."""

from __future__ import annotations

import pytest
from django.core import signing
from hypothesis import given
from hypothesis import strategies as st

from config import signing as fast


@given(value=st.text(max_size=200), salt=st.text(min_size=1, max_size=40))
def test_signatures_are_django_s(value, salt):
    assert fast.Signer(key="k" * 50, salt=salt).sign(value) == signing.Signer(key="k" * 50, salt=salt).sign(value)
    stamped = fast.TimestampSigner(key="k" * 50, salt=salt).sign(value)
    assert signing.TimestampSigner(key="k" * 50, salt=salt).unsign(stamped) == value


def test_tokens_made_either_way_verify_either_way(settings):
    settings.SECRET_KEY = "s" * 50
    ours = fast.signer("paperboy.test", timestamped=True)
    django_s = signing.TimestampSigner(salt="paperboy.test")
    assert django_s.unsign(ours.sign("abc")) == "abc"
    assert ours.unsign(django_s.sign("xyz")) == "xyz"
    token = ours.sign("abc")
    with pytest.raises(signing.BadSignature):
        ours.unsign(token[:-1] + ("B" if token.endswith("A") else "A"))  # one character of the signature changed


def test_a_rotated_secret_is_followed_and_its_fallback_still_verifies(settings):
    settings.SECRET_KEY = "old" * 20
    token = fast.signer("paperboy.test").sign("42")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new" * 20, ["old" * 20]

    assert fast.signer("paperboy.test").unsign(token) == "42"
    assert fast.signer("paperboy.test").sign("42") == signing.Signer(salt="paperboy.test").sign("42")
    assert fast.signer("paperboy.test").sign("42") != token
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(signing.BadSignature):
        fast.signer("paperboy.test").unsign(token)
