"""common.db.insert_rows: COPY on PostgreSQL (bulk_create elsewhere) gives the rows Django would."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError
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
