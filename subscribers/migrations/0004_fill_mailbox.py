"""Fill Subscriber.mailbox for the rows already there, settle the rows that turn out to be one
mailbox, and re-hash the suppression entries of the addresses still in the table.

1. Every row gets mailbox_key(email). An address stored before keys existed that the key function
   refuses (``""@example.org``, accepted by Django's validator) keeps its trimmed, lower-cased
   form as its key, so that this migration never fails on old data.
2. Rows whose keys collide (``victim@``, ``"victim"@`` and ``Victim+news@`` all signed up: the
   bug of issue 11, point 9) are one mailbox, and one mailbox must be one subscriber. One row keeps
   the key; the others become ``merged``: no key, no mail, never confirmed again, but kept with
   their history (deliveries, feedback, consent). Which row keeps it is what the new rules would
   have made of the mailbox: a complaint, a bounce or an editor's suppression of any of its forms
   suppresses the mailbox, so a row in that state wins (complained, then bounced, then suppressed
   by an editor); otherwise the most engaged row (active, paused, unsubscribed, pending); within
   one state the oldest row. Nothing is deleted.
3. A suppression entry is now a hash of the mailbox key. For a plain address (lower case, no
   ``+tag``, ASCII domain) that is the hash it already had. The others are re-hashed when their
   address is still in the table (a bounced or complained reader's row stays); when two entries
   become one, the stronger reason is kept. Entries whose address is gone (erased readers, an
   address an editor suppressed by hand) cannot be re-hashed: they keep matching the address in
   the form it had, in any case (models.legacy_email_hash).

Reversing: suppression entries get their old hash back as well (the new one stays, harmless),
merged rows become ``unsubscribed`` (the old code has no merged state; they get no mail either
way), and 0003's reversal drops the key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models import Count
from django.utils import timezone

from subscribers.mailbox import InvalidAddress, mailbox_key

logger = logging.getLogger("subscribers.migrations")
BATCH = 1000
# Who keeps a shared mailbox key, first to last.
STATUS_RANK = {"complained": 0, "bounced": 1, "active": 3, "paused": 4, "unsubscribed": 5, "pending": 6}
EDITOR_SUPPRESSED = 2  # a row whose address is on the list (not "forgotten"), whatever its status
REASON_STRENGTH = {"complained": 0, "bounced": 1, "manual": 2, "forgotten": 3}


def _hash(text: str) -> str:
    return hashlib.sha256(f"paperboy-suppression:{text}".encode()).hexdigest()


def _legacy(email: str) -> str:
    """The address as the suppression list hashed it before keys (models.legacy_email_hash)."""
    value = (email or "").strip()
    local, at, domain = value.rpartition("@")
    return (f"{local}@{domain.lower()}" if at else value).lower()


def _key(email: str) -> str:
    try:
        return mailbox_key(email)
    except InvalidAddress:
        return _legacy(email)


def _batches(rows: Iterator[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Subscriber = apps.get_model("subscribers", "Subscriber")
    Suppression = apps.get_model("subscribers", "Suppression")
    db = schema_editor.connection.alias
    rehash: dict[str, str] = {}  # legacy hash -> mailbox hash, where they differ
    rows = Subscriber.objects.using(db).filter(mailbox__isnull=True).exclude(status="merged").order_by("pk")
    for batch in _batches(rows.only("pk", "email").iterator(chunk_size=BATCH)):
        for subscriber in batch:
            subscriber.mailbox = _key(subscriber.email)
            legacy, new = _hash(_legacy(subscriber.email)), _hash(subscriber.mailbox)
            if legacy != new:
                rehash[legacy] = new
        Subscriber.objects.using(db).bulk_update(batch, ["mailbox"])
    merged = _merge_collisions(Subscriber, Suppression, db)
    moved = _rehash_suppressions(Suppression, db, rehash)
    if merged or moved:
        logger.warning(
            "subscribers 0003: %s rows merged into another row of the same mailbox; %s suppression entries re-hashed",
            merged,
            moved,
        )


def _merge_collisions(Subscriber: Any, Suppression: Any, db: str) -> int:
    shared = (
        Subscriber.objects.using(db)
        .filter(mailbox__isnull=False)
        .values("mailbox")
        .annotate(rows=Count("pk"))
        .filter(rows__gt=1)
        .values_list("mailbox", flat=True)
    )
    merged = 0
    now = timezone.now()
    for key in list(shared):
        group = list(Subscriber.objects.using(db).filter(mailbox=key).order_by("pk"))
        listed = set(
            Suppression.objects.using(db)
            .filter(email_hash__in=[_hash(_legacy(row.email)) for row in group] + [_hash(key)])
            .exclude(reason="forgotten")
            .values_list("email_hash", flat=True)
        )

        _keeper, *others = sorted(group, key=lambda row: _rank(row, listed))
        Subscriber.objects.using(db).filter(pk__in=[row.pk for row in others]).update(
            mailbox=None, status="merged", status_changed_at=now
        )
        merged += len(others)
    return merged


def _rank(row: Any, listed: set[str]) -> tuple[int, int]:
    """Where a row comes in the choice of who keeps a shared key: lower first."""
    status = STATUS_RANK.get(row.status, 7)
    if status > EDITOR_SUPPRESSED and _hash(_legacy(row.email)) in listed:
        status = EDITOR_SUPPRESSED
    return status, row.pk


def _rehash_suppressions(Suppression: Any, db: str, rehash: dict[str, str]) -> int:
    moved = 0
    legacy_hashes = list(rehash)
    for start in range(0, len(legacy_hashes), BATCH):
        chunk = legacy_hashes[start : start + BATCH]
        for entry in Suppression.objects.using(db).filter(email_hash__in=chunk).order_by("pk"):
            new = rehash[entry.email_hash]
            existing = Suppression.objects.using(db).filter(email_hash=new).first()
            if existing is None:
                entry.email_hash = new
                entry.save(update_fields=["email_hash"])
            else:
                if REASON_STRENGTH.get(entry.reason, 9) < REASON_STRENGTH.get(existing.reason, 9):
                    existing.reason = entry.reason
                    existing.save(update_fields=["reason"])
                entry.delete()
            moved += 1
    return moved


def unfill(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Subscriber = apps.get_model("subscribers", "Subscriber")
    Suppression = apps.get_model("subscribers", "Suppression")
    db = schema_editor.connection.alias
    Subscriber.objects.using(db).filter(status="merged").update(status="unsubscribed", status_changed_at=timezone.now())
    for batch in _batches(Subscriber.objects.using(db).only("pk", "email").order_by("pk").iterator(chunk_size=BATCH)):
        for subscriber in batch:
            legacy, new = _hash(_legacy(subscriber.email)), _hash(_key(subscriber.email))
            entry = Suppression.objects.using(db).filter(email_hash=new).first() if legacy != new else None
            if entry is not None and not Suppression.objects.using(db).filter(email_hash=legacy).exists():
                Suppression.objects.using(db).create(email_hash=legacy, reason=entry.reason)


class Migration(migrations.Migration):

    dependencies = [
        ("subscribers", "0003_subscriber_mailbox"),
    ]

    operations = [
        migrations.RunPython(fill, unfill, elidable=False),
    ]
