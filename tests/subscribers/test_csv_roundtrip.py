"""A CSV export imports unchanged, however an address or interest begins (issue 11, point 12)."""

from __future__ import annotations

import csv
import io

import pytest

from subscribers.csv_io import export_rows, parse_import
from subscribers.models import Subscriber
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
ADDRESSES = ["=1+2@example.org", "'=x@example.org", "-dash@example.org", "+plus@example.org", "plain@example.org"]


def test_an_export_imports_with_every_address_and_interest_unchanged():
    for address in ADDRESSES:
        SubscriberFactory.create(email=address, interests="=SUM(A1), 'quoted', -negative")
    out = io.StringIO()
    csv.writer(out).writerows(export_rows(Subscriber.objects.order_by("pk")))

    rows, report = parse_import(out.getvalue())

    assert report.invalid == []
    assert [row.email for row in rows] == ADDRESSES
    assert {row.interests for row in rows} == {"=SUM(A1), 'quoted', -negative"}


def test_the_export_never_starts_a_cell_with_a_formula():
    SubscriberFactory.create(email="=1+2@example.org", interests="=HYPERLINK(1)")
    cells = [cell for row in export_rows(Subscriber.objects.all()) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
