"""The editor's dashboard in headless Chromium: a staff member logs in through the admin's login
form, opens the dashboard from the admin's index and reads it at 390 and 1280 px, light and dark,
with a demo day and 90 days of sample history (``demo_history``, the command ``make demo
HISTORY=90`` runs); screenshots in test-output/browser/admin-dashboard-*.png."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from papers.models import DailyEntry
from tests.conftest import check_layout

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SAMPLES = Path(__file__).resolve().parents[2] / "papers" / "samples"


@pytest.fixture
def page(site_page):
    return site_page


def test_staff_reads_the_dashboard(page):
    # What `make demo HISTORY=90` does: the sample day (its papers approved, as the demo's settings
    # have it), today's digest to the sample readers, then the sample history.
    call_command("ingest", source="hf", file=str(SAMPLES / "hf_daily_papers_sample.json"), verbosity=0)
    DailyEntry.objects.update(status=DailyEntry.Status.APPROVED)
    call_command("demo_day", stdout=io.StringIO())
    call_command("demo_history", days=90, readers=300, stdout=io.StringIO())
    get_user_model().objects.create_superuser("editor", "editor@example.org", "a long editor password")

    page.goto("/admin/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("a long editor password")
    page.get_by_role("button", name="Log in").click()
    check_layout(page, "admin-index", [".dashboard-link a", ".dashboard-link p"])  # the link reads in both schemes
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_selector("h1:text('Dashboard')")

    assert page.locator("svg.chart").count() == 4
    assert page.locator("#editions-heading ~ .scroll tbody tr").count() == 30  # the latest 30 editions
    assert page.locator(".top li").count() > 0
    check_layout(
        page,
        "admin-dashboard",
        ["#content-main h2", ".figures li", ".dashboard td", ".legend li", ".csv a"],
        visible=("svg.chart",),
    )
    page.get_by_text("The numbers").first.click()
    assert page.locator("details.numbers[open] tbody tr").count() == 90
