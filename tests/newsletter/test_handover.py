"""The hand-over record that settles a vanished worker's claim (newsletter/handover.py): rows up
to the last one handed over become 'unknown', the rows after it pending again; without a record
(the cache lost it) nobody can tell, and every row is 'unknown' — never a second message."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from newsletter import handover, sending

pytestmark = [pytest.mark.usefixtures("digest_settings"), pytest.mark.django_db]

LATER = dt.timedelta(hours=1)


def claim_and_hand_over(rows, handed: int):
    """A worker claims ``rows``, hands the first ``handed`` over, and vanishes."""
    claimed = sending.claim([row.pk for row in rows])
    record = handover.Handover(claimed[0].claim, [row.pk for row in claimed])
    for row in claimed[:handed]:
        record.before([row])
    return claimed


def test_a_vanished_claim_splits_at_the_last_row_handed_over(planned_edition, statuses):
    _, rows = planned_edition(6)
    claim_and_hand_over(rows, 2)

    assert sending.reap_stale(now=timezone.now() + LATER) == (2, 4)
    stored = statuses(rows)
    assert [stored[row.pk] for row in rows] == ["unknown", "unknown", "pending", "pending", "pending", "pending"]
    again = sending.claim([row.pk for row in rows])
    assert [row.pk for row in again] == [row.pk for row in rows[2:]], "the pending rows can be claimed again"


def test_a_claim_that_handed_nothing_over_goes_back_whole(planned_edition, statuses):
    _, rows = planned_edition(3)
    claim_and_hand_over(rows, 0)

    sending.reap_stale(now=timezone.now() + LATER)
    assert set(statuses(rows).values()) == {"pending"}


def test_without_the_record_every_row_of_the_claim_is_unknown(planned_edition, statuses):
    _, rows = planned_edition(4)
    claimed = claim_and_hand_over(rows, 1)
    cache.delete_many([handover._order_key(claimed[0].claim), handover._position_key(claimed[0].claim)])

    sending.reap_stale(now=timezone.now() + LATER)
    assert set(statuses(rows).values()) == {"unknown"}


def test_a_chunk_that_finished_leaves_no_record(planned_edition, settings, monkeypatch):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    _, rows = planned_edition(3)
    records: list[handover.Handover] = []
    original = handover.Handover.__init__

    def remember(self, claim: str, order: list[int]) -> None:
        original(self, claim, order)
        records.append(self)

    monkeypatch.setattr(handover.Handover, "__init__", remember)
    assert sending.send_chunk([row.pk for row in rows]).sent == 3
    (record,) = records
    assert cache.get(handover._order_key(record.claim)) is None
