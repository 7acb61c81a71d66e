"""The pipelined SMTP backend against a real SMTP server (aiosmtpd) that offers PIPELINING:
the envelope and DATA go out in one write, the message in a second; every reply is still
checked, and errors are smtplib's own."""

from __future__ import annotations

import email
import smtplib
from email import policy

import pytest
from aiosmtpd.controller import Controller

from newsletter.mime import DigestEmail
from newsletter.smtp import EmailBackend
from tests.conftest import free_port

HEADERS = {"Message-ID": "<d1.test@paperboy.example>"}


class Server:
    """Accepts everything except: ``refuse`` addresses at RCPT (with ``refuse_code``), a sender
    in ``bad_senders`` at MAIL, and any message while ``reject_data`` is set."""

    def __init__(self, *, pipelining: bool = True) -> None:
        self.pipelining = pipelining
        self.refuse: set[str] = set()
        self.refuse_code = 550
        self.bad_senders: set[str] = set()
        self.reject_data = False
        self.data_reply: dict[str, str] = {}  # recipient -> reply to their message's content
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address in self.bad_senders:
            return "550 5.7.1 Sender refused"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"{self.refuse_code} {self.refuse_code // 100}.1.1 Recipient refused"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.reject_data:
            return "554 5.6.0 Message content rejected"
        for recipient in envelope.rcpt_tos:
            if recipient in self.data_reply:
                return self.data_reply[recipient]
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Accepted"


@pytest.fixture
def server():
    servers = []

    def start(**options) -> tuple[Server, EmailBackend, list[bytes]]:
        handler = Server(**options)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        servers.append(controller)
        backend = EmailBackend(host="127.0.0.1", port=controller.port, timeout=5, fail_silently=False)
        backend.open()
        connection = backend.connection
        assert connection is not None
        connection.ehlo()  # before the spy: only what a message costs is counted
        writes: list[bytes] = []
        real_send = connection.send

        def counting_send(data):
            writes.append(data if isinstance(data, bytes) else data.encode())
            return real_send(data)

        connection.send = counting_send  # type: ignore[method-assign]  # a spy on what goes on the wire
        return handler, backend, writes

    yield start
    for controller in servers:
        controller.stop()


def digest(to: str = "reader@example.org", text: str = "Hello\n") -> DigestEmail:
    message = DigestEmail("Today's papers", text, "Paperboy <digest@paperboy.example>", [to], headers=HEADERS)
    message.attach_alternative("<p>Hello</p>", "text/html")
    return message


def test_a_message_goes_out_in_two_writes_and_arrives_intact(server):
    handler, backend, writes = server()
    message = digest(text="Line one\n.hidden line that starts with a dot\n..two dots\n")

    assert backend.send_messages([message]) == 1

    assert len(writes) == 2  # MAIL + RCPT + DATA together, then the message
    assert writes[0].count(b"\r\n") == 3 and writes[0].startswith(b"MAIL FROM:<digest@paperboy.example>")
    (sender, recipients, content) = handler.received[0]
    assert (sender, recipients) == ("digest@paperboy.example", ["reader@example.org"])
    parsed = email.message_from_bytes(content, policy=policy.default)
    assert parsed["Message-ID"] == HEADERS["Message-ID"]
    text = parsed.get_body(("plain",)).get_content()
    assert text.replace("\r\n", "\n") == "Line one\n.hidden line that starts with a dot\n..two dots\n"
    backend.close()


def test_many_messages_on_one_connection(server):
    handler, backend, writes = server()
    messages = [digest(to=f"reader{n}@example.org") for n in range(20)]

    assert backend.send_messages(messages) == 20

    assert [recipients for _, recipients, _ in handler.received] == [[f"reader{n}@example.org"] for n in range(20)]
    assert len(writes) == 40
    backend.close()


@pytest.mark.parametrize("code", [550, 450])
def test_a_refused_recipient_raises_like_smtplib_and_the_connection_goes_on(server, code):
    handler, backend, _ = server()
    handler.refuse, handler.refuse_code = {"gone@example.org"}, code

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        backend.send_messages([digest(to="gone@example.org")])
    assert refused.value.recipients["gone@example.org"][0] == code

    assert backend.send_messages([digest(to="next@example.org")]) == 1
    assert [recipients for _, recipients, _ in handler.received] == [["next@example.org"]]
    backend.close()


def test_a_refused_sender_raises_sender_refused(server):
    handler, backend, _ = server()
    handler.bad_senders = {"digest@paperboy.example"}

    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        backend.send_messages([digest()])
    assert refused.value.smtp_code == 550
    assert handler.received == []
    handler.bad_senders = set()
    assert backend.send_messages([digest()]) == 1
    backend.close()


def test_rejected_content_raises_data_error(server):
    handler, backend, _ = server()
    handler.reject_data = True

    with pytest.raises(smtplib.SMTPDataError) as rejected:
        backend.send_messages([digest()])
    assert rejected.value.smtp_code == 554
    handler.reject_data = False
    assert backend.send_messages([digest(to="after@example.org")]) == 1
    assert [recipients for _, recipients, _ in handler.received] == [["after@example.org"]]
    backend.close()


def test_fail_silently_counts_nothing_instead_of_raising(server):
    handler, backend, _ = server()
    handler.refuse = {"gone@example.org"}
    backend.fail_silently = True

    assert backend.send_messages([digest(to="gone@example.org"), digest(to="ok@example.org")]) == 1
    backend.close()


def test_a_server_without_pipelining_gets_one_command_at_a_time(server):
    handler, backend, writes = server(pipelining=False)

    assert backend.send_messages([digest()]) == 1

    assert len(writes) == 4  # MAIL, RCPT, DATA, message: smtplib's own path
    assert len(handler.received) == 1
    backend.close()


def test_a_deferred_send_leaves_the_final_reply_to_be_read_later(server):
    handler, backend, writes = server()

    finish = backend.send_deferred(digest(to="first@example.org"))

    assert finish is not None and len(writes) == 2  # envelope + DATA, then the message: nothing waits yet
    finish()  # reads the 250
    assert [recipients for _, recipients, _ in handler.received] == [["first@example.org"]]
    handler.data_reply["second@example.org"] = "554 5.7.1 Rejected"
    finish = backend.send_deferred(digest(to="second@example.org"))
    with pytest.raises(smtplib.SMTPDataError):
        finish()
    backend.send_deferred(digest(to="third@example.org"))()  # the connection goes on
    assert [recipients for _, recipients, _ in handler.received] == [["first@example.org"], ["third@example.org"]]
    backend.close()


def test_without_pipelining_nothing_is_deferred(server):
    _, backend, writes = server(pipelining=False)

    assert backend.send_deferred(digest()) is None
    assert writes == []
    backend.close()


def test_with_pipelining_off_the_backend_is_django_s_even_if_the_server_offers_it(server, settings):
    settings.EMAIL_SMTP_PIPELINING = False
    handler, backend, writes = server()

    assert backend.send_deferred(digest()) is None and writes == []
    assert backend.send_messages([digest()]) == 1

    assert len(writes) == 4  # MAIL, RCPT, DATA, message: smtplib's own path
    handler.refuse = {"gone@example.org"}
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        backend.send_messages([digest(to="gone@example.org")])
    assert len(handler.received) == 1
    backend.close()


def test_the_setting_is_a_default_a_backend_may_override(settings):
    settings.EMAIL_SMTP_PIPELINING = True
    assert EmailBackend().pipelining is True and EmailBackend(pipelining=False).pipelining is False
    settings.EMAIL_SMTP_PIPELINING = False
    assert EmailBackend().pipelining is False and EmailBackend(pipelining=True).pipelining is True


@pytest.mark.django_db
def test_a_chunk_reads_each_final_reply_before_the_next_send_and_records_by_it(settings, planned_edition, statuses):
    """send_chunk renders the next digest while the server takes the previous one; a rejection
    fails that row only, a temporary refusal hands it and every later row back, unsent."""
    from newsletter import sending

    handler = Server()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings.EMAIL_BACKEND = "newsletter.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", controller.port, 5
        settings.DIGEST_SEND_RATE = 0
        _, rows = planned_edition(5)
        email = [row.subscriber.email for row in rows]
        handler.data_reply[email[1]] = "554 5.7.1 Message rejected"
        handler.data_reply[email[3]] = "451 4.3.0 Try again later"

        outcome = sending.send_chunk([row.pk for row in rows])
    finally:
        controller.stop()

    assert (outcome.sent, outcome.failed, outcome.retry_ids) == (2, 1, [rows[3].pk, rows[4].pk])
    assert [recipients for _, recipients, _ in handler.received] == [[email[0]], [email[2]]]
    stored = statuses(rows)
    assert [stored[row.pk] for row in rows] == ["sent", "failed", "sent", "pending", "pending"]
