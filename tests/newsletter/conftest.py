"""Fixtures of the newsletter tests: digest settings, and an edition planned for N readers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.utils import timezone

from newsletter import planning
from newsletter.models import Delivery, Edition
from newsletter.services import edition_publish
from tests.factories import DailyEntryFactory, SubscriberFactory

DAY = dt.date(2026, 1, 6)
SITE_URL = "https://paperboy.example"
LIST_ID = "Paperboy daily digest <daily.digest.paperboy.example>"
UNSUBSCRIBE_HEADER = re.compile(r"<https://paperboy\.example(/unsubscribe/([^/<>]+)/)>")

PlannedEdition = Callable[..., tuple[Edition, list[Delivery]]]


@pytest.fixture
def digest_settings(settings) -> None:
    """A known site and sending limits out of the way."""
    settings.SITE_URL = SITE_URL
    settings.SITE_NAME = "Paperboy"
    settings.DIGEST_SEND_RATE = 0
    settings.DIGEST_MAX_ATTEMPTS = 5
    settings.DIGEST_PAUSE_AFTER_ERRORS = 50
    settings.DIGEST_SENDING_TIMEOUT_MINUTES = 30


@pytest.fixture
def planned_edition() -> PlannedEdition:
    """``planned_edition(readers, papers=4, **subscriber_fields)``: ``papers`` approved papers on DAY,
    ``readers`` active daily subscribers, the daily edition published and planned for all of them:
    one pending Delivery row each (in pk order)."""

    def plan(readers: int, *, papers: int = 4, **subscriber_fields) -> tuple[Edition, list[Delivery]]:
        DailyEntryFactory.create_batch(papers, day=DAY)
        confirmed = timezone.now() - dt.timedelta(days=3)
        SubscriberFactory.create_batch(readers, status="active", confirmed_at=confirmed, **subscriber_fields)
        edition = edition_publish(kind="daily", day=DAY)
        assert edition is not None and len(edition.paper_ids) == papers
        assert planning.plan_deliveries(edition, planning.all_readers(edition)) == readers
        rows = list(Delivery.objects.filter(edition=edition).select_related("subscriber").order_by("pk"))
        assert [row.status for row in rows] == ["pending"] * readers
        return edition, rows

    return plan


@pytest.fixture
def statuses() -> Callable[[list[Delivery]], dict[int, str]]:
    """``statuses(rows)``: each row's stored status, by pk."""

    def read(rows: list[Delivery]) -> dict[int, str]:
        return dict(Delivery.objects.filter(pk__in=[row.pk for row in rows]).values_list("pk", "status"))

    return read
