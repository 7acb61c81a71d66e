"""Subjects and plain-text parts are plain text: "&", "'" and "<" arrive as written, in every
email kind, while the HTML parts stay escaped."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from django.core import mail

from common import emails
from newsletter import digest_email, planning, rendering, services
from newsletter.links import view_token
from newsletter.models import Delivery, Edition
from subscribers.tasks import send_subscriber_email
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 5, 4)  # a Monday
TITLE = "R&D at scale: the policy's outputs when 0<p"
CODE = "https://github.com/example/repo?tab=readme&lang=en"
NOTE = "Ada's pick <3 & more"


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_NAME = "Papers & Co"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def parsed(message):
    return message_from_bytes(message.message().as_bytes(), policy=policy.default)


def parts(message) -> tuple[str, str | None]:
    email = parsed(message)
    text = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",))
    return text, html.get_content() if html is not None else None


@pytest.mark.parametrize(
    ("kind", "shown"),
    [("confirm", "from Papers & Co at"), ("welcome", "You're in."), ("already-subscribed", "to Papers & Co, but")],
)
def test_transactional_emails_are_plain_text_where_they_are_text(kind, shown):
    subscriber = SubscriberFactory.create(status="pending" if kind == "confirm" else "active")
    send_subscriber_email(subscriber.pk, kind)
    (message,) = mail.outbox
    text, html = parts(message)

    assert "Papers & Co" in message.subject and "&amp;" not in message.subject
    assert shown in text
    assert "&amp;" not in text and "&#x27;" not in text
    assert html is not None and "&amp;" in html


def test_a_text_template_is_not_autoescaped_but_html_is():
    subject, text, html = emails.render("confirm", {"confirm_url": "https://x.example/c?a=1&b=2"})
    assert "https://x.example/c?a=1&b=2" in text
    assert html is not None and "https://x.example/c?a=1&amp;b=2" in html
    assert subject == "Confirm your Papers & Co subscription"


def edition_with_hostile_text(kind: str = "daily") -> Edition:
    paper = PaperFactory.create(title=TITLE, abstract="It holds when x<i and j>n, R&D's way.", github_url=CODE)
    DailyEntryFactory.create(day=DAY, paper=paper, note=NOTE)
    edition = services.edition_publish(kind=kind, day=DAY)
    assert edition is not None
    return edition


def digest_for(edition: Edition, **fields) -> tuple[Delivery, object]:
    subscriber = SubscriberFactory.create(confirmed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), **fields)
    planning.plan_deliveries(edition, [(subscriber.pk, DAY)])
    row = Delivery.objects.select_related("subscriber", "edition").get(edition=edition, subscriber=subscriber)
    return row, digest_email.build_message(row, subscriber, rendering.rendered_edition(edition))


@pytest.mark.parametrize("tracking", [True, False])
def test_a_digest_text_part_shows_titles_notes_and_links_as_written(client, settings, tracking):
    settings.CLICK_TRACKING = tracking
    _, message = digest_for(edition_with_hostile_text())
    text, html = parts(message)

    assert TITLE in text
    assert "x<i and j>n, R&D's way." in text
    (code,) = [line.split("Code: ", 1)[1] for line in text.splitlines() if "Code: " in line]
    if tracking:  # the tracked link leads to the link as written
        assert "/c/" in code and client.get(urlsplit(code).path)["Location"] == CODE
    else:
        assert code == CODE
    assert "PAPERS & CO" in text
    assert "&amp;" not in text and "&#x27;" not in text and "&lt;" not in text
    assert html is not None
    assert "R&amp;D at scale: the policy&#x27;s outputs when 0&lt;p" in html


def test_the_weekly_subject_is_plain_text():
    edition = edition_with_hostile_text(kind="weekly")
    _, message = digest_for(edition, frequency="weekly")
    assert message.subject.startswith("The week's trending papers")
    assert parsed(message)["Subject"].startswith("The week's trending papers")


def test_a_plain_text_readers_web_view_escapes_their_text(client):
    row, _ = digest_for(edition_with_hostile_text(), email_format="text")
    page = client.get(f"/d/{view_token(row.pk, row.subscriber.link_key)}/")

    assert page.status_code == 200
    body = page.content.decode()
    assert body.startswith("<pre>")
    assert "R&amp;D at scale: the policy&#x27;s outputs when 0&lt;p" in body
    assert "0<p" not in body
