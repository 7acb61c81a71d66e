"""Digests in Django admin: progress counts without a query per edition, drafts and publishing,
pause and resume, previews that change nothing, test sends, resending unknown rows, and a
read-only delivery ledger."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from newsletter import planning
from newsletter.models import Delivery, Edition
from tests.factories import DailyEntryFactory, DeliveryFactory, EditionFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 1, 6)
CHANGELIST = reverse("admin:newsletter_edition_changelist")
Status = Delivery.Status


def change_url(edition: Edition) -> str:
    return reverse("admin:newsletter_edition_change", args=[edition.pk])


def edition_url(name: str, edition: Edition) -> str:
    return reverse(f"admin:newsletter_edition_{name}", args=[edition.pk])


@pytest.fixture
def day_papers():
    """Three approved papers on DAY: two on diffusion, one on protein folding."""
    titles = [
        ("Faster diffusion models for image generation", 50),
        ("Diffusion models learn physics", 30),
        ("Protein folding with language models", 20),
    ]
    return [
        DailyEntryFactory(day=DAY, paper=PaperFactory(title=title, upvotes=upvotes)).paper for title, upvotes in titles
    ]


@pytest.fixture
def readers():
    """Two active daily readers with different interests, two papers each."""
    return (
        SubscriberFactory(email="ada@example.org", interests="diffusion models", papers_per_digest=2),
        SubscriberFactory(email="rosalind@example.org", interests="protein folding", papers_per_digest=1),
    )


def publish_and_plan(admin_client, day_papers) -> Edition:
    edition = EditionFactory.create()
    response = admin_client.post(edition_url("publish", edition))
    assert response.status_code == 302
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SCHEDULED
    planning.plan_deliveries(edition, planning.all_readers(edition))
    edition.refresh_from_db()
    return edition


def make_edition(day: dt.date, counts: dict[str, int]) -> Edition:
    edition = EditionFactory.create(period_start=day, status=Edition.Status.SENDING, paper_ids=[1, 2, 3])
    for status, count in counts.items():
        DeliveryFactory.create_batch(count, edition=edition, status=status)
    return edition


# --- The changelist -------------------------------------------------------------------------------


def test_changelist_shows_progress_from_annotated_counts(admin_client):
    make_edition(DAY, {Status.SENT: 4, Status.FAILED: 2, Status.UNKNOWN: 1, Status.PENDING: 3, Status.SKIPPED: 1})

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert "sent 4 / 10 (failed 2, unknown 1) · 3 pending, 1 skipped" in response.text
    assert reverse("admin:newsletter_edition_draft") in response.text
    row = response.context["cl"].result_list[0]
    assert (row.n_total, row.n_sent, row.n_failed, row.n_unknown) == (11, 4, 2, 1)


def test_changelist_query_count_does_not_grow_with_editions(admin_client, django_assert_max_num_queries):
    for offset in range(3):
        make_edition(DAY - dt.timedelta(days=offset), {Status.SENT: 2, Status.FAILED: 1})
    admin_client.get(CHANGELIST)  # warm the session and content types

    with CaptureQueriesContext(connection) as three:
        assert admin_client.get(CHANGELIST).status_code == 200
    for offset in range(3, 6):
        make_edition(DAY - dt.timedelta(days=offset), {Status.SENT: 2, Status.UNKNOWN: 1})

    with django_assert_max_num_queries(len(three)):
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 6
    assert response.text.count("sent 2 / 3") == 6


# --- Drafts and publishing ------------------------------------------------------------------------


def test_create_draft_via_form(admin_client, day_papers):
    form_url = reverse("admin:newsletter_edition_draft")
    assert admin_client.get(form_url).status_code == 200

    response = admin_client.post(form_url, {"kind": "daily", "day": DAY.isoformat()})

    edition = Edition.objects.get(kind="daily", period_start=DAY)
    assert response.status_code == 302 and response.url == change_url(edition)
    assert edition.status == Edition.Status.DRAFT
    assert edition.paper_ids == [paper.pk for paper in day_papers]

    page = admin_client.get(change_url(edition))
    assert page.status_code == 200
    titles = [paper.title for paper in day_papers]
    positions = [page.text.index(title) for title in titles]
    assert positions == sorted(positions)  # listed in the edition's order
    assert reverse("admin:papers_paper_change", args=[day_papers[0].pk]) in page.text
    assert 'value="Publish"' in page.text


def test_paper_list_is_one_query(admin_client, day_papers, django_assert_num_queries):
    from newsletter.admin.editions import EditionAdmin

    edition = Edition.objects.create(
        kind="daily", period_start=DAY, period_end=DAY, paper_ids=[p.pk for p in day_papers]
    )
    model_admin = EditionAdmin(Edition, None)
    with django_assert_num_queries(1):
        html = model_admin.papers(edition)
    assert all(paper.title in html for paper in day_papers)


def test_publish_button(admin_client, day_papers):
    edition = EditionFactory()

    response = admin_client.post(edition_url("publish", edition), follow=True)

    edition.refresh_from_db()
    assert edition.status == Edition.Status.SCHEDULED and edition.published_at is not None
    assert edition.paper_ids == [paper.pk for paper in day_papers]
    assert "Published" in response.text
    assert admin_client.get(edition_url("publish", edition)).status_code == 403  # a button, not a link


def test_publish_without_papers_stays_draft(admin_client):
    edition = EditionFactory()
    response = admin_client.post(edition_url("publish", edition), follow=True)
    edition.refresh_from_db()
    assert edition.status == Edition.Status.DRAFT
    assert "not published" in response.text


def test_subject_and_intro_are_editable_status_is_not(admin_client, day_papers):
    edition = EditionFactory()
    response = admin_client.post(
        change_url(edition), {"subject": "Proteins day", "intro": "Hello readers", "status": "sent"}
    )
    assert response.status_code == 302
    edition.refresh_from_db()
    assert (edition.subject, edition.intro, edition.status) == ("Proteins day", "Hello readers", "draft")

    bad = admin_client.post(change_url(edition), {"subject": "Hi\r\nBcc: x@example.org", "intro": ""})
    assert bad.status_code == 200 and "subject" in bad.context["adminform"].form.errors


# --- Pause, resume, dispatch ----------------------------------------------------------------------


def test_pause_and_resume_dispatches_pending_rows(
    admin_client, admin_user, day_papers, readers, django_capture_on_commit_callbacks
):
    edition = publish_and_plan(admin_client, day_papers)
    assert edition.status == Edition.Status.SENDING
    assert Delivery.objects.filter(edition=edition, status=Status.PENDING).count() == 2

    admin_client.post(edition_url("pause", edition))
    edition.refresh_from_db()
    assert edition.status == Edition.Status.PAUSED
    assert edition.pause_reason.startswith(f"Paused by {admin_user.username}")

    page = admin_client.get(change_url(edition))
    assert 'value="Resume sending"' in page.text and 'value="Pause sending"' not in page.text

    Edition.objects.filter(pk=edition.pk).update(consecutive_errors=7)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(edition_url("resume", edition), follow=True)

    edition.refresh_from_db()
    assert (edition.status, edition.consecutive_errors, edition.pause_reason) == ("sending", 0, "")
    assert "Queued 2 pending deliveries" in response.text
    assert sorted(message.to[0] for message in mail.outbox) == ["ada@example.org", "rosalind@example.org"]
    assert set(Delivery.objects.filter(edition=edition).values_list("status", flat=True)) == {Status.SENT}
    ada = next(message for message in mail.outbox if message.to == ["ada@example.org"])
    assert "Faster diffusion models" in ada.body and "Protein folding" not in ada.body


def test_resume_without_deliveries_goes_back_to_scheduled(admin_client):
    edition = Edition.objects.create(
        kind="daily", period_start=DAY, period_end=DAY, status=Edition.Status.PAUSED, pause_reason="x"
    )
    admin_client.post(edition_url("resume", edition))
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SCHEDULED


def test_pause_and_resume_actions_from_the_changelist(admin_client):
    edition = make_edition(DAY, {Status.SENT: 1})
    admin_client.post(CHANGELIST, {"action": "pause", "_selected_action": [edition.pk]})
    edition.refresh_from_db()
    assert edition.status == Edition.Status.PAUSED
    admin_client.post(CHANGELIST, {"action": "resume", "_selected_action": [edition.pk]})
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENDING


def test_draft_cannot_be_paused(admin_client):
    edition = EditionFactory()
    admin_client.post(edition_url("pause", edition))
    edition.refresh_from_db()
    assert edition.status == Edition.Status.DRAFT


# --- Preview --------------------------------------------------------------------------------------


def test_preview_of_a_planned_reader_shows_their_papers(admin_client, day_papers, readers):
    edition = publish_and_plan(admin_client, day_papers)
    rosalind = readers[1]
    row = Delivery.objects.get(edition=edition, subscriber=rosalind)
    assert row.paper_ids == [day_papers[2].pk]

    response = admin_client.get(edition_url("preview", edition), {"subscriber": rosalind.email})

    assert response.status_code == 200
    assert "Protein folding with language models" in response.text
    assert "Faster diffusion models" not in response.text
    assert "their delivery row (pending)" in response.text
    assert "'unsafe-inline'" in response["Content-Security-Policy"]


def test_preview_of_an_unplanned_reader_ranks_on_the_fly_and_saves_nothing(admin_client, day_papers, readers):
    edition = EditionFactory()
    admin_client.post(edition_url("publish", edition))
    ada, rosalind = readers
    before = Delivery.objects.count()

    for reader, shown, hidden in [
        (ada, ["Faster diffusion models", "Diffusion models learn physics"], ["Protein folding"]),
        (rosalind, ["Protein folding with language models"], ["Faster diffusion", "learn physics"]),
    ]:
        response = admin_client.get(edition_url("preview", edition), {"subscriber": str(reader.pk)})
        assert response.status_code == 200
        assert all(title in response.text for title in shown)
        assert not any(title in response.text for title in hidden)
        assert "nothing was saved" in response.text

    assert Delivery.objects.count() == before == 0
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SCHEDULED


def test_text_preview(admin_client, day_papers, readers):
    edition = publish_and_plan(admin_client, day_papers)
    response = admin_client.get(edition_url("preview", edition), {"subscriber": "ADA@example.org", "format": "text"})
    assert response.status_code == 200
    body = response.context["email"].body
    assert "Faster diffusion models for image generation" in body and "Protein folding" not in body
    assert "Faster diffusion models for image generation" in response.text
    assert "Unsubscribe: http" in response.text
    assert "<table" in response.text  # the admin page around the text, with the headers
    assert response.context["email"].to == ["ada@example.org"]


def test_preview_for_unknown_subscriber_goes_back_with_an_error(admin_client, day_papers):
    edition = EditionFactory()
    response = admin_client.get(edition_url("preview", edition), {"subscriber": "nobody@example.org"}, follow=True)
    assert response.redirect_chain[-1][0] == change_url(edition)
    assert "No subscriber" in response.text


# --- Test sends -----------------------------------------------------------------------------------


def test_send_test_to_any_address(admin_client, day_papers):
    edition = EditionFactory()
    admin_client.post(edition_url("publish", edition))

    response = admin_client.post(edition_url("send_test", edition), {"address": "editor@example.net"})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["editor@example.net"] and "[TEST]" in message.subject
    assert Delivery.objects.count() == 0


@pytest.mark.parametrize("address", ["not-an-address", "editor@example.net\r\nBcc: victim@example.org", ""])
def test_send_test_rejects_bad_addresses(admin_client, day_papers, address):
    edition = EditionFactory()

    response = admin_client.post(edition_url("send_test", edition), {"address": address})

    assert response.status_code == 200
    assert response.context["form"].errors["address"]
    assert mail.outbox == []


# --- Unknown deliveries -----------------------------------------------------------------------------


def test_resend_unknown_asks_first_then_sends(admin_client, day_papers, readers, django_capture_on_commit_callbacks):
    edition = publish_and_plan(admin_client, day_papers)
    Delivery.objects.filter(edition=edition).update(status=Status.UNKNOWN, attempts=1)
    url = edition_url("resend_unknown", edition)

    page = admin_client.get(url)
    assert page.status_code == 200
    assert "MAY HAVE BEEN DELIVERED ALREADY" in page.text
    assert Delivery.objects.filter(status=Status.UNKNOWN).count() == 2
    assert "Resend 2 unknown deliveries" in admin_client.get(change_url(edition)).text

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"confirm": "yes"}, follow=True)

    assert "may get the digest twice" in response.text
    assert len(mail.outbox) == 2
    rows = Delivery.objects.filter(edition=edition)
    assert {row.status for row in rows} == {Status.SENT}
    assert {row.attempts for row in rows} == {2}


def test_resend_unknown_changelist_action_confirms_before_moving(admin_client, django_capture_on_commit_callbacks):
    edition = make_edition(DAY, {Status.UNKNOWN: 2, Status.SENT: 1})
    data = {"action": "resend_unknown", "_selected_action": [edition.pk]}

    page = admin_client.post(CHANGELIST, data)
    assert page.status_code == 200 and "MAY HAVE BEEN DELIVERED ALREADY" in page.text
    assert Delivery.objects.filter(status=Status.UNKNOWN).count() == 2

    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.PAUSED)  # rows wait for resume
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(CHANGELIST, {**data, "confirm": "yes"})
    pending = Delivery.objects.filter(status=Status.PENDING)
    assert pending.count() == 2
    assert all("chose to send it again" in row.last_error for row in pending)
    assert mail.outbox == []


# --- The delivery ledger --------------------------------------------------------------------------


def test_delivery_admin_is_read_only(admin_client):
    edition = make_edition(DAY, {Status.SENT: 1})
    row = Delivery.objects.get(edition=edition)
    ledger = reverse("admin:newsletter_delivery_changelist")

    assert admin_client.get(reverse("admin:newsletter_delivery_add")).status_code == 403
    assert admin_client.get(reverse("admin:newsletter_delivery_delete", args=[row.pk])).status_code == 403
    page = admin_client.get(reverse("admin:newsletter_delivery_change", args=[row.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.text
    listing = admin_client.get(ledger, {"q": row.subscriber.email, "edition__id__exact": edition.pk})
    assert listing.status_code == 200 and row.subscriber.email in listing.text


def test_delivery_send_again_action(admin_client, day_papers, readers, django_capture_on_commit_callbacks):
    edition = publish_and_plan(admin_client, day_papers)
    ada, rosalind = readers
    Delivery.objects.filter(subscriber=ada).update(status=Status.FAILED, last_error="550 mailbox full")
    Delivery.objects.filter(subscriber=rosalind).update(status=Status.SENT)
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.SENT)
    ledger = reverse("admin:newsletter_delivery_changelist")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            ledger,
            {"action": "send_again", "_selected_action": list(Delivery.objects.values_list("pk", flat=True))},
            follow=True,
        )

    assert "Left 1 that were neither unknown nor failed" in response.text
    assert [message.to for message in mail.outbox] == [["ada@example.org"]]
    assert Delivery.objects.get(subscriber=ada).status == Status.SENT
