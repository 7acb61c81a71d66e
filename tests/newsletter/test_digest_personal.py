"""What a digest says to one reader (issue 12, part 3): "why this paper" under each paper in both
parts, the personal subject and preheader, and "nothing matched your interests" — in the email
sent (through a real SMTP server), the web view, the admin preview and the test send. Delivery
rows get their reasons here directly, as the planner writes them."""

from __future__ import annotations

import datetime as dt
import html as html_module
import re

import pytest
from django.core import mail
from django.db import connection
from django.db.models import JSONField, Value
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from newsletter import digest_email, planning, rendering, sending, services
from newsletter.models import Delivery, Edition
from papers.models import DailyEntry
from subscribers.models import Subscriber
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 5, 4)  # a Monday
CONFIRMED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TEMPO = "TEMPO: Prompt-based Generative Pre-trained Transformer for Time Series Forecasting"
TITLES = [
    "Scaling laws, surveyed",  # pinned by the editor
    TEMPO,
    "Convolutional networks, revisited",
    "Diffusion models learn physics",
    "Retrieval for long documents",
]
REASONS = [
    ["pick"],
    ["interest:time series forecasting"],
    ["author:Yann LeCun"],
    ["liked", "interest:diffusion"],
    ["trending"],
]
WHY = {
    TITLES[0]: "Editor's pick",
    TITLES[1]: "Matches your interest: time series forecasting",
    TITLES[2]: "By Yann LeCun, whom you follow",
    TITLES[3]: "Matches your interest: diffusion · similar to a paper you liked",
    TITLES[4]: "Trending today",
}
TEMPO_SHORT = "TEMPO: Prompt-based Generative Pre-trained Transformer for…"  # cut at a word, 60 characters at most
PERSONAL_SUBJECT = f"{TEMPO_SHORT} — and 4 more papers for you"
EDITION_SUBJECT = "Trending papers for Monday, May 4"
HIDDEN_DIV = re.compile(r'<div style="display:none;[^"]*">(.*?)</div>', re.DOTALL)


@pytest.fixture
def edition() -> Edition:
    for rank, title in enumerate(TITLES):
        DailyEntryFactory(day=DAY, paper=PaperFactory(title=title), upvotes=100 - rank, pinned=rank == 0)
    published = services.edition_publish(kind="daily", day=DAY)
    assert published is not None and published.pinned_ids == [published.paper_ids[0]]
    return published


def planned(edition: Edition, count: int = 1, **fields) -> list[Delivery]:
    """``count`` readers planned for ``edition``, every paper in listing order, their reasons as REASONS."""
    fields.setdefault("papers_per_digest", 10)
    readers = [SubscriberFactory.create(confirmed_at=CONFIRMED, **fields) for _ in range(count)]
    planning.plan_deliveries(edition, [(reader.pk, DAY) for reader in readers])
    Delivery.objects.filter(edition=edition).update(paper_ids=edition.paper_ids, reasons=REASONS)
    return list(Delivery.objects.filter(edition=edition).select_related("edition", "subscriber").order_by("pk"))


def built(row: Delivery):
    return digest_email.build_message(row, row.subscriber, rendering.rendered_edition(row.edition))


def text_whys(text: str) -> dict[str, str | None]:
    """Each paper's title in the text part, and its why line (None: no line)."""
    found = {}
    text = text.replace("\r\n", "\n")  # as received over SMTP
    for block in re.findall(r"^\d+\. .*?(?=^\d+\. |^--$)", text, re.MULTILINE | re.DOTALL):
        lines = block.splitlines()
        whys = [line.removeprefix("   Why: ") for line in lines if line.startswith("   Why: ")]
        stats = next(n for n, line in enumerate(lines) if line.startswith("   ▲ "))
        assert len(whys) <= 1 and (not whys or lines[stats + 1].startswith("   Why: ")), block
        found[lines[0].split(". ", 1)[1]] = whys[0] if whys else None
    return found


def html_whys(html: str) -> dict[str, str | None]:
    """Each paper's title in the HTML part, and its why line as shown (unescaped; None: no line)."""
    found = {}
    for block in re.findall(r'<td class="paper".*?</td>', html, re.DOTALL):
        title = re.findall(r'<p class="title"[^>]*>\d+\. <a [^>]*>(.*?)</a>', block)[0]
        whys = re.findall(r'<p class="why" style="[^"]+">(.*?)</p>', block)
        assert len(whys) <= 1, block
        found[html_module.unescape(title)] = html_module.unescape(whys[0]) if whys else None
    return found


def preheader(html: str) -> str:
    return html_module.unescape(HIDDEN_DIV.findall(html)[0])


def test_why_lines_under_every_paper_in_both_parts(edition):
    (row,) = planned(edition)
    message = built(row)
    html = message.alternatives[0][0]

    assert text_whys(message.body) == WHY
    assert html_whys(html) == WHY
    assert 'class="pin"' not in html, "the why line says editor's pick: no second badge"
    assert "@@" not in html and "@@" not in message.body
    dark = re.search(r"@media \(prefers-color-scheme: dark\) \{.*?\n  \}", html, re.DOTALL).group(0)
    assert ".why {" in dark, "the why line has its dark-mode colour"


def test_personal_subject_and_preheader(edition):
    (row,) = planned(edition)
    message = built(row)
    # The first paper chosen for the reader, not the editor's pick every reader gets.
    assert message.subject == PERSONAL_SUBJECT
    assert preheader(message.alternatives[0][0]) == (
        f"Also for you: {TITLES[0]} · Convolutional networks, revisited · Diffusion models learn physics"
    )

    row.paper_ids, row.reasons = row.paper_ids[1:3], REASONS[1:3]
    assert built(row).subject == f"{TEMPO_SHORT} — and 1 more paper for you"
    row.paper_ids, row.reasons = row.paper_ids[:1], REASONS[1:2]
    alone = built(row)
    assert alone.subject == f"{TEMPO_SHORT}"
    assert preheader(alone.alternatives[0][0]) == "", "no other paper to name"


def test_a_reader_with_nothing_personal_gets_the_editions_subject(edition):
    (row,) = planned(edition)
    row.reasons = [["pick"], *[["trending"]] * 4]  # no interests of their own
    message = built(row)
    assert message.subject == EDITION_SUBJECT
    assert preheader(message.alternatives[0][0]) == f"{TITLES[0]} · {TEMPO_SHORT} · Convolutional networks, revisited"
    assert text_whys(message.body)[TITLES[4]] == "Trending today"


def test_the_editors_own_subject_is_kept_with_a_personal_preheader(edition):
    edition.subject = "Special issue: forecasting week"
    edition.save()
    (row,) = planned(edition)
    message = built(row)
    assert message.subject == "Special issue: forecasting week"
    assert preheader(message.alternatives[0][0]) == f"{TITLES[0]} · {TEMPO_SHORT} · Convolutional networks, revisited"
    assert text_whys(message.body) == WHY


def test_nothing_matched_is_said_at_the_top_of_both_parts(edition):
    (row,) = planned(edition)
    Delivery.objects.filter(pk=row.pk).update(unmatched=True, reasons=[["pick"], *[["trending"]] * 4])
    row.refresh_from_db()
    message = built(row)
    html, text = message.alternatives[0][0], message.body
    preferences = re.search(r"^Your preferences: (\S+)$", text, re.MULTILINE).group(1)

    assert text.splitlines()[:4] == [
        f"PAPERBOY — {EDITION_SUBJECT}",
        "",
        "Nothing matched your interests today, so here are the day's top papers.",
        f"Tune your interests: {preferences}",
    ]
    notice = re.search(r'<p class="notice" style="[^"]+">(.*?)</p>', html).group(1)
    assert html_module.unescape(re.sub(r"<[^>]+>", "", notice)) == (
        "Nothing matched your interests today, so here are the day's top papers. Tune your interests"
    )
    assert f'href="{html_module.escape(preferences)}"' in notice
    assert html.index('class="notice"') < html.index('class="paper"'), "at the top"
    # Nothing in the subject pretends the digest was chosen for them.
    assert message.subject == EDITION_SUBJECT
    assert preheader(html).startswith(
        "Nothing matched your interests today. Top papers: Scaling laws, surveyed · TEMPO"
    )

    (other,) = planned(edition)[1:]
    assert "Nothing matched" not in built(other).body and 'class="notice"' not in built(other).alternatives[0][0]


def test_hostile_phrases_are_escaped_and_stay_on_one_line(edition):
    (row,) = planned(edition)
    hostile = 'interest:<img src=x onerror="alert(1)">\r\nBcc: victim@example.org ' + "long " * 40
    row.reasons = [[hostile], [], [], [], []]
    message = built(row)
    html, text = message.alternatives[0][0], message.body

    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; Bcc: victim@example.org" in html
    why = text_whys(text)[TITLES[0]]
    assert why == 'Matches your interest: <img src=x onerror="alert(1)"> Bcc: victim@example.org…', "cut at a word"
    assert "\r" not in text and "\nBcc:" not in text
    assert message.subject == f"{TITLES[0]} — and 4 more papers for you", "the phrase is in no header"
    assert html.count('class="pin"') == 1, "the why line does not say editor's pick: the badge does"


def test_a_paper_withdrawn_after_planning_takes_its_reasons_with_it(edition):
    (row,) = planned(edition)
    DailyEntry.objects.filter(paper_id=edition.paper_ids[1]).update(status=DailyEntry.Status.HIDDEN)
    message = built(row)
    expected = {title: why for title, why in WHY.items() if title != TEMPO}
    assert text_whys(message.body) == expected
    assert html_whys(message.alternatives[0][0]) == expected
    assert message.subject == "Convolutional networks, revisited — and 3 more papers for you"


@pytest.mark.parametrize(
    "reasons",
    [[], [["liked"]], None, {"0": ["liked"]}, "liked", [None, "liked", [1, None], ["unknown:code"], ["liked", 2]]],
    ids=["none", "shorter", "null", "a-dict", "a-string", "garbage-entries"],
)
def test_rows_without_usable_reasons_render_without_why_lines(edition, reasons):
    (row,) = planned(edition)
    Delivery.objects.filter(pk=row.pk).update(reasons=Value(reasons, JSONField()))  # JSON null too
    row.refresh_from_db()
    message = built(row)
    html = message.alternatives[0][0]
    expected = {title: None for title in TITLES}
    if reasons == [["liked"]]:
        expected[TITLES[0]] = "Similar to a paper you liked"
    if isinstance(reasons, list) and len(reasons) == 5:
        expected[TITLES[4]] = "Similar to a paper you liked"
    assert text_whys(message.body) == expected
    assert html_whys(html) == expected
    assert html.count('class="pin"') == 1, "the editor's pick keeps its badge"
    assert "@@" not in html and "@@" not in message.body


def test_no_queries_per_reader_with_reasons(edition):
    rows = planned(edition, 20)
    Delivery.objects.filter(pk__in=[row.pk for row in rows[::2]]).update(unmatched=True)
    rows = list(Delivery.objects.filter(edition=edition).select_related("edition", "subscriber").order_by("pk"))
    rendered = rendering.rendered_edition(edition)
    with CaptureQueriesContext(connection) as queries:
        messages = [digest_email.build_message(row, row.subscriber, rendered) for row in rows]
    assert len(queries) == 0
    assert sum("Nothing matched" in message.body for message in messages) == 10
    assert all("Why: Editor's pick" in message.body for message in messages)


def test_web_view_shows_why_lines_and_the_notice(client, edition):
    (row,) = planned(edition)
    Delivery.objects.filter(pk=row.pk).update(unmatched=True)
    row.refresh_from_db()
    view_url = re.search(r'href="http://127\.0\.0\.1:8000(/d/[^"]+)"', built(row).alternatives[0][0]).group(1)
    page = client.get(view_url).text
    assert html_whys(page) == WHY
    assert "Nothing matched your interests today" in page
    notice = re.search(r'<p class="notice".*?</p>', page).group(0)
    assert "/preferences/" not in notice and "/subscribe/" in notice, "a forwarded view leads to no account"


def test_admin_preview_shows_the_readers_why_lines_and_subject(admin_client, edition):
    (row,) = planned(edition, email="ada@example.org")
    url = reverse("admin:newsletter_edition_preview", args=[edition.pk])

    page = admin_client.get(url, {"subscriber": "ada@example.org"}).text
    assert html_whys(page) == WHY
    assert f'<span id="preview-subject">{html_module.escape(PERSONAL_SUBJECT)}</span>' in page

    text = admin_client.get(url, {"subscriber": "ada@example.org", "format": "text"})
    assert text_whys(text.context["email"].body) == WHY

    Delivery.objects.filter(pk=row.pk).update(unmatched=True)
    page = admin_client.get(url, {"subscriber": "ada@example.org"}).text
    assert "Nothing matched their interests" in page and "Nothing matched your interests today" in page


def test_a_test_send_shows_the_why_lines_of_a_reader_without_interests(edition):
    digest_email.send_test(edition, "editor@example.org")
    (message,) = mail.outbox
    assert message.subject == f"[TEST] {EDITION_SUBJECT}"
    expected = {title: "Trending today" for title in TITLES} | {TITLES[0]: "Editor's pick"}
    assert text_whys(message.body) == expected
    assert html_whys(message.alternatives[0][0]) == expected


@pytest.mark.usefixtures("digest_settings")
def test_sent_through_smtp_with_why_lines_and_the_personal_subject(edition, smtp_server, use_smtp):
    inbox = smtp_server()
    use_smtp(inbox.port)
    rows = planned(edition, 2)
    rows += planned(edition, 1, email_format=Subscriber.Format.TEXT)[2:]
    Delivery.objects.filter(pk=rows[1].pk).update(unmatched=True)

    outcome = sending.send_chunk([row.pk for row in rows])

    assert (outcome.sent, outcome.failed) == (3, 0)
    personal, unmatched, text_only = (inbox.messages_to(row.subscriber.email)[0] for row in rows)
    assert personal["Subject"] == PERSONAL_SUBJECT
    assert text_whys(personal.get_body(("plain",)).get_content()) == WHY
    assert html_whys(personal.get_body(("html",)).get_content()) == WHY
    assert unmatched["Subject"] == EDITION_SUBJECT
    assert "Nothing matched your interests today" in unmatched.get_body(("plain",)).get_content()
    assert "Nothing matched your interests today" in unmatched.get_body(("html",)).get_content()
    assert text_only["Subject"] == PERSONAL_SUBJECT and text_only.get_body(("html",)) is None
    assert text_whys(text_only.get_body(("plain",)).get_content()) == WHY
