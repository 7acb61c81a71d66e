"""Digest emails whose MIME form is written directly, not through the ``email`` package.

A digest is always the same shape: a text part, and for HTML readers an HTML alternative, in
UTF-8, plus a handful of headers. Written directly because the email package's generator is most
of a digest's CPU (BENCHMARKS.md). The result is what Django would send: the same headers (a
To, Cc or Reply-To in ``headers`` shown instead of the list, as Django does), the same transfer
encodings (7bit, 8bit, or quoted-printable for a line over 998 bytes), RFC 2047 encoded words for
non-ASCII header text. Headers that need folding or encoding go through the ``email`` package
(cached per distinct value): address headers fold as Django's generator folds them, others by
its SMTP policy. Backends that read the message's attributes instead (Anymail's) are unaffected.
DIGEST_FAST_MIME=false builds digests with Django's own class.
"""

from __future__ import annotations

import binascii
import functools
import re
import secrets
from email import policy
from email.utils import formatdate, getaddresses

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.core.mail.message import ADDRESS_HEADERS, sanitize_address

MAX_LINE = 998  # bytes, without the line break (RFC 5322 2.1.1)
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_FOLD = policy.SMTP.clone(linesep="\n")
_DJANGO_FOLD = policy.compat32.clone(linesep="\n")  # what Django's generator folds with


@functools.lru_cache(maxsize=256)
def _folded(name: str, value: str) -> str:
    """``Name: value`` folded and encoded by the email package (for values that need it)."""
    fold = _DJANGO_FOLD if name.lower() in ADDRESS_HEADERS else _FOLD
    return fold.fold(name, value).rstrip("\n")


@functools.lru_cache(maxsize=64)
def _sanitized(address: str, encoding: str) -> str:
    return sanitize_address(address, encoding)


def address(value: str, encoding: str) -> str:
    """Django's ``sanitize_address``, skipped for a bare ASCII address (every reader's, mostly)."""
    if PLAIN_ADDRESS.fullmatch(value):
        return value
    return _sanitized(value, encoding)


def header_value(name: str, value: str, encoding: str) -> str:
    """``value`` checked as Django's ``forbid_multi_line_headers`` checks it, and a non-ASCII
    address header sanitized as it does (which may fold an encoded display name)."""
    if "\n" in value or "\r" in value:
        raise BadHeaderError(f"Header values can't contain newlines (got {value!r} for header {name!r})")
    if name.lower() in ADDRESS_HEADERS and not value.isascii():
        return ", ".join(sanitize_address(pair, encoding) for pair in getaddresses((value,)))
    return value


def header_line(name: str, value: str) -> str:
    """``Name: value`` as sent, from a value ``header_value`` gave."""
    line = f"{name}: {value}"
    if line.isascii() and len(line) <= 78:
        return line
    if line.isascii() and len(line) <= MAX_LINE and " " not in value:
        return line  # one long token (a URL): folding could not split it anyway
    return _folded(name, value)


_BLOCK = (MAX_LINE + 1) // 2


def has_long_line(raw: bytes) -> bool:
    """Whether a line of ``raw`` is longer than MAX_LINE bytes. A line that long covers a whole
    aligned block of (MAX_LINE + 1) // 2 bytes, so when every such block holds a line break (short
    lines: the usual case) no line can be; only otherwise are the lines measured."""
    for start in range(0, len(raw) - _BLOCK + 1, _BLOCK):
        if raw.find(b"\n", start, start + _BLOCK) < 0:
            return max(map(len, raw.split(b"\n"))) > MAX_LINE
    return False


def _part(content_type: str, body: str) -> str:
    """A text part's headers and body, the body normalized to \\n line breaks."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    raw = body.encode()
    if has_long_line(raw):
        encoding = "quoted-printable"
        body = binascii.b2a_qp(raw, istext=True).decode("ascii")
    else:
        encoding = "7bit" if body.isascii() else "8bit"
    return f'Content-Type: {content_type}; charset="utf-8"\nContent-Transfer-Encoding: {encoding}\n\n{body}'


class PrebuiltMessage:
    """The MIME form of a DigestEmail: enough of ``email.message.Message`` for Django's SMTP,
    file and outbox backends (``as_bytes``, ``as_string``, header lookup)."""

    def __init__(self, headers: list[tuple[str, str]], text: str) -> None:
        self._headers = headers
        self._text = text  # every line break is \n

    def as_string(self, unixfrom: bool = False, linesep: str = "\n", **kwargs: object) -> str:
        return self._text if linesep == "\n" else self._text.replace("\n", linesep)

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n", **kwargs: object) -> bytes:
        return self.as_string(linesep=linesep).encode()

    def __bytes__(self) -> bytes:
        return self.as_bytes()

    def __str__(self) -> str:
        return self.as_string()

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        return next((value for key, value in self._headers if key.lower() == name), default)

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def keys(self) -> list[str]:
        return [key for key, _ in self._headers]

    def items(self) -> list[tuple[str, str]]:
        return list(self._headers)


class DigestEmail(EmailMultiAlternatives):
    """An EmailMultiAlternatives with a text body and at most one HTML alternative, whose
    ``message()`` is written directly (see the module's docstring)."""

    def _list_header(self, name: str, values: list[str]) -> str | None:
        """Django's ``_set_list_header_if_not_empty``: the header passed as exactly ``name`` in
        ``headers`` wins, else the list joined, else no header."""
        if name in self.extra_headers:
            return str(self.extra_headers[name])
        return ", ".join(str(value) for value in values) if values else None

    def message(self) -> PrebuiltMessage:
        if self.attachments or len(self.alternatives) > 1:
            raise ValueError("DigestEmail takes a text body and at most one HTML alternative")
        encoding = self.encoding or settings.DEFAULT_CHARSET
        if encoding.lower().replace("-", "") != "utf8":
            raise ValueError("DigestEmail writes UTF-8 only")
        extra = {name.lower(): (name, value) for name, value in self.extra_headers.items()}
        if "message-id" not in extra:
            raise ValueError("DigestEmail needs a Message-ID header (the ledger records it)")
        shown = [
            ("From", str(self.extra_headers.get("From", self.from_email))),
            ("To", self._list_header("To", self.to)),
            ("Cc", self._list_header("Cc", self.cc)),
            ("Reply-To", self._list_header("Reply-To", self.reply_to)),
            ("Subject", self.subject),
            ("Date", extra.get("date", ("", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)))[1]),
        ]
        # As Django: any spelling of From/To/Cc/Reply-To in headers is shown only as set above.
        shown += [
            (name, str(value))
            for name, value in self.extra_headers.items()
            if name.lower() not in {"from", "to", "cc", "reply-to", "date"}
        ]
        headers = [(name, header_value(name, value, encoding)) for name, value in shown if value is not None]
        headers.append(("MIME-Version", "1.0"))
        lines = [header_line(name, value) for name, value in headers]
        if not self.alternatives:
            part_head, _, body = _part(f"text/{self.content_subtype}", str(self.body)).partition("\n\n")
            headers += [(name, value) for name, _, value in (line.partition(": ") for line in part_head.split("\n"))]
            lines += part_head.split("\n")
        else:
            html, mimetype = self.alternatives[0]
            parts = [_part(f"text/{self.content_subtype}", str(self.body)), _part(mimetype, str(html))]
            boundary = "=_pb_" + secrets.token_hex(16)
            while any(boundary in part for part in parts):  # pragma: no cover - 128 random bits
                boundary = "=_pb_" + secrets.token_hex(16)
            headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
            lines.append(f'Content-Type: multipart/alternative;\n boundary="{boundary}"')  # folded by hand
            # The line break before a boundary belongs to the boundary (RFC 2046 5.1.1).
            body = "".join(f"--{boundary}\n{part}\n" for part in parts) + f"--{boundary}--\n"
        return PrebuiltMessage(headers, "\n".join(lines) + "\n\n" + body)


def email_class() -> type[EmailMultiAlternatives]:
    """The class digests are built with: DigestEmail, or Django's own when DIGEST_FAST_MIME is off."""
    return DigestEmail if settings.DIGEST_FAST_MIME else EmailMultiAlternatives
