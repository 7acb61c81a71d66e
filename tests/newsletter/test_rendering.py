"""Digest emails: both parts, exact headers, under Gmail's clipping size, escaped, no per-reader queries."""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes, policy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from newsletter import digest_email, planning, rendering, services
from newsletter.models import Delivery
from papers.ingest import upsert_records
from papers.sources.base import PaperRecord
from subscribers.tokens import Purpose, read_token
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 5, 4)
LONG_ABSTRACT = " ".join(["We study a hard problem with a new method and report strong results."] * 25)


def published_edition(papers: int = 5):
    for n in range(papers):
        paper = PaperFactory(
            title=f"Paper number {n}: a realistic, fairly long title about models",
            abstract=LONG_ABSTRACT,
            github_url=f"https://github.com/example/repo{n}",
            author_names=[f"Author {n}-{k}" for k in range(12)],
        )
        DailyEntryFactory(day=DAY, paper=paper, upvotes=100 - n)
    return services.edition_publish(kind="daily", day=DAY)


def planned(edition, count: int = 1, **fields) -> list[Delivery]:
    fields.setdefault("papers_per_digest", 10)
    subscribers = [
        SubscriberFactory.create(confirmed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), **fields) for _ in range(count)
    ]
    planning.plan_deliveries(edition, [(subscriber.pk, DAY) for subscriber in subscribers])
    return list(Delivery.objects.filter(edition=edition).select_related("subscriber", "edition").order_by("pk"))


def mime(message) -> object:
    return message_from_bytes(message.message().as_bytes(), policy=policy.default)


def test_both_parts_and_exact_headers():
    edition = published_edition()
    row, other = planned(edition, 2)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    parsed = mime(message)

    unsubscribe = parsed["List-Unsubscribe"].strip()
    assert re.fullmatch(r"<http://127\.0\.0\.1:8000/unsubscribe/[^>\s]+/>", unsubscribe)
    token = unsubscribe.rsplit("/unsubscribe/", 1)[1].rstrip("/>")
    assert read_token(token, Purpose.UNSUBSCRIBE) == row.subscriber
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "Paperboy daily digest <daily.digest.127.0.0.1>"
    assert parsed["Subject"] == "Trending papers for Monday, May 4"
    assert parsed.get_body(("plain",)) is not None and parsed.get_body(("html",)) is not None
    assert message.metadata == {"delivery_id": str(row.pk), "edition_id": str(edition.pk)}
    assert message.tags == ["digest-daily"]

    other_message = digest_email.build_message(other, other.subscriber, rendering.rendered_edition(edition))
    assert parsed["Message-ID"] != mime(other_message)["Message-ID"]
    assert parsed["List-Unsubscribe"] != mime(other_message)["List-Unsubscribe"], "links are personal"


def test_text_only_readers_get_no_html():
    edition = published_edition()
    (row,) = planned(edition, email_format="text")
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    assert message.alternatives == []
    assert "1. Paper number 0" in message.body
    assert "Unsubscribe: http://127.0.0.1:8000/unsubscribe/" in message.body


def test_every_chosen_paper_with_its_links_in_the_readers_order():
    edition = published_edition()
    (row,) = planned(edition)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    html = message.alternatives[0][0]
    titles = re.findall(r"Paper number (\d+)", message.body)
    assert [int(n) for n in titles] == list(range(5))
    for paper_id in row.paper_ids:
        assert "/f/" in html and f"/{paper_id}/more/" in html and f"/{paper_id}/less/" in html
    assert "Author 0-0, Author 0-1, Author 0-2 et al." in html
    assert 'style="' in html, "CSS inlined"
    assert "@@" not in html and "@@" not in message.body, "no marker left behind"
    assert "<script" not in html and "http://fonts" not in html


def test_fifty_papers_stay_under_gmails_clipping_size():
    """With a why line of the longest kind under every paper (cut at its 160 characters)."""
    edition = published_edition(papers=50)
    (row,) = planned(edition, papers_per_digest=50)
    assert len(row.paper_ids) == 50
    longest = [
        "pick",
        "interest:multimodal large language models",
        "interest:clinical question answering",
        "interest:time series forecasting",
        "author:Maximilian Wolfeschlegelsteinhausenberger",
        "liked",
    ]
    row.reasons = [longest] * 50
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    html = message.alternatives[0][0]
    assert html.count('<p class="why"') == 50
    size = len(html.encode())
    assert size < 102_000, f"{size} bytes: Gmail clips above 102 KB (1 KB = 1000 bytes, the stricter reading)"


def test_hostile_titles_are_escaped():
    record = PaperRecord(
        arxiv_id="2605.06666",
        title='Evil "><svg/onload=alert(1)> <3 & co',
        abstract="<script>alert(1)</script> & friends",
        upvotes=5,
        listed_on=DAY,
    )
    upsert_records([record], source="hf")
    edition = services.edition_publish(kind="daily", day=DAY)
    (row,) = planned(edition)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    html = message.alternatives[0][0]
    assert "<svg" not in html and "<script>alert" not in html
    assert "Evil &quot;&gt;" in html and "&lt;3 &amp; co" in html


def test_no_queries_per_reader_when_rendering_a_chunk():
    edition = published_edition()
    rows = planned(edition, 20)
    rendered = rendering.rendered_edition(edition)
    with CaptureQueriesContext(connection) as queries:
        for row in rows:
            digest_email.build_message(row, row.subscriber, rendered)
    assert len(queries) == 0


def test_shared_parts_are_rendered_once_per_edition(monkeypatch):
    edition = published_edition()
    rows = planned(edition, 5)
    calls = []
    real = rendering.render_edition
    monkeypatch.setattr(rendering, "render_edition", lambda *a, **k: calls.append(1) or real(*a, **k))
    rendering.forget_renderings()
    for row in rows:
        digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    assert len(calls) == 1
    edition.intro = "A note from the editor."
    edition.save()
    message = digest_email.build_message(rows[0], rows[0].subscriber, rendering.rendered_edition(edition))
    assert len(calls) == 2 and "A note from the editor." in message.body


def test_view_in_browser_shows_the_same_digest(client):
    edition = published_edition()
    (row,) = planned(edition)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    view_url = re.search(r'href="http://127\.0\.0\.1:8000(/d/[^"]+)"', message.alternatives[0][0]).group(1)
    page = client.get(view_url)
    assert page.status_code == 200
    assert all(f"Paper number {n}:" in page.text for n in range(5))
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert client.get("/d/123:forged/").status_code == 400


def test_a_forwarded_view_link_hands_over_nothing_and_dies_with_the_link_key(client):
    """Whoever gets a forwarded "view in browser" link sees the digest, but cannot open the
    reader's preference center (their address, export, erasure) nor unsubscribe them."""
    edition = published_edition()
    (row,) = planned(edition)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    view_url = re.search(r'href="http://127\.0\.0\.1:8000(/d/[^"]+)"', message.alternatives[0][0]).group(1)
    assert "/preferences/" in message.alternatives[0][0], "the email itself keeps the reader's own links"

    page = client.get(view_url).text
    assert "Paper number 0:" in page
    assert "/preferences/" not in page and "/unsubscribe/" not in page
    assert row.subscriber.email not in page

    row.subscriber.link_key = "rotated"  # erasure or an editor's rotation kills every link, this one too
    row.subscriber.save()
    assert client.get(view_url).status_code == 400


def test_a_paper_without_an_arxiv_id_links_to_a_search_for_its_title_not_the_home_page():
    """A pasted text-dump paper has no page here (the site does not list it): its link is arXiv's
    title search, where the reader can find it."""
    paper = PaperFactory(title="Curriculum by compression & more", arxiv_id=None, project_url="", pdf_url="")
    DailyEntryFactory(day=DAY, paper=paper, upvotes=5)
    edition = services.edition_publish(kind="daily", day=DAY)
    (row,) = planned(edition)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    search = "https://arxiv.org/search/?query=Curriculum+by+compression+%26+more&searchtype=title"
    assert f"Read: {search}" in message.body
    assert f'href="{search.replace("&", "&amp;")}"' in message.alternatives[0][0]
    assert "Read: http://127.0.0.1:8000\n" not in message.body
