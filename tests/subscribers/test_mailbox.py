"""One mailbox, one reader (issue 11, point 9), and a signup request that does the same work for
every state of the address (point 10)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subscribers import services
from subscribers.csv_io import parse_import, run_import
from subscribers.mailbox import InvalidAddress, mailbox_key
from subscribers.models import Subscriber, Suppression, email_hash, legacy_email_hash
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
SUBSCRIBE = reverse("subscribers:subscribe")
CHECK_INBOX = reverse("subscribers:check_inbox")

# The forms of one mailbox from the issue (and its case): each got a daily cap of its own.
VICTIM_FORMS = [
    "victim@example.org",
    '"victim"@example.org',
    r'"\v\ictim"@example.org',
    "victim+1@example.org",
    "Victim@Example.ORG",
]


@pytest.fixture(autouse=True)
def fresh_limits(settings):
    settings.SIGNUP_RATE_PER_IP = "1000/h"
    settings.SIGNUP_RATE_PER_EMAIL = "1000/h"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def signup(client, django_capture_on_commit_callbacks):
    def post(email: str, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(SUBSCRIBE, {"email": email, "time_zone": "UTC", **extra})

    return post


# --- The key --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "key"),
    [
        *[(form, "victim@example.org") for form in VICTIM_FORMS],
        ("victim+news+more@example.org", "victim@example.org"),
        ('"victim+x"@example.org', "victim@example.org"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("USER@BÜCHER.example", "user@xn--bcher-kva.example"),
        ("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"),
        ("+plus@example.org", "+plus@example.org"),  # nothing before the tag: kept whole
        ("first.last@example.org", "first.last@example.org"),  # dots are the provider's business
        ("user@[192.0.2.1]", "user@[192.0.2.1]"),
        ("  spaced@example.org ", "spaced@example.org"),
    ],
)
def test_the_mailbox_key(address, key):
    assert mailbox_key(address) == key


@pytest.mark.parametrize("address", ['""@example.org', "no-at-sign", "@example.org", '"vic"tim@example.org'])
def test_what_names_no_mailbox_has_no_key(address):
    with pytest.raises(InvalidAddress):
        mailbox_key(address)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.emails() | st.text(max_size=40).map(lambda text: f'"{text}"@example.org'))
def test_every_address_django_accepts_has_a_key_or_is_refused_cleanly(address):
    try:
        validate_email(address)
    except ValidationError:
        return
    try:
        key = mailbox_key(address)
    except InvalidAddress:
        return
    try:
        again = mailbox_key(key)
    except InvalidAddress:  # a key whose local part needs quotes ('":"@x' -> ':@x') is no address itself
        again = key
    assert again == key, "a key is its own key"
    assert "@" in key and key == key.lower()


# --- One cap, one row, one rate limit -------------------------------------------------------------


def test_the_forms_of_one_mailbox_share_one_daily_cap(signup, settings):
    settings.SIGNUP_CONFIRMATIONS_PER_DAY = 3
    for form in VICTIM_FORMS:
        assert signup(form)["Location"] == CHECK_INBOX
    assert Subscriber.objects.count() == 1
    assert len(mail.outbox) == 3
    assert {tuple(message.to) for message in mail.outbox} == {("victim@example.org",)}, "to the address it has"


def test_an_internationalised_domain_and_its_punycode_are_one_mailbox(signup, settings):
    settings.SIGNUP_CONFIRMATIONS_PER_DAY = 2
    for form in ["user@bücher.example", "user@xn--bcher-kva.example", "User@BÜCHER.example"]:
        signup(form)
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.mailbox) == ("user@bücher.example", "user@xn--bcher-kva.example")
    assert len(mail.outbox) == 2


def test_a_tagged_form_of_an_active_reader_is_that_reader(signup):
    SubscriberFactory(email="victim@example.org", status="active")
    signup("victim+1@example.org")
    assert Subscriber.objects.count() == 1
    (message,) = mail.outbox
    assert message.subject == "You're already subscribed to Paperboy"
    assert message.to == ["victim@example.org"], "mail about a subscription goes to its own address"


def test_the_rate_limit_per_address_is_per_mailbox(signup, settings):
    settings.SIGNUP_RATE_PER_EMAIL = "2/h"
    answers = [signup(form).status_code for form in ["victim@example.org", '"victim"@example.org', "Victim+2@x.org"]]
    assert answers[:2] == [302, 302]
    assert signup("victim+3@example.org").status_code == 429
    assert answers[2] == 302, "another mailbox has its own count"


def test_the_database_holds_one_row_per_mailbox():
    SubscriberFactory(email="victim@example.org")
    for form in VICTIM_FORMS[1:]:
        with pytest.raises(IntegrityError), transaction.atomic():
            SubscriberFactory(email=form)


def test_an_address_without_a_mailbox_is_a_form_error(signup):
    response = signup('""@example.org')
    assert response.status_code == 400
    assert "Enter a valid email address." in response.text
    assert not Subscriber.objects.exists()


# --- Two confirmed forms, one digest -------------------------------------------------------------


def test_two_confirmed_forms_get_one_digest(signup, client):
    from newsletter import planning
    from newsletter import services as newsletter_services
    from newsletter.models import Delivery

    day = dt.date(2026, 3, 27)
    DailyEntryFactory(day=day, paper=PaperFactory(title="Paper"))
    signup("victim@example.org")
    signup('"Victim"@example.org')
    signup("victim+papers@example.org")
    for subscriber in Subscriber.objects.all():  # every confirmation link the mailbox got
        services.subscriber_confirm(subscriber=subscriber)
    Subscriber.objects.update(send_hour=6, confirmed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    newsletter_services.edition_publish(kind="daily", day=day)

    assert planning.plan_due(now=dt.datetime(2026, 3, 28, 7, tzinfo=zoneinfo.ZoneInfo("UTC"))) == 1
    (delivery,) = Delivery.objects.all()
    assert delivery.subscriber.email == "victim@example.org"


# --- Suppression is per mailbox -------------------------------------------------------------------


def test_a_suppressed_mailbox_refuses_every_form(signup):
    Suppression.add("victim@example.org", Suppression.Reason.BOUNCED)
    for form in ["Victim+x@example.org", '"victim"@example.org', r'"\v\ictim"@EXAMPLE.org']:
        assert signup(form)["Location"] == CHECK_INBOX
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


def test_suppressing_a_tagged_form_suppresses_the_mailbox(signup):
    tagged = SubscriberFactory(email="victim+news@example.org")
    services.subscriber_suppress(subscriber=tagged, reason=Suppression.Reason.COMPLAINED)
    tagged.delete()  # even with the row gone
    signup("victim@example.org")
    assert not Subscriber.objects.exists() and mail.outbox == []
    assert Suppression.objects.get().email_hash == email_hash("victim@example.org")


def test_an_entry_hashed_the_old_way_still_matches_its_address(signup):
    """An erased reader's or a hand-suppressed address's entry cannot be re-hashed (the address is
    gone): it keeps matching the address as it was, in any case."""
    Suppression.objects.create(email_hash=legacy_email_hash("victim+x@example.org"), reason="manual")
    assert legacy_email_hash("victim+x@example.org") != email_hash("victim+x@example.org")
    signup("Victim+X@example.org")
    assert not Subscriber.objects.exists()
    assert Suppression.lookup("victim+x@EXAMPLE.org") is not None


def test_a_forgotten_reader_may_return_in_another_form_and_the_entry_goes(signup):
    Suppression.add("victim@example.org", Suppression.Reason.FORGOTTEN)
    signup('"victim"@example.org')
    services.subscriber_confirm(subscriber=Subscriber.objects.get())
    assert not Suppression.objects.exists()


# --- CSV import ----------------------------------------------------------------------------------


def test_the_import_treats_every_form_of_a_mailbox_as_one():
    out = io.StringIO()
    addresses = [*VICTIM_FORMS, "user@bücher.example", "user@xn--bcher-kva.example", "other@example.org"]
    csv.writer(out).writerows([["email"], *[[address] for address in addresses]])
    rows, report = parse_import(out.getvalue())
    assert report.invalid == []
    assert [row.email for row in rows] == ["victim@example.org", "user@bücher.example", "other@example.org"]
    assert report.duplicates == [3, 4, 5, 6, 8]


def test_the_import_skips_known_and_suppressed_mailboxes_in_any_form(django_capture_on_commit_callbacks):
    SubscriberFactory(email="victim@example.org", status="active")
    Suppression.add("gone@example.org", Suppression.Reason.BOUNCED)
    rows, report = parse_import('email\n"Victim"@example.org\ngone+1@example.org\nnew+tag@example.org\n')
    with django_capture_on_commit_callbacks(execute=True):
        run_import(rows, report, already_consented=False, consent_source="test")
    assert (report.created, report.already_subscribed, report.suppressed) == (1, 1, 1)
    assert Subscriber.objects.get(mailbox="new@example.org").email == "new+tag@example.org"


# --- The signup request does the same work whatever the address is (point 10) --------------------


def _set_up(state: str) -> None:
    address = "known@example.org"
    if state in ("pending", "active", "paused", "unsubscribed"):
        SubscriberFactory.create(email=address, status=state)
    elif state == "other form of an active reader":
        SubscriberFactory.create(email='"Known+x"@example.org', status="active")
    elif state in ("bounced", "complained"):
        subscriber = SubscriberFactory.create(email=address, status="active")
        services.subscriber_suppress(subscriber=subscriber, reason=state)
    elif state == "suppressed by an editor":
        Suppression.add(address, Suppression.Reason.MANUAL)
    elif state == "erased":
        services.subscriber_erase(subscriber=SubscriberFactory.create(email=address))


STATES = [
    "new",
    "pending",
    "active",
    "paused",
    "unsubscribed",
    "other form of an active reader",
    "bounced",
    "complained",
    "suppressed by an editor",
    "erased",
]


def test_the_signup_request_does_the_same_work_for_every_state(client, monkeypatch):
    """No query at all, one task published with the same arguments, the same answer: nothing in
    the request depends on what the database knows about the address. (Timing is not asserted:
    what is timed is the work, and the work is the same.)"""
    from subscribers.tasks import signup as signup_task

    published: list = []
    monkeypatch.setattr(signup_task, "apply_async", lambda *args, **kwargs: published.append((args, kwargs)))
    seen = {}
    for state in STATES:
        Subscriber.objects.all().delete()
        Suppression.objects.all().delete()
        cache.clear()
        _set_up(state)
        published.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.post(SUBSCRIBE, {"email": "known@example.org", "time_zone": "UTC"})
        seen[state] = (
            [query["sql"] for query in queries.captured_queries],
            list(published),
            response.status_code,
            response.get("Location"),
            response.content,
        )
    assert seen["new"][0] == [], "the request asks the database nothing"
    ((_args, kwargs),) = seen["new"][1]
    assert kwargs["kwargs"]["email"] == "known@example.org" and kwargs["ignore_result"] is True
    different = {state: work for state, work in seen.items() if work != seen["new"]}
    assert different == {}


def test_the_task_then_does_what_each_state_calls_for(signup):
    """The same request; the worker tells the states apart (here eagerly, inside the test)."""
    SubscriberFactory(email="active@example.org", status="active")
    Suppression.add("bounced@example.org", Suppression.Reason.BOUNCED)
    for address in ["new@example.org", "active+x@example.org", "bounced@example.org"]:
        signup(address)
    assert sorted(message.subject for message in mail.outbox) == [
        "Confirm your Paperboy subscription",
        "You're already subscribed to Paperboy",
    ]
    assert set(Subscriber.objects.values_list("mailbox", flat=True)) == {"new@example.org", "active@example.org"}
