"""The daily-entries list as editors use it: a short title linked to the entry (the whole title as
its tooltip), status, pin and note edited in the list, the abstract only on the entry's page."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from papers.models import DailyEntry
from tests.factories import DailyEntryFactory, PaperFactory
from tests.posted import form_data

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:papers_dailyentry_changelist")
LONG_TITLE = "A very long title about " + "sparse mixture-of-experts attention for long contexts, " * 3
ABSTRACT = "We make attention sparse and find it saves memory."


@pytest.fixture
def entry() -> DailyEntry:
    return DailyEntryFactory.create(
        status="pending", note="", paper=PaperFactory.create(title=LONG_TITLE.strip(), abstract=ABSTRACT)
    )


def test_the_list_shows_a_cut_title_with_the_whole_one_as_tooltip_and_no_abstract(admin_client, entry):
    page = BeautifulSoup(admin_client.get(CHANGELIST).text, "html.parser")
    headers = [th.select_one(".text").get_text(strip=True) for th in page.select("#result_list thead th")]
    assert headers[1:] == ["Day", "Title", "ArXiv id", "Upvotes", "Source", "Status", "Pinned", "Editor's note"]

    cell = page.select_one("#result_list td.field-paper_title, #result_list th.field-paper_title")
    link = cell.select_one("a")
    assert link["href"].startswith(reverse("admin:papers_dailyentry_change", args=[entry.pk]))
    shown = link.select_one("span.entry-title")
    assert shown["title"] == LONG_TITLE.strip()
    assert shown.text.endswith("…") and len(shown.text) == 90
    assert ABSTRACT not in page.text

    row = page.select_one("#result_list tbody tr")
    assert row.select_one("select[name=form-0-status]") is not None
    assert row.select_one("input[type=checkbox][name=form-0-pinned]") is not None
    assert row.select_one("textarea[name=form-0-note][rows='2']") is not None


def test_status_pin_and_note_save_from_the_list(admin_client, entry):
    other = DailyEntryFactory.create(status="approved", note="Keep me")
    data = form_data(admin_client.get(CHANGELIST).text, "#changelist-form")
    row = next(n for n in range(2) if data[f"form-{n}-id"] == [str(entry.pk)])
    data.update(
        {f"form-{row}-status": ["hidden"], f"form-{row}-pinned": ["on"], f"form-{row}-note": ["Read this one."]}
    )
    data["_save"] = ["Save"]

    response = admin_client.post(CHANGELIST, data)

    assert response.status_code == 302
    entry.refresh_from_db()
    other.refresh_from_db()
    assert (entry.status, entry.pinned, entry.note) == ("hidden", True, "Read this one.")
    assert (other.status, other.pinned, other.note) == ("approved", False, "Keep me")


def test_the_entry_page_shows_the_abstract_read_only(admin_client, entry):
    url = reverse("admin:papers_dailyentry_change", args=[entry.pk])
    page = BeautifulSoup(admin_client.get(url).text, "html.parser")
    abstract = page.select_one(".field-paper_abstract .entry-abstract")
    assert abstract is not None and abstract.text == ABSTRACT
    assert page.select_one("[name=paper_abstract]") is None  # read-only, not a field

    data = form_data(str(page), "#dailyentry_form")
    data.update(note=["Edited on the page."], _save=["Save"])
    assert admin_client.post(url, data).status_code == 302
    entry.refresh_from_db()
    assert entry.note == "Edited on the page."


def test_filters_and_date_hierarchy_still_narrow_the_list(admin_client, entry):
    DailyEntryFactory.create(day=entry.day.replace(day=1), status="approved", paper__title="Another day")
    pending = admin_client.get(CHANGELIST, {"status__exact": "pending"})
    assert [e.pk for e in pending.context["cl"].result_list] == [entry.pk]
    that_day = admin_client.get(
        CHANGELIST, {"day__year": entry.day.year, "day__month": entry.day.month, "day__day": entry.day.day}
    )
    assert [e.pk for e in that_day.context["cl"].result_list] == [entry.pk]


def test_the_list_takes_as_many_queries_for_many_entries_as_for_one(admin_client, entry):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(CHANGELIST).status_code == 200
        return len(captured)

    one = queries()
    DailyEntryFactory.create_batch(8, note="A note")
    assert queries() == one  # titles and per-row labels come from the one select_related query
