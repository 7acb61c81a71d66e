"""One mailbox, one key: when two address strings reach the same inbox, Paperboy treats them as one
reader (one daily cap on confirmation emails, one rate limit, one subscriber row, one suppression).

``mailbox_key(address)`` is the address's identity:

- the local part is read as RFC 5322 reads it (``email.headerregistry``): a quoted string is
  unquoted and its backslash escapes undone, so ``"victim"`` and ``"\\v\\ictim"`` are ``victim``;
- it is Unicode-normalised (NFC) and lower-cased: RFC 5321 lets a server tell ``Victim`` from
  ``victim``, but no real mailbox provider does;
- a ``+tag`` subaddress (RFC 5233) is cut off: ``victim+news`` is ``victim``. A local part that
  starts with ``+`` is kept whole (there is nothing before the tag);
- the domain is IDNA-encoded to ASCII (UTS 46 / IDNA 2008 with the ``idna`` package, IDNA 2003 for
  the few names only it allows, as Django's own validator does), lower-cased, without a trailing
  dot: ``bücher.example`` is ``xn--bcher-kva.example``. A domain literal (``[192.0.2.1]``) is
  only lower-cased.

Not folded, because only some providers do it and elsewhere it would merge two people: dots in the
local part (Gmail ignores them), other subaddress separators (``-`` at some hosts).

The key decides identity only. Mail goes to the address as the reader typed it (with its domain
lower-cased, ``models.normalize_email``). Changing this function changes who is who: it needs a
data migration that recomputes ``Subscriber.mailbox`` (see migrations 0003) and a thought for the
suppression hashes, which are hashes of keys.
"""

from __future__ import annotations

import email.errors
import re
import unicodedata
from email.headerregistry import Address

import idna

KEY_MAX_LENGTH = 512  # a 254-character address whose short Unicode domain grows in Punycode

# The common case, for speed: an unquoted ASCII local part and an ASCII host name.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)")


class InvalidAddress(ValueError):
    """Not an address that names a mailbox."""


def mailbox_key(address: str) -> str:
    """The canonical key of the mailbox this address reaches; ``InvalidAddress`` if it names none."""
    address = address.strip()
    plain = _PLAIN.fullmatch(address)
    if plain:
        local, domain = plain["local"], plain["domain"].rstrip(".").lower()
    else:
        local, domain = _parse(address)
    local = unicodedata.normalize("NFC", local).lower()
    base, plus, _tag = local.partition("+")
    if plus and base:
        local = base
    key = f"{local}@{domain}"
    if len(key) > KEY_MAX_LENGTH:
        raise InvalidAddress("the address is too long")
    return key


def mailbox_key_or_lower(address: str) -> str:
    """The mailbox key, or for a string that names no mailbox the string trimmed and lower-cased
    (what matched before there were keys): for looking up something an outside party sent."""
    try:
        return mailbox_key(address)
    except InvalidAddress:
        local, at, domain = address.strip().rpartition("@")
        return f"{local}@{domain}".lower() if at else address.strip().lower()


def same_mailbox(left: str, right: str) -> bool:
    return mailbox_key_or_lower(left) == mailbox_key_or_lower(right)


def _parse(address: str) -> tuple[str, str]:
    """(unquoted local part, ASCII domain) of an address the fast path does not cover."""
    if "\r" in address or "\n" in address:
        raise InvalidAddress("an address has no line breaks")
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError, email.errors.MessageError) as exc:  # the parser's defects are ValueErrors
        raise InvalidAddress(f"not an address: {exc}") from None
    local, domain = parsed.username, parsed.domain
    if not local or not domain:
        raise InvalidAddress("an address needs a mailbox name and a domain")
    if domain.startswith("["):
        return local, domain.lower()
    return local, _ascii_domain(domain.rstrip("."))


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        pass
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress("the domain is not a valid internationalised domain name") from None
