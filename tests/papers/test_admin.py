"""Curation in Django admin: bulk actions, inline edits, overrides, the two import forms, read-only runs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from papers.models import DailyEntry, IngestRun, Paper
from tests.factories import DailyEntryFactory, PaperFactory
from tests.papers.conftest import paper_change_data

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:papers_dailyentry_changelist")


def test_changelist_searches_and_filters(admin_client):
    DailyEntryFactory(paper=PaperFactory(title="Diffusion for proteins", author_names=["Rosalind Franklin"]))
    DailyEntryFactory(paper=PaperFactory(title="Attention again"), status="hidden")

    by_author = admin_client.get(CHANGELIST, {"q": "Franklin"})
    assert by_author.status_code == 200
    assert "Diffusion for proteins" in by_author.text and "Attention again" not in by_author.text

    hidden = admin_client.get(CHANGELIST, {"status__exact": "hidden"})
    assert "Attention again" in hidden.text and "Diffusion for proteins" not in hidden.text
    assert "Add by arXiv id" in hidden.text and "Import text dump" in hidden.text


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("approve", {"status": "approved"}),
        ("hide", {"status": "hidden"}),
        ("pin", {"pinned": True}),
        ("unpin", {"pinned": False}),
    ],
)
def test_bulk_actions(admin_client, action, expected):
    chosen = [DailyEntryFactory(status="pending", pinned=action == "unpin") for _ in range(2)]
    untouched = DailyEntryFactory(status="pending", pinned=action == "unpin")

    response = admin_client.post(CHANGELIST, {"action": action, "_selected_action": [entry.pk for entry in chosen]})

    assert response.status_code == 302
    for entry in chosen:
        entry.refresh_from_db()
        assert {name: getattr(entry, name) for name in expected} == expected
    untouched.refresh_from_db()
    assert (untouched.status, untouched.pinned) == ("pending", action == "unpin")


def test_list_editable_status_and_pin(admin_client):
    entry = DailyEntryFactory(status="pending")
    response = admin_client.post(
        CHANGELIST,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(entry.pk),
            "form-0-status": "hidden",
            "form-0-pinned": "on",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.status, entry.pinned) == ("hidden", True)


def test_editor_note_and_edits_mark_overrides(admin_client):
    paper = PaperFactory(title="Original title", upvotes=3)
    url = reverse("admin:papers_paper_change", args=[paper.pk])
    form = admin_client.get(url).context["adminform"].form
    data = paper_change_data(form, title="Edited title")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    paper.refresh_from_db()
    assert paper.title == "Edited title"
    assert paper.overridden_fields == ["title"]
    assert "title" in admin_client.get(reverse("admin:papers_paper_changelist")).text


def arxiv_answers(settings, http_server, fixtures_dir) -> None:
    settings.ARXIV_API_URL = http_server.url + "/api"
    settings.ARXIV_REQUEST_INTERVAL = 0
    http_server.route("/api/query", (fixtures_dir / "arxiv_atom" / "api_2026_idlist_1707.08567.xml").read_bytes())


def test_add_by_arxiv_id_runs_in_the_background(
    admin_client, settings, http_server, fixtures_dir, django_capture_on_commit_callbacks
):
    arxiv_answers(settings, http_server, fixtures_dir)
    settings.PAPERBOY_NEW_ENTRY_STATUS = "pending"

    with django_capture_on_commit_callbacks() as started:
        response = admin_client.post(
            reverse("admin:papers_dailyentry_add_by_id"),
            {"ids": "https://arxiv.org/abs/1707.08567v1", "day": "2026-03-02"},
        )

    run = IngestRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:papers_ingestrun_change", args=[run.pk])
    assert http_server.requests == [], "the request itself fetches nothing: a worker does"
    assert run.status == "running" and len(started) == 1
    page = admin_client.get(response["Location"]).text
    assert '<meta http-equiv="refresh" content="2">' in page and "Fetching and reading the source" in page

    started[0]()  # the worker's turn (the task runs inline in tests)

    assert "id_list=1707.08567" in http_server.requests[0]
    entry = DailyEntry.objects.get(paper__arxiv_id="1707.08567")
    assert (entry.day, entry.status, entry.source) == (dt.date(2026, 3, 2), "approved", "editor")
    run.refresh_from_db()
    assert (run.status, run.created, run.progress_done, run.progress_total) == ("succeeded", 1, 1, 1)
    page = admin_client.get(response["Location"]).text
    assert 'http-equiv="refresh"' not in page and "1 created" in page


def test_add_by_arxiv_id_reports_every_value_it_drops(
    admin_client, settings, http_server, fixtures_dir, django_capture_on_commit_callbacks
):
    arxiv_answers(settings, http_server, fixtures_dir)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:papers_dailyentry_add_by_id"),
            {"ids": "1707.08567, not-an-id 2401.99999", "day": "2026-03-02"},
        )

    run = IngestRun.objects.get()
    assert (run.status, run.created, run.skipped) == ("partial", 1, 2)
    page = admin_client.get(response["Location"]).text
    assert "&#x27;not-an-id&#x27;: not an arXiv id" in page
    assert "2401.99999: not returned by the arXiv API" in page


def test_add_by_arxiv_id_offline_fails_the_run_with_its_reason(
    admin_client, settings, django_capture_on_commit_callbacks
):
    settings.ARXIV_API_URL = "http://127.0.0.1:9/api"  # nothing listens on the discard port
    settings.ARXIV_REQUEST_INTERVAL = 0
    settings.PAPERBOY_HTTP_RETRIES = 0

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:papers_dailyentry_add_by_id"), {"ids": "1707.08567 not-an-id", "day": "2026-03-02"}
        )

    run = IngestRun.objects.get()
    assert run.status == "failed"
    reason, *dropped = run.errors.splitlines()
    assert reason.startswith("could not connect to 127.0.0.1:9") and dropped == ["'not-an-id': not an arXiv id"]
    page = admin_client.get(response["Location"]).text
    assert "editor: failed — could not connect to 127.0.0.1:9" in page
    assert "&#x27;not-an-id&#x27;: not an arXiv id" in page, "a failed run still names every value it dropped"


def test_add_by_arxiv_id_rejects_text_without_ids(admin_client):
    response = admin_client.post(reverse("admin:papers_dailyentry_add_by_id"), {"ids": "hello", "day": "2026-03-02"})
    assert response.status_code == 200
    assert "No arXiv id found" in response.text
    assert not IngestRun.objects.exists()


def test_import_text_dump_upload(admin_client, django_capture_on_commit_callbacks):
    dump = (
        "Daily Papers\n\nApr 21\n\n"
        "Learning to Read Papers Faster\n\n"
        "We present a method that reads research papers faster than people do, evaluate it on a large set of "
        "abstracts, and find that it saves time for most readers in our study.\n\n"
        "A Paper With a Short Abstract\n\n"
        "We show that short abstracts are still abstracts worth reporting.\n\n"
    )
    upload = SimpleUploadedFile("dump.txt", dump.encode(), content_type="text/plain")

    with django_capture_on_commit_callbacks(execute=True):
        started = admin_client.post(
            reverse("admin:papers_dailyentry_import_text"), {"file": upload, "day": "2026-04-21"}
        )
    response = admin_client.get(started["Location"])

    assert response.status_code == 200
    paper = Paper.objects.get(title="Learning to Read Papers Faster")
    assert paper.needs_arxiv_id
    assert DailyEntry.objects.filter(paper=paper, day=dt.date(2026, 4, 21)).exists()
    assert "1 created" in response.text and "1 skipped" in response.text
    assert "A Paper With a Short Abstract&#x27;: skipped, its abstract has 65 characters and 10 words" in response.text
    assert IngestRun.objects.get().input_text == dump


def test_import_text_dump_rejects_binary(admin_client):
    upload = SimpleUploadedFile("dump.txt", b"\xff\xfe\x00binary", content_type="application/octet-stream")
    response = admin_client.post(reverse("admin:papers_dailyentry_import_text"), {"file": upload, "day": "2026-04-21"})
    assert response.status_code == 200
    assert "not UTF-8 text" in response.text


def test_ingest_runs_are_read_only(admin_client):
    run = IngestRun.objects.create(source="hf", status="partial", errors="entry 3 (2405.1): no title")
    assert admin_client.get(reverse("admin:papers_ingestrun_add")).status_code == 403
    page = admin_client.get(reverse("admin:papers_ingestrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert "entry 3 (2405.1): no title" in page.text
    assert 'name="_save"' not in page.text


def test_import_pages_need_staff(client):
    response = client.get(reverse("admin:papers_dailyentry_add_by_id"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
