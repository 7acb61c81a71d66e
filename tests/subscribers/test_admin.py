"""Subscribers in admin: filters and counts, status actions, CSV export and import, suppression list."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from subscribers.admin import SubscriberAdmin
from subscribers.csv_io import EXPORT_COLUMNS
from subscribers.models import Subscriber, Suppression, email_hash

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:subscribers_subscriber_changelist")
IMPORT = reverse("admin:subscribers_subscriber_import_csv")
SUPPRESSIONS = reverse("admin:subscribers_suppression_changelist")


def subscriber(email: str, status: str = "active", **fields) -> Subscriber:
    return Subscriber.objects.create(email=email, status=status, **fields)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(admin_client, action: str, *subscribers: Subscriber, **kwargs):
    return admin_client.post(
        CHANGELIST, {"action": action, "_selected_action": [s.pk for s in subscribers]}, follow=True, **kwargs
    )


def statuses() -> dict[str, str]:
    return dict(Subscriber.objects.values_list("email", "status"))


# --- change list ---------------------------------------------------------------------------------


def test_changelist_filters_search_and_counts_per_status(admin_client):
    subscriber("pending1@example.org", "pending", time_zone="Asia/Tokyo")
    subscriber("pending2@example.org", "pending")
    subscriber("weekly@example.org", frequency="weekly", interests="protein folding")
    subscriber("active2@example.org", email_format="text")
    subscriber("active3@example.org")
    subscriber("paused@example.org", "paused")

    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    counts = {entry["status"]: entry["count"] for entry in response.context["status_counts"]}
    assert counts == {"pending": 2, "active": 3, "paused": 1, "unsubscribed": 0, "bounced": 0, "complained": 0}
    assert "Pending confirmation: <strong>2</strong>" in response.text
    assert "Active: <strong>3</strong>" in response.text
    assert 'href="/admin/subscribers/subscriber/import-csv/"' in response.text and "Import CSV" in response.text

    def listed(**query) -> set[str]:
        page = admin_client.get(CHANGELIST, query)
        assert page.status_code == 200
        return {s.email for s in page.context["cl"].result_list}

    assert listed(status__exact="pending") == {"pending1@example.org", "pending2@example.org"}
    assert listed(frequency__exact="weekly") == {"weekly@example.org"}
    assert listed(time_zone__exact="Asia/Tokyo") == {"pending1@example.org"}
    assert listed(email_format__exact="text") == {"active2@example.org"}
    assert listed(q="protein") == {"weekly@example.org"}
    assert listed(q="paused@") == {"paused@example.org"}


def test_status_counts_take_one_query(django_assert_num_queries):
    subscriber("a@example.org", "pending")
    subscriber("b@example.org", "unsubscribed")
    from django.contrib import admin

    model_admin = SubscriberAdmin(Subscriber, admin.site)
    with django_assert_num_queries(1):
        counts = model_admin.status_counts()
    assert {entry["status"]: entry["count"] for entry in counts if entry["count"]} == {"pending": 1, "unsubscribed": 1}


def test_change_form_shows_consent_read_only(admin_client):
    reader = subscriber("reader@example.org", consent_source="signup form", consent_ip_hash="abc123")
    response = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk]))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert {"email", "status", "consent_source", "consent_ip_hash", "confirmed_at"}.isdisjoint(form.fields)
    assert "signup form" in response.text and "abc123" in response.text


def test_adding_by_hand_makes_a_pending_subscriber_and_asks_to_confirm(
    admin_client, django_capture_on_commit_callbacks
):
    data = {
        "email": "hand@Example.ORG",
        "frequency": "daily",
        "weekly_day": "0",
        "send_hour": "8",
        "time_zone": "UTC",
        "papers_per_digest": "10",
        "email_format": "html",
        "interests": "",
        "categories": "[]",
        "followed_authors": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:subscribers_subscriber_add"), data)
    assert response.status_code == 302
    added = Subscriber.objects.get()
    assert (added.email, added.status, added.consent_source) == ("hand@example.org", "pending", "admin add by admin")
    assert [message.to for message in mail.outbox] == [["hand@example.org"]]

    Suppression.add("blocked@example.org", Suppression.Reason.COMPLAINED)
    response = admin_client.post(reverse("admin:subscribers_subscriber_add"), {**data, "email": "blocked@example.org"})
    assert response.status_code == 200
    assert "on the suppression list" in response.text
    assert Subscriber.objects.count() == 1


# --- actions -------------------------------------------------------------------------------------


def test_resend_confirmation_mails_pending_only(admin_client, django_capture_on_commit_callbacks):
    pending = subscriber("waiting@example.org", "pending")
    active = subscriber("active@example.org")

    with django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client, "resend_confirmation", pending, active)

    assert response.status_code == 200
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["waiting@example.org"]
    assert "/confirm/" in mail.outbox[0].body
    assert messages_of(response) == ["Queued 1 confirmation email. Skipped 1 not pending or unsubscribed."]
    pending.refresh_from_db()
    assert (pending.confirmations_sent, pending.confirmation_day) == (1, timezone.localdate())


def test_resend_confirmation_respects_the_daily_cap(admin_client, settings, django_capture_on_commit_callbacks):
    settings.SIGNUP_CONFIRMATIONS_PER_DAY = 2
    capped = subscriber("capped@example.org", "pending", confirmations_sent=2, confirmation_day=timezone.localdate())
    gone = subscriber("gone@example.org", "unsubscribed")

    with django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client, "resend_confirmation", capped, gone)

    assert [message.to for message in mail.outbox] == [["gone@example.org"]]
    assert messages_of(response) == ["Queued 1 confirmation email. Skipped 1 at the daily cap of confirmation emails."]


def test_pause_action(admin_client):
    active = subscriber("active@example.org")
    pending = subscriber("pending@example.org", "pending")
    other = subscriber("other@example.org")

    response = act(admin_client, "pause", active, pending)

    assert statuses() == {
        "active@example.org": "paused",
        "pending@example.org": "pending",
        "other@example.org": "active",
    }
    assert messages_of(response) == ["Paused 1 subscriber. Skipped 1 that was not active."]
    other.refresh_from_db()
    assert other.status == "active"


def test_unsubscribe_action(admin_client):
    chosen = [
        subscriber("a@example.org"),
        subscriber("p@example.org", "paused"),
        subscriber("b@example.org", "bounced"),
    ]

    response = act(admin_client, "unsubscribe", *chosen)

    assert statuses() == {"a@example.org": "unsubscribed", "p@example.org": "unsubscribed", "b@example.org": "bounced"}
    assert messages_of(response)[0].startswith("Unsubscribed 2 subscribers. Skipped 1")


def test_suppress_action(admin_client):
    active = subscriber("Spam.Trap@Example.org")
    bounced = subscriber("bounced@example.org", "bounced")
    Suppression.add("bounced@example.org", Suppression.Reason.BOUNCED)

    response = act(admin_client, "suppress", active, bounced)

    assert statuses() == {"Spam.Trap@example.org": "unsubscribed", "bounced@example.org": "bounced"}
    assert Suppression.lookup("spam.trap@example.org").reason == "manual"
    assert Suppression.lookup("bounced@example.org").reason == "bounced"
    assert Suppression.objects.count() == 2
    assert messages_of(response) == ["Suppressed 1 address. Skipped 1 already suppressed (bounced or complained)."]


def test_export_csv(admin_client):
    first = subscriber(
        "first@example.org",
        interests='=HYPERLINK("http://evil.example","click")',
        categories=["cs.CL", "cs.LG"],
        followed_authors=["@handle", "Ada Lovelace"],
        muted_topics=["-crypto", "LLM agents"],
        consent_source="+1 signup sheet",
        frequency="weekly",
        weekly_day=4,
        send_hour=7,
        time_zone="Europe/Berlin",
        papers_per_digest=5,
        email_format="text",
        confirmed_at=dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC),
    )
    second = subscriber("second@example.org", "pending", interests="-2+3, diffusion")
    subscriber("not-selected@example.org")

    response = admin_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [first.pk, second.pk]})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="subscribers-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(EXPORT_COLUMNS)
    assert len(rows) == 3
    exported = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert exported[0] == {
        "email": "first@example.org",
        "status": "active",
        "frequency": "weekly",
        "weekly_day": "4",
        "send_hour": "7",
        "time_zone": "Europe/Berlin",
        "papers_per_digest": "5",
        "email_format": "text",
        "interests": '\'=HYPERLINK("http://evil.example","click")',
        "categories": "cs.CL; cs.LG",
        "followed_authors": "'@handle; Ada Lovelace",
        "muted_topics": "'-crypto; LLM agents",
        "skip_if_no_match": "False",
        "created_at": first.created_at.isoformat(),
        "confirmed_at": "2026-05-01T09:30:00+00:00",
        "consent_source": "'+1 signup sheet",
    }
    assert (exported[1]["email"], exported[1]["status"], exported[1]["interests"]) == (
        "second@example.org",
        "pending",
        "'-2+3, diffusion",
    )
    assert exported[1]["confirmed_at"] == ""


# --- CSV import ----------------------------------------------------------------------------------

REALISTIC = (
    "email,interests,time_zone,frequency,papers_per_digest,name\r\n"  # line 1
    'ada@example.org,"diffusion,  RLHF",Europe/London,Weekly,5,Ada\r\n'  # 2: imported
    " Grace@Example.ORG ,,,,,Grace\r\n"  # 3: imported, normalized
    "not-an-email,x,,,,Nobody\r\n"  # 4: invalid
    '"a@b.com\r\nBcc: x@y.com",,,,,Mallory\r\n'  # 5-6: invalid (line break inside the cell)
    "ADA@example.org,,,,,Ada again\r\n"  # 7: duplicate of line 2
    "existing@example.org,new interests,,,,Eve\r\n"  # 8: already subscribed
    "bounced@example.org,,,,,Bob\r\n"  # 9: suppressed
    "\r\n"  # 10: blank, ignored
    "carol@example.org,,Mars/Olympus,hourly,99,Carol\r\n"  # 11: imported with defaults and a note
    ",,,,,\r\n"  # 12: empty cells, ignored
    "Forgotten@example.org,,,,,Fay\r\n"  # 13: asked to be forgotten: suppressed too
)


def upload(content: bytes | str, name: str = "subscribers.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def import_csv(admin_client, content, **fields):
    data = {"file": upload(content), "consent_source": "Conference sign-up sheet 2026-05", **fields}
    return admin_client.post(IMPORT, data, follow=True)


def test_import_page_renders(admin_client):
    response = admin_client.get(IMPORT)
    assert response.status_code == 200
    assert 'name="file"' in response.text and 'name="already_consented"' in response.text
    assert 'name="consent_source"' in response.text


def test_import_creates_pending_subscribers_and_sends_confirmations(admin_client, django_capture_on_commit_callbacks):
    existing = subscriber("existing@example.org", interests="old interests")
    Suppression.add("bounced@example.org", Suppression.Reason.BOUNCED)
    Suppression.add("forgotten@example.org", Suppression.Reason.FORGOTTEN)

    with django_capture_on_commit_callbacks(execute=True):
        response = import_csv(admin_client, REALISTIC)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    notes = messages_of(response)
    assert notes[0] == (
        "3 imported (pending, 3 confirmation emails queued), 1 already subscribed, 2 suppressed, "
        "1 duplicate in the file, 2 invalid."
    )
    assert notes[1] == (
        "Invalid rows: line 4: “not-an-email” is not a valid email address; line 5: the address contains a line break"
    )
    assert notes[2] == "Duplicates skipped: line 7"
    assert notes[3] == (
        "Defaults used: line 11: unknown time zone “Mars/Olympus”, used UTC, frequency “hourly” is not daily or "
        "weekly, used daily, papers_per_digest “99” is not a number from 1 to 50, used 10"
    )
    assert notes[4] == "Ignored columns: name"

    imported = {s.email: s for s in Subscriber.objects.exclude(pk=existing.pk)}
    assert set(imported) == {"ada@example.org", "Grace@example.org", "carol@example.org"}
    for new in imported.values():
        assert new.status == "pending"
        assert new.confirmed_at is None and new.consent_at is None
        assert new.consent_source == "admin import by admin: Conference sign-up sheet 2026-05"
        assert new.confirmations_sent == 1
    ada, carol = imported["ada@example.org"], imported["carol@example.org"]
    assert (ada.interests, ada.time_zone, ada.frequency, ada.papers_per_digest) == (
        "diffusion, RLHF",
        "Europe/London",
        "weekly",
        5,
    )
    assert (carol.time_zone, carol.frequency, carol.papers_per_digest) == ("UTC", "daily", 10)

    assert sorted(message.to[0] for message in mail.outbox) == [
        "Grace@example.org",
        "ada@example.org",
        "carol@example.org",
    ]
    assert all("/confirm/" in message.body for message in mail.outbox)
    existing.refresh_from_db()
    assert (existing.status, existing.interests, existing.consent_source) == ("active", "old interests", "")
    assert not Subscriber.objects.filter(email__icontains="b.com").exists()
    assert not Subscriber.objects.filter(email__in=["bounced@example.org", "Forgotten@example.org"]).exists()


def test_import_reports_missing_and_overlong_values(admin_client, django_capture_on_commit_callbacks):
    too_long = "a" * 243 + "@example.org"  # 255 characters: one more than an address may have
    content = (
        "Email,interests,email,papers_per_digest\r\n"  # a repeated column: the first one is read
        f"{too_long},,,\r\n"
        ",robotics,second@example.org,\r\n"  # no address in the first email column
        f"short@example.org,{'x' * 501}\r\n"  # a short row, its interests too long
        "fine@example.org,  spaced   out ,,7\r\n"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = import_csv(admin_client, content)

    assert messages_of(response) == [
        "2 imported (pending, 2 confirmation emails queued), 0 already subscribed, 0 suppressed, "
        "0 duplicates in the file, 2 invalid.",
        f"Invalid rows: line 2: “{'a' * 59}…” is not a valid email address; line 3: no address",
        "Defaults used: line 4: interests longer than 500 characters, left empty",
    ]
    short, fine = Subscriber.objects.get(email="short@example.org"), Subscriber.objects.get(email="fine@example.org")
    assert (short.interests, short.papers_per_digest) == ("", 10)
    assert (fine.interests, fine.papers_per_digest) == ("spaced out", 7)


def test_import_already_consented_activates_without_email(admin_client, django_capture_on_commit_callbacks):
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = import_csv(
            admin_client, "email,interests\nyes@example.org,robotics\nalso@example.org,\n", already_consented="on"
        )

    assert messages_of(response)[0] == (
        "2 imported (active, already consented, no email sent), 0 already subscribed, 0 suppressed, "
        "0 duplicates in the file, 0 invalid."
    )
    assert mail.outbox == [] and callbacks == []
    for new in Subscriber.objects.all():
        assert new.status == "active"
        assert new.confirmed_at >= before and new.consent_at == new.confirmed_at
        assert new.consent_source == "admin import by admin: Conference sign-up sheet 2026-05"
    assert Subscriber.objects.get(email="yes@example.org").interests == "robotics"


def test_import_accepts_a_byte_order_mark(admin_client, django_capture_on_commit_callbacks):
    content = "\ufeffEmail\r\nbom@example.org\r\n".encode()
    assert content.startswith(b"\xef\xbb\xbf")
    with django_capture_on_commit_callbacks(execute=True):
        response = import_csv(admin_client, content)
    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert list(Subscriber.objects.values_list("email", "status")) == [("bom@example.org", "pending")]
    assert [message.to for message in mail.outbox] == [["bom@example.org"]]


def test_import_rejects_a_file_that_is_not_utf8(admin_client):
    response = import_csv(admin_client, "email\r\njosé@exämple.org\r\n".encode("latin-1"))
    assert response.status_code == 200
    assert response.redirect_chain == []
    assert "The file is not UTF-8 text" in response.text
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    ("content", "fields", "error"),
    [
        ("address\r\nx@example.org\r\n", {}, "must be a header with an “email” column"),
        ("", {}, "The submitted file is empty"),
        ("email\r\nx@example.org\r\n", {"consent_source": ""}, "This field is required"),
        ("email\r\nx@example.org\r\n", {"consent_source": "sheet\r\nBcc: y@example.org"}, "cannot contain line"),
    ],
)
def test_import_form_errors(admin_client, content, fields, error):
    response = import_csv(admin_client, content, **fields)
    assert response.status_code == 200
    assert error in response.text
    assert not Subscriber.objects.exists()


def test_import_rejects_files_over_5_mb(admin_client):
    content = "email\r\n" + "x" * (5 * 1024 * 1024)
    response = import_csv(admin_client, content)
    assert "larger than 5 MB" in response.text
    assert not Subscriber.objects.exists()


def test_import_requires_add_permission(client, django_user_model):
    staff = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(IMPORT).status_code == 403


# --- suppression list ----------------------------------------------------------------------------


def test_suppression_added_by_address_keeps_only_the_hash(admin_client):
    Suppression.add("someone-else@example.org", Suppression.Reason.BOUNCED)

    response = admin_client.post(
        reverse("admin:subscribers_suppression_add"), {"email": "Gone.Person@Example.ORG", "reason": "manual"}
    )

    assert response.status_code == 302
    row = Suppression.objects.get(email_hash=email_hash("gone.person@example.org"))
    assert row.reason == "manual"
    stored = " ".join(str(value) for value in Suppression.objects.filter(pk=row.pk).values().get().values())
    assert "gone" not in stored.lower() and "example" not in stored.lower()
    logged = " ".join(f"{entry.object_repr} {entry.change_message}" for entry in LogEntry.objects.all())
    assert "gone" not in logged.lower()

    found = admin_client.get(SUPPRESSIONS, {"q": "  GONE.person@example.org "})
    assert [s.pk for s in found.context["cl"].result_list] == [row.pk]
    assert row.email_hash[:12] in found.text
    by_prefix = admin_client.get(SUPPRESSIONS, {"q": row.email_hash[:10]})
    assert [s.pk for s in by_prefix.context["cl"].result_list] == [row.pk]
    assert list(admin_client.get(SUPPRESSIONS, {"q": "nobody@example.org"}).context["cl"].result_list) == []
    assert admin_client.get(SUPPRESSIONS, {"reason__exact": "bounced"}).context["cl"].result_count == 1


def test_suppression_add_rejects_known_and_malformed_addresses(admin_client):
    Suppression.add("known@example.org", Suppression.Reason.COMPLAINED)
    add = reverse("admin:subscribers_suppression_add")

    known = admin_client.post(add, {"email": "KNOWN@example.org", "reason": "manual"})
    assert "already on the suppression list (Complained (marked as spam))" in known.text
    malformed = admin_client.post(add, {"email": "not an address", "reason": "manual"})
    assert malformed.status_code == 200 and "Enter a valid email address" in malformed.text
    assert Suppression.objects.count() == 1


def test_suppressing_an_address_stops_its_subscriber(admin_client):
    reader = subscriber("reader@example.org")
    admin_client.post(
        reverse("admin:subscribers_suppression_add"), {"email": "reader@example.org", "reason": "bounced"}
    )
    reader.refresh_from_db()
    assert reader.status == "bounced"
    assert Suppression.lookup("reader@example.org").reason == "bounced"


def test_suppressions_are_view_only_but_deletable(admin_client):
    row = Suppression.add("x@example.org", Suppression.Reason.MANUAL)
    change = reverse("admin:subscribers_suppression_change", args=[row.pk])

    page = admin_client.get(change)
    assert page.status_code == 200
    assert 'name="reason"' not in page.text and row.email_hash in page.text
    assert admin_client.post(change, {"reason": "bounced"}).status_code == 403
    row.refresh_from_db()
    assert row.reason == "manual"

    deleted = admin_client.post(reverse("admin:subscribers_suppression_delete", args=[row.pk]), {"post": "yes"})
    assert deleted.status_code == 302
    assert not Suppression.objects.exists()
