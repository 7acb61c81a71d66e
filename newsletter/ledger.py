"""The sent ledger: sent rows recorded in batches, each with the Message-ID it was sent with."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from newsletter.models import Delivery

# A digest's Message-ID is PREFIX + delivery id + message_id_tail(claim): unique per delivery and
# per claim (a row sent again after an editor's resend gets a new one). Python and SQL both build it.
MESSAGE_ID_PREFIX = "<d"


def message_id_tail(claim: str) -> str:
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f".{claim or 'preview'}@{domain}>"


def message_id_for(delivery: Delivery) -> str:
    return f"{MESSAGE_ID_PREFIX}{delivery.pk}{message_id_tail(delivery.claim)}"


class SentLedger:
    """Records sent rows in batches: one UPDATE for up to ``max_rows`` messages or ``max_delay``
    seconds of sending, whichever comes first, and at once when a single send is slow (then a
    write costs nothing next to the send). A worker killed hard leaves at most that window's rows
    in 'sending' (they become 'unknown', never re-sent). ``sent_at`` is the time of the write."""

    def __init__(self, *, max_rows: int = 100, max_delay: float = 0.1) -> None:
        self.max_rows, self.max_delay = max_rows, max_delay
        self.rows: list[Delivery] = []
        self.oldest = 0.0

    def sent(self, row: Delivery, *, esp_message_id: str, send_seconds: float) -> None:
        row.esp_message_id = esp_message_id
        if not self.rows:
            self.oldest = time.monotonic()
        self.rows.append(row)
        if (
            len(self.rows) >= self.max_rows
            or send_seconds >= self.max_delay / 2
            or time.monotonic() - self.oldest >= self.max_delay
        ):
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        claim = self.rows[0].claim  # one chunk, one claim
        if db.vendor == "postgresql":
            self._flush_postgresql(claim)
        else:
            self._flush_portable(claim)
        self.rows = []

    def _flush_portable(self, claim: str) -> None:
        ours = Delivery.objects.filter(status=Delivery.Status.SENDING, claim=claim)
        with transaction.atomic():
            with_esp_id = [row for row in self.rows if row.esp_message_id]
            if with_esp_id:
                ours.bulk_update(with_esp_id, ["esp_message_id"])
            ours.filter(pk__in=[row.pk for row in self.rows]).update(
                status=Delivery.Status.SENT,
                sent_at=timezone.now(),
                last_error="",
                message_id=Concat(
                    Value(MESSAGE_ID_PREFIX), Cast("pk", output_field=CharField()), Value(message_id_tail(claim))
                ),
            )

    def _flush_postgresql(self, claim: str) -> None:
        """One UPDATE, ids and ESP message ids as two array parameters (bulk_update writes a CASE per row)."""
        table = db.ops.quote_name(Delivery._meta.db_table)
        sql = f"""
            UPDATE {table} AS d
               SET status = %s, sent_at = %s, last_error = '', esp_message_id = v.esp_id,
                   message_id = %s || d.id || %s
              FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::text[]) AS esp_id) AS v
             WHERE d.id = v.id AND d.status = %s AND d.claim = %s
        """  # noqa: S608 - the table name comes from the model
        params: list[Any] = [
            Delivery.Status.SENT.value,
            timezone.now(),
            MESSAGE_ID_PREFIX,
            message_id_tail(claim),
            [row.pk for row in self.rows],
            [row.esp_message_id for row in self.rows],
            Delivery.Status.SENDING.value,
            claim,
        ]
        with db.cursor() as cursor:
            cursor.execute(sql, params)
