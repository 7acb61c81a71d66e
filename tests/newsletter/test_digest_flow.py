"""The digest seen from outside: the command, the beat tick, feedback links, archive and feeds."""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from newsletter import planning, services, tasks
from newsletter.models import Delivery, Edition, Feedback
from subscribers.tokens import Purpose, make_token
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 6, 1)
CONFIRMED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

PAPERS = {
    "protein": ("Protein structure prediction from single sequences", "We predict protein folding and structure."),
    "rlhf": ("Reward models for RLHF alignment", "Reinforcement learning from human feedback for alignment."),
    "speech": ("Streaming speech recognition", "Low latency automatic speech recognition for audio streams."),
    "diffusion": ("Faster diffusion image generation", "Diffusion models generate images with fewer steps."),
}


@pytest.fixture
def day():
    papers = {}
    for rank, (key, (title, abstract)) in enumerate(PAPERS.items(), start=1):
        papers[key] = PaperFactory(title=title, abstract=abstract)
        DailyEntryFactory(day=DAY, paper=papers[key], rank=rank, upvotes=50 - rank)
    return papers


def readers():
    return {
        interest: SubscriberFactory(
            email=f"{interest.split()[0]}@example.org", interests=interest, papers_per_digest=2, confirmed_at=CONFIRMED
        )
        for interest in ("protein folding", "speech recognition")
    }


def test_send_digest_sends_each_reader_their_own_digest(day, django_capture_on_commit_callbacks):
    people = readers()
    out = io.StringIO()
    call_command("send_digest", "--date", DAY.isoformat(), stdout=out)

    assert out.getvalue().strip() == (
        "Daily digest 2026-06-01: 2 planned, 2 sent, 0 failed, 0 skipped (nothing matched), 0 suppressed, "
        "0 left for retry"
    )
    by_reader = {message.to[0]: message for message in mail.outbox}
    assert set(by_reader) == {"protein@example.org", "speech@example.org"}
    first_titles = {
        address: re.search(r"^1\. (.+)$", message.body, re.MULTILINE).group(1) for address, message in by_reader.items()
    }
    assert first_titles[people["protein folding"].email] == PAPERS["protein"][0]
    assert first_titles[people["speech recognition"].email] == PAPERS["speech"][0]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}

    again = io.StringIO()
    call_command("send_digest", "--date", DAY.isoformat(), stdout=again)
    assert again.getvalue().startswith("Daily digest 2026-06-01: 0 planned, 0 sent")
    assert len(mail.outbox) == 2, "running the command twice sends nothing twice"


def test_dry_run_stores_and_sends_nothing(day):
    readers()
    out = io.StringIO()
    call_command("send_digest", "--date", DAY.isoformat(), "--dry-run", stdout=out)
    assert "2 readers would be planned, 2 would get a digest" in out.getvalue()
    assert not Delivery.objects.exists() and mail.outbox == []


def test_send_a_test_to_any_address(day):
    out = io.StringIO()
    call_command("send_digest", "--date", DAY.isoformat(), "--to", "editor@example.org", stdout=out)
    (message,) = mail.outbox
    assert message.to == ["editor@example.org"] and message.subject.startswith("[TEST] ")
    assert not Delivery.objects.exists()
    with pytest.raises(CommandError, match="not an email address"):
        call_command("send_digest", "--to", "editor@example.org\nBcc: x@y.org")


def test_nothing_approved_is_a_clear_error():
    with pytest.raises(CommandError, match="No approved papers"):
        call_command("send_digest", "--date", DAY.isoformat())


def test_beat_tick_publishes_plans_and_sends(day, django_capture_on_commit_callbacks, settings, monkeypatch):
    people = readers()
    for subscriber in people.values():
        subscriber.send_hour, subscriber.time_zone = 0, "UTC"
        subscriber.save()
    settings.DIGEST_CUTOFF_HOUR = 0
    now = dt.datetime(2026, 6, 1, 22, 5, tzinfo=dt.UTC)
    monkeypatch.setattr("django.utils.timezone.now", lambda: now)

    with django_capture_on_commit_callbacks(execute=True):
        summary = tasks.tick.apply().get()

    assert summary["published"] == 1 and summary["planned"] == 2 and summary["dispatched"] == 2
    assert len(mail.outbox) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.tick.apply().get()["planned"] == 0
    assert len(mail.outbox) == 2


def test_feedback_link_asks_then_records_and_changes_the_next_ranking(client, day):
    reader = SubscriberFactory(interests="", papers_per_digest=1, confirmed_at=CONFIRMED)
    token = make_token(reader, Purpose.FEEDBACK)
    url = reverse("newsletter:feedback", args=[token, day["speech"].pk, "more"])

    page = client.get(url)
    assert page.status_code == 200 and "More papers like this?" in page.text
    assert not Feedback.objects.exists(), "opening the link (a mail scanner) records nothing"
    done = client.post(url)
    assert "Thanks" in done.text
    assert Feedback.objects.get().vote == 1

    # The next day brings a similar paper and a more popular, unrelated one.
    next_day = DAY + dt.timedelta(days=1)
    similar = PaperFactory(title="Speech recognition on device", abstract="Automatic speech recognition, streaming.")
    popular = PaperFactory(title="A popular paper on databases", abstract="Query optimizers and indexes.")
    DailyEntryFactory(day=next_day, paper=similar, upvotes=10)
    DailyEntryFactory(day=next_day, paper=popular, upvotes=90)
    edition = services.edition_publish(kind="daily", day=next_day)
    planning.plan_deliveries(edition, [(reader.pk, next_day)])
    assert Delivery.objects.get(edition=edition).paper_ids == [similar.pk]


def test_less_like_this_keeps_a_paper_out(client, day):
    reader = SubscriberFactory(interests="protein folding", papers_per_digest=4, confirmed_at=CONFIRMED)
    token = make_token(reader, Purpose.FEEDBACK)
    client.post(reverse("newsletter:feedback", args=[token, day["protein"].pk, "less"]))
    edition = services.edition_publish(kind="daily", day=DAY)
    planning.plan_deliveries(edition, [(reader.pk, DAY)])
    assert day["protein"].pk not in Delivery.objects.get().paper_ids


def test_forged_feedback_links_are_refused(client, day):
    reader = SubscriberFactory()
    wrong_purpose = make_token(reader, Purpose.UNSUBSCRIBE)
    response = client.post(reverse("newsletter:feedback", args=[wrong_purpose, day["rlhf"].pk, "more"]))
    assert response.status_code == 400
    assert client.get(f"/f/{make_token(reader, Purpose.FEEDBACK)}/{day['rlhf'].pk}/maybe/").status_code == 404
    assert not Feedback.objects.exists()


def test_public_archive_lists_published_editions(client, day):
    edition = services.edition_publish(kind="daily", day=DAY)
    Edition.objects.create(kind="daily", period_start=DAY + dt.timedelta(days=1), period_end=DAY)  # a draft
    listing = client.get(reverse("newsletter:archive")).text
    assert "Trending papers for Monday, June 1" in listing
    assert listing.count('<li><a href="/digests/') == 1, "drafts are not public"
    detail = client.get(reverse("newsletter:archive_edition", args=[edition.pk])).text
    assert all(title in detail for title, _ in PAPERS.values())
    assert "/unsubscribe/" not in detail and "/preferences/" not in detail, "no personal links in public"


@pytest.mark.parametrize(("name", "item_tag"), [("newsletter:feed", "item"), ("newsletter:feed_atom", "entry")])
def test_feeds_of_each_days_papers(client, day, name, item_tag):
    DailyEntryFactory(day=DAY, paper=PaperFactory(title="Hidden <b>one</b>"), status="hidden")
    response = client.get(reverse(name))
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    titles = [element.text for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "title"]
    assert all(title in titles for title, _ in PAPERS.values())
    assert "Hidden <b>one</b>" not in titles
    items = [element for element in root.iter() if element.tag.rsplit("}", 1)[-1] == item_tag]
    assert len(items) == len(PAPERS)
