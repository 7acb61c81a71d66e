"""Django's SMTP backend, pipelined (RFC 2920) when the server offers PIPELINING.

smtplib waits for each reply: MAIL FROM, RCPT TO, DATA and the message are four round trips.
Pipelined, the envelope and DATA go out in one write and the message in a second: two round
trips, and the caller renders the next message while the server takes this one (send_deferred;
the gain is in BENCHMARKS.md). Replies are still read and checked one by one, and errors raise
exactly what smtplib would raise (SMTPSenderRefused, SMTPRecipientsRefused, SMTPDataError), so
callers cannot tell the difference. Servers without PIPELINING, non-ASCII addresses (SMTPUTF8)
and EMAIL_SMTP_PIPELINING=false take Django's path.

EMAIL_URL=smtp://... selects this backend (config/settings.py).
"""

from __future__ import annotations

import functools
import re
import smtplib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends import smtp

from newsletter.mime import PLAIN_ADDRESS, address

_LEADING_DOT = re.compile(rb"(?m)^\.")


@functools.lru_cache(maxsize=256)
def _quoted(address: str) -> str:
    """smtplib's ``quoteaddr``, skipped for a bare address (it parses the whole address)."""
    return f"<{address}>" if PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def start_pipelined(
    connection: smtplib.SMTP, sender: str, recipients: list[str], data: bytes
) -> dict[str, tuple[int, bytes]]:
    """Everything of a pipelined send up to the server's final reply: envelope and DATA in one
    write, their replies checked, then the message. ``finish_pipelined`` reads the final reply."""
    connection.ehlo_or_helo_if_needed()
    options = f" SIZE={len(data)}" if connection.has_extn("size") else ""
    commands = [f"MAIL FROM:{_quoted(sender)}{options}"]
    commands += [f"RCPT TO:{_quoted(recipient)}" for recipient in recipients]
    connection.send("".join(f"{command}\r\n" for command in [*commands, "DATA"]))

    mail_code, mail_reply = connection.getreply()
    refused = {}
    for recipient in recipients:
        code, reply = connection.getreply()
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    data_code, data_reply = connection.getreply()

    envelope_ok = mail_code == 250 and len(refused) < len(recipients)
    if data_code == 354 and not envelope_ok:
        # The server took DATA although the envelope failed: end an empty message (RFC 2920 3.1).
        connection.send(b".\r\n")
        connection.getreply()
    closing = 421 in (mail_code, data_code, *(code for code, _ in refused.values()))
    if not envelope_ok or data_code != 354:
        if closing:
            connection.close()
        else:
            connection.rset()
        if mail_code != 250:
            raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        raise smtplib.SMTPDataError(data_code, data_reply)

    payload = _LEADING_DOT.sub(b"..", data) if data.startswith(b".") or b"\n." in data else data
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    connection.send(payload + b".\r\n")
    return refused


def finish_pipelined(connection: smtplib.SMTP) -> None:
    """The server's final reply to a message ``start_pipelined`` sent: 250, or smtplib's error."""
    code, reply = connection.getreply()
    if code != 250:
        if code == 421:
            connection.close()
        else:
            connection.rset()
        raise smtplib.SMTPDataError(code, reply)


class EmailBackend(smtp.EmailBackend):
    def __init__(self, *args: Any, pipelining: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipelining = settings.EMAIL_SMTP_PIPELINING if pipelining is None else pipelining

    def _smtp(self) -> smtplib.SMTP:
        assert self.connection is not None, "the connection must be open"
        return self.connection

    def _pipelined_envelope(self, email_message: EmailMessage) -> tuple[str, list[str]] | None:
        """(sender, recipients) when the message can go pipelined: pipelining is on, the server
        offers PIPELINING and every address is ASCII (SMTPUTF8 negotiation is left to smtplib)."""
        if not self.pipelining:
            return None
        self._smtp().ehlo_or_helo_if_needed()
        if not self._smtp().has_extn("pipelining"):
            return None
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        sender = address(email_message.from_email, encoding)
        recipients = [address(recipient, encoding) for recipient in email_message.recipients()]
        return (sender, recipients) if all(value.isascii() for value in [sender, *recipients]) else None

    def send_deferred(self, email_message: EmailMessage) -> Callable[[], None] | None:
        """Send ``email_message`` up to the server's final reply and return the function that
        reads that reply (raising what ``send_messages`` would), so the caller can prepare the
        next message meanwhile. None when this connection cannot: use ``send_messages``. The
        connection must be open, and the returned function called before the next send."""
        envelope = self._pipelined_envelope(email_message)
        if envelope is None:
            return None
        connection = self._smtp()
        start_pipelined(connection, *envelope, email_message.message().as_bytes(linesep="\r\n"))
        return lambda: finish_pipelined(connection)

    def _django_send(self, email_message: EmailMessage) -> bool:
        sent: bool = super()._send(email_message)  # type: ignore[misc]
        return sent

    def _send(self, email_message: EmailMessage) -> bool:
        """Django's per-message step of send_messages (under its lock, connection open); not in django-stubs."""
        if not self.pipelining:
            return self._django_send(email_message)
        if not email_message.recipients():
            return False
        try:
            read_reply = self.send_deferred(email_message)
            if read_reply is None:
                return self._django_send(email_message)
            read_reply()
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True
