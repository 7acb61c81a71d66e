"""Every API endpoint against the project's own OpenAPI schema (schemathesis over the WSGI app, with
real papers in the database): documented status codes and content types, bodies that match their
schemas, and no 500 for any input schemathesis makes up, valid or not."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks

from config.wsgi import application
from papers import services
from papers.models import DailyEntry
from tests.factories import DailyEntryFactory

DAY = dt.date(2026, 8, 21)  # the schema's examples name this day, its week and month, and its papers


@pytest.fixture(autouse=True)
def papers(db, api, fixtures_dir):
    services.ingest("hf", day=DAY, path=fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json")
    services.ingest(
        "arxiv", day=DAY, path=fixtures_dir / "arxiv_atom" / "api_2026_idlist_astro-ph_0601001_affiliation_jref.xml"
    )
    DailyEntry.objects.update(status=DailyEntry.Status.APPROVED)
    DailyEntryFactory(day=DAY - dt.timedelta(days=2), paper__arxiv_id="2608.00001", pinned=True, note="A note.")
    DailyEntryFactory(day=DAY, paper__arxiv_id="2608.00002", status="hidden")
    # The WSGI handler closes the database connection after each request, and with it the test's
    # transaction; Django's test client keeps it open the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded when the module is collected: the schema view reads no database. (schemathesis.pytest.from_fixture,
# the lazy loader, fails on pytest 9.2: it sets the item's _nodeid, which pytest no longer has.)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_answers_as_its_schema_says(case):
    query = case.query or {}
    if str(query.get("since", "")) > str(query.get("until", "~")):
        # A date range that ends before it starts is valid for the schema (which cannot relate two
        # parameters) and answered with a 400 that names it; every other check still applies.
        case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
        return
    case.call_and_validate()
