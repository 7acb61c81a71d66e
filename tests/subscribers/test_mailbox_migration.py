"""Migration 0003 on a table that already holds several forms of one mailbox: it never fails, one
row keeps the key, the others are merged (kept, never mailed), and suppression entries of the
addresses still there are re-hashed to their mailbox."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("subscribers", "0003_subscriber_mailbox")]


def old_hash(address: str) -> str:
    """How suppression entries were hashed before mailbox keys."""
    local, _, domain = address.strip().rpartition("@")
    return hashlib.sha256(f"paperboy-suppression:{local}@{domain.lower()}".lower().encode()).hexdigest()


@pytest.fixture
def old_apps():
    """The schema as it was before the keys were filled; the latest again afterwards."""
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    executor = MigrationExecutor(connection)
    executor.migrate(latest)


def migrate_forward() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_colliding_rows_are_merged_into_one_and_nothing_is_lost(old_apps):
    Subscriber = old_apps.get_model("subscribers", "Subscriber")
    Suppression = old_apps.get_model("subscribers", "Suppression")

    def add(email: str, status: str):
        # A placeholder, taken off below: rows from before the migration have no key at all.
        return Subscriber.objects.create(email=email, status=status, mailbox=f"placeholder {email}")

    # One mailbox in three forms, confirmed twice: two digests a day before the fix.
    plain = add("victim@example.org", "active")
    quoted = add('"victim"@example.org', "active")
    tagged = add("victim+news@example.org", "pending")
    # Another mailbox whose tagged form complained: the complaint wins the mailbox.
    loud = add("loud@example.org", "active")
    complained = add("Loud+x@example.org", "complained")
    Suppression.objects.create(email_hash=old_hash("Loud+x@example.org"), reason="complained")
    # Two forms of an internationalised domain.
    unicode_domain = add("user@bücher.example", "unsubscribed")
    punycode = add("user@xn--bcher-kva.example", "paused")
    # Stored before keys existed, but names no mailbox: keeps its lower-cased form, no failure.
    odd = add('""@example.org', "pending")
    single = add("Single+tag@Example.org", "active")
    # Entries whose addresses are gone (erased) keep their old hash.
    Suppression.objects.create(email_hash=old_hash("gone+x@example.org"), reason="forgotten")
    Subscriber.objects.update(mailbox=None)

    migrate_forward()

    from subscribers.models import Subscriber as Live
    from subscribers.models import Suppression as LiveSuppression
    from subscribers.models import email_hash

    def state(row):
        live = Live.objects.get(pk=row.pk)
        return live.status, live.mailbox

    assert state(plain) == ("active", "victim@example.org"), "the oldest active row keeps the mailbox"
    assert state(quoted) == ("merged", None)
    assert state(tagged) == ("merged", None)
    assert state(complained) == ("complained", "loud@example.org")
    assert state(loud) == ("merged", None)
    assert state(punycode) == ("paused", "user@xn--bcher-kva.example")
    assert state(unicode_domain) == ("merged", None)
    assert state(odd) == ("pending", '""@example.org')
    assert state(single) == ("active", "single@example.org")
    assert Live.objects.count() == 9, "no row is deleted"
    assert set(Live.objects.receiving().values_list("mailbox", flat=True)) == {
        "victim@example.org",
        "single@example.org",
    }

    hashes = dict(LiveSuppression.objects.values_list("email_hash", "reason"))
    assert hashes == {email_hash("loud@example.org"): "complained", old_hash("gone+x@example.org"): "forgotten"}
    assert LiveSuppression.lookup("LOUD+other@example.org").reason == "complained"
    assert LiveSuppression.lookup("Gone+X@example.org").reason == "forgotten"


def test_the_migrations_reverse(old_apps):
    """Back to 0001: merged rows become unsubscribed (the old code has no merged state, and they
    get no mail either way); suppression entries get their old hash back."""
    Subscriber = old_apps.get_model("subscribers", "Subscriber")
    Suppression = old_apps.get_model("subscribers", "Suppression")
    Subscriber.objects.create(email="victim@example.org", status="active", mailbox="placeholder 1")
    Subscriber.objects.create(email="Victim+x@example.org", status="bounced", mailbox="placeholder 2")
    Suppression.objects.create(email_hash=old_hash("Victim+x@example.org"), reason="bounced")
    Subscriber.objects.update(mailbox=None)
    migrate_forward()

    executor = MigrationExecutor(connection)
    executor.migrate([("subscribers", "0001_initial")])
    first = MigrationExecutor(connection).loader.project_state([("subscribers", "0001_initial")]).apps
    statuses = dict(first.get_model("subscribers", "Subscriber").objects.values_list("email", "status"))
    assert statuses == {"victim@example.org": "unsubscribed", "Victim+x@example.org": "bounced"}
    hashes = set(first.get_model("subscribers", "Suppression").objects.values_list("email_hash", flat=True))
    assert old_hash("Victim+x@example.org") in hashes
