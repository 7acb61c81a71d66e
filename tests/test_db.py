"""common.db.insert_rows: COPY on PostgreSQL (bulk_create elsewhere) gives the rows Django would."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from common.db import insert_rows
from subscribers.models import Subscriber

pytestmark = pytest.mark.django_db
NAMES = ("email", "public_id", "link_key", "status", "interests", "categories")


def row(n: int, **over) -> tuple:
    values = {
        "email": f"r{n}@example.org",
        "public_id": uuid.uuid4(),
        "link_key": f"key{n}",
        "status": "active",
        "interests": f"topic {n}",
        "categories": ["cs.LG"] if n % 2 else [],
    }
    return tuple({**values, **over}[name] for name in NAMES)


def test_rows_get_the_values_given_and_every_default():
    before = timezone.now()
    insert_rows(Subscriber, NAMES, [row(1), row(2)])

    stored = {s.email: s for s in Subscriber.objects.all()}
    fresh = Subscriber()
    assert stored["r1@example.org"].categories == ["cs.LG"] and stored["r2@example.org"].categories == []
    for subscriber in stored.values():
        assert subscriber.followed_authors == [] and subscriber.frequency == fresh.frequency
        assert subscriber.send_hour == fresh.send_hour and subscriber.papers_per_digest == fresh.papers_per_digest
        assert before <= subscriber.created_at <= timezone.now()
        assert before <= subscriber.status_changed_at <= timezone.now()


def test_conflicts_are_skipped_only_when_asked():
    insert_rows(Subscriber, NAMES, [row(1)])

    insert_rows(Subscriber, NAMES, [row(1, email="R1@example.org"), row(3)], skip_conflicts=True)
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == ["r1@example.org", "r3@example.org"]
    with pytest.raises(IntegrityError):
        insert_rows(Subscriber, NAMES, [row(1)])


def test_a_default_computed_per_row_is_computed_per_row():
    names = ("email", "status")  # public_id (uuid4) and link_key (random) left to their defaults
    insert_rows(Subscriber, names, [("a@example.org", "active"), ("b@example.org", "active")])

    keys = list(Subscriber.objects.values_list("public_id", "link_key"))
    assert len({public_id for public_id, _ in keys}) == 2 and len({key for _, key in keys}) == 2


def test_the_rows_inserted_are_returned_when_asked():
    insert_rows(Subscriber, NAMES, [row(1)])

    inserted = insert_rows(Subscriber, NAMES, [row(1), row(2), row(3)], skip_conflicts=True, returning=("id", "email"))

    if connection.vendor != "postgresql":
        assert inserted is None, "bulk_create does not say which rows it skipped"
        return
    stored = dict(Subscriber.objects.values_list("email", "id"))
    assert sorted(inserted) == sorted((stored[email], email) for email in ("r2@example.org", "r3@example.org"))
    assert insert_rows(Subscriber, NAMES, [], returning=("id",)) == []


def test_json_values_are_stored_as_the_json_they_are():
    """Lists, tuples (as lists), nesting, quotes, backslashes and non-ASCII text, through COPY's text."""
    from newsletter.models import Delivery, Edition

    edition = Edition.objects.create(kind="daily", period_start="2026-01-01", period_end="2026-01-01")
    insert_rows(Subscriber, NAMES, [row(1, categories=["cs.LG", 'say "hi"\\ — ü'])])
    subscriber = Subscriber.objects.get()
    reasons = [('author:Zoë "Z" O\'Neil', "topic:graphs"), ("trending",)]
    names = ("edition_id", "kind", "subscriber_id", "local_date", "paper_ids", "reasons")
    insert_rows(Delivery, names, [(edition.pk, "daily", subscriber.pk, "2026-01-01", [3, 1], reasons)])

    assert subscriber.categories == ["cs.LG", 'say "hi"\\ — ü']
    delivery = Delivery.objects.get()
    assert delivery.paper_ids == [3, 1]
    assert delivery.reasons == [['author:Zoë "Z" O\'Neil', "topic:graphs"], ["trending"]]
