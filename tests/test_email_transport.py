"""Where mail goes: the embedded outbox (one .eml per message) or an SMTP server from EMAIL_URL."""

from __future__ import annotations

import email
from email import policy

from django.core import mail

from common.outbox import OutboxEmailBackend
from tests.conftest import clean_env, run_python


def test_outbox_writes_one_eml_file_per_message(tmp_path):
    backend = OutboxEmailBackend(outbox_dir=tmp_path / "outbox")
    messages = [
        mail.EmailMultiAlternatives(f"Digest {n}", f"Text part {n}", "paperboy@example.org", [f"reader{n}@example.org"])
        for n in range(3)
    ]
    messages[0].attach_alternative("<p>HTML part 0</p>", "text/html")

    assert backend.send_messages(messages) == 3

    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3
    parsed = [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]
    assert sorted(message["To"] for message in parsed) == [f"reader{n}@example.org" for n in range(3)]
    first = next(message for message in parsed if message["Subject"] == "Digest 0")
    assert first.get_body(("html",)).get_content().strip() == "<p>HTML part 0</p>"
    assert first.get_body(("plain",)).get_content().strip() == "Text part 0"
    assert not list((tmp_path / "outbox").glob(".*.tmp"))


def test_default_backend_without_environment_is_the_outbox(tmp_path):
    result = run_python(
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.core.mail import send_mail;"
        "send_mail('Hello', 'Body', None, ['someone@example.org'])",
        clean_env(PAPERBOY_VAR_DIR=str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr
    (message_file,) = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(message_file.read_bytes(), policy=policy.default)
    assert message["Subject"] == "Hello"
    assert message["From"] == "Paperboy <paperboy@localhost>"


def test_email_url_sends_through_a_real_smtp_server(tmp_path, smtp_server):
    inbox = smtp_server()
    result = run_python(
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.core.mail import send_mail;"
        "send_mail('Over SMTP', 'Body', 'digest@example.org', ['reader@example.org'])",
        clean_env(EMAIL_URL=f"smtp://127.0.0.1:{inbox.port}", PAPERBOY_VAR_DIR=str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr
    assert len(inbox.received) == 1
    recipients, message = inbox.received[0]
    assert (inbox.senders, recipients) == (["digest@example.org"], ["reader@example.org"])
    assert message["Subject"] == "Over SMTP"
    assert not (tmp_path / "outbox").exists()
