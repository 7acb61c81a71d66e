"""An email backend for embedded runs: every message becomes one .eml file in OUTBOX_DIR.

Open them with any mail client, or read them in tests. Nothing leaves the machine."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class OutboxEmailBackend(BaseEmailBackend):
    def __init__(self, *, outbox_dir: str | Path | None = None, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.outbox_dir = Path(outbox_dir or settings.OUTBOX_DIR)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
            name = f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            temporary = self.outbox_dir / f".{name}.tmp"
            try:
                temporary.write_bytes(message.message().as_bytes(linesep="\r\n"))
                temporary.rename(self.outbox_dir / name)  # readers never see a half-written file
            except OSError:
                temporary.unlink(missing_ok=True)
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent
