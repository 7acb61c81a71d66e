"""Digest emails: both parts, exact headers, under Gmail's clipping size, escaped, no per-reader queries."""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes, policy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench import email_quality
from newsletter import digest_email, planning, rendering, services
from newsletter.models import Delivery, Edition
from papers.ingest import upsert_records
from papers.models import DailyEntry
from papers.sources.base import PaperRecord
from subscribers.tokens import Purpose, read_token
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 5, 4)
LONG_ABSTRACT = " ".join(["We study a hard problem with a new method and report strong results."] * 25)


def published_edition(papers: int = 5):
    """Papers with everything a source can know of them (the longest digest they can make)."""
    for n in range(papers):
        paper = PaperFactory(
            title=f"Paper number {n}: a realistic, fairly long title about models",
            abstract=LONG_ABSTRACT,
            github_url=f"https://github.com/example-organization/repository-{n}",
            github_stars=1234,
            project_url=f"https://example-organization.github.io/project-{n}/",
            thumbnail_url=f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2601.{n:05d}.png",
            organization="Example Research Laboratory",
            submitter="A Long Submitter Name",
            comments=12,
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


def test_fifty_real_papers_stay_under_gmails_clipping_size(fixtures_dir):
    """The recorded HF days' papers (thumbnails, AI summaries, organizations, code, project pages
    as the source gives them; topped up to 50 as the email_quality bench does), with a why line of
    the longest kind under every paper (cut at its 160 characters)."""
    records, _ = email_quality._records()
    assert len(records) == 50
    upsert_records(records, source="hf", default_day=email_quality.DAY)
    DailyEntry.objects.update(status=DailyEntry.Status.APPROVED)
    edition = services.edition_publish(kind="daily", day=email_quality.DAY)
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
    assert html.count('<img class="thumb"') == 50 and html.count(">Project page</a>") > 10
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


def test_a_paper_without_an_arxiv_id_links_to_a_search_for_its_title_not_the_home_page(settings):
    """A pasted text-dump paper has no page here (the site does not list it): its link is arXiv's
    title search, where the reader can find it. (Direct links; tracked ones lead to the same:
    test_clicks.py.)"""
    settings.CLICK_TRACKING = False
    paper = PaperFactory(title="Curriculum by compression & more", arxiv_id=None, project_url="", pdf_url="")
    DailyEntryFactory(day=DAY, paper=paper, upvotes=5)
    edition = services.edition_publish(kind="daily", day=DAY)
    (row,) = planned(edition)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    search = "https://arxiv.org/search/?query=Curriculum+by+compression+%26+more&searchtype=title"
    assert f"Read: {search}" in message.body
    assert f'href="{search.replace("&", "&amp;")}"' in message.alternatives[0][0]
    assert "Read: http://127.0.0.1:8000\n" not in message.body


RICH = {
    "arxiv_id": "2608.19880",
    "title": "EnvHarness: Awakening Static Worlds for Agent Learning",
    "abstract": "LLM agents learn by interacting with environments. The rest is long.",
    "ai_summary": "EnvHarness reshapes static environments via plugins.",
    "pdf_url": "https://arxiv.org/pdf/2608.19880v2",
    "github_url": "https://github.com/google-research/envharness",
    "github_stars": 8,
    "project_url": "https://envharness.com/",
    "thumbnail_url": "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2608.19880.png",
    "comments": 1,
    "organization": "Google",
    "submitter": "taesiri",
    "author_names": ["Chengsong Huang", "Zifeng Wang", "Rujun Han", "Chen-Yu Lee"],
}


def one_paper_digest(settings, **fields):
    """The digest of one paper, its links direct (the tracked ones lead to these: test_clicks.py)."""
    settings.SITE_URL = "https://paperboy.example"
    settings.CLICK_TRACKING = False
    settings.POSTAL_ADDRESS = "Paperboy, 1 Example Street, Springfield"
    DailyEntryFactory(day=DAY, paper=PaperFactory(**fields), upvotes=163)
    edition = services.edition_publish(kind="daily", day=DAY)
    (row,) = planned(edition)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    return message.alternatives[0][0], message.body


def test_a_paper_shows_all_the_source_knows_in_both_parts(settings):
    html, text = one_paper_digest(settings, **RICH)
    page = "https://paperboy.example/papers/2608.19880/"
    assert re.search(rf'<p class="title" style="[^"]+">1\. <a href="{re.escape(page)}"[^>]*>EnvHarness', html)
    assert "Chengsong Huang, Zifeng Wang, Rujun Han et al. · Google · submitted by taesiri" in html
    assert "▲&nbsp;163 upvotes · 1&nbsp;comment · ★&nbsp;8 GitHub stars" in html
    assert "EnvHarness reshapes static environments via plugins." in html, "the AI summary, not the abstract"
    assert "LLM agents learn" not in html
    links = re.findall(r'<p class="links"[^>]*>(.*?)</p>', html)[0]
    assert re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', links)[:5] == [
        ("https://arxiv.org/abs/2608.19880", "arXiv"),
        ("https://arxiv.org/pdf/2608.19880v2", "PDF"),
        ("https://huggingface.co/papers/2608.19880", "Hugging Face"),
        ("https://github.com/google-research/envharness", "Code"),
        ("https://envharness.com/", "Project page"),
    ]
    (image,) = re.findall(r"<img [^>]+>", html)
    assert f'src="{RICH["thumbnail_url"]}"' in image, "loaded from its own origin, nothing added to it"
    assert 'width="120"' in image and 'height="68"' in image and 'alt="First page of the paper"' in image
    assert "display:block" in image and "border:0" in image

    lines = text.splitlines()
    assert "1. EnvHarness: Awakening Static Worlds for Agent Learning" in lines
    assert "   Chengsong Huang, Zifeng Wang, Rujun Han et al. · Google · submitted by" in lines, "wrapped"
    assert "   taesiri" in lines
    assert "   ▲ 163 upvotes · 1 comment · ★ 8 GitHub stars" in lines
    assert "   EnvHarness reshapes static environments via plugins." in lines
    for line in [
        f"   Read: {page}",
        "   arXiv: https://arxiv.org/abs/2608.19880",
        "   PDF: https://arxiv.org/pdf/2608.19880v2",
        "   Hugging Face: https://huggingface.co/papers/2608.19880",
        "   Code: https://github.com/google-research/envharness",
        "   Project page: https://envharness.com/",
    ]:
        assert line in lines, f"{line!r}: each link on its own line"
    assert max(len(line) for line in lines if "://" not in line) <= rendering.TEXT_WIDTH


def test_a_paper_with_only_what_2024_sources_had_shows_no_empty_pieces(settings):
    """No thumbnail, summary, organization, submitter, stars, comments, code or project page."""
    abstract = (
        "High-resolution Large Multimodal Models (LMMs) encounter the challenges of excessive visual "
        "tokens and quadratic visual complexity. Current high-resolution LMMs address the quadratic "
        "complexity while still generating excessive visual tokens. However, the redundancy in visual "
        "tokens is the key problem, as it leads to more substantial compute, e.g. in attention. We "
        "propose ConvLLaVA, which employs ConvNeXt, a hierarchical backbone, as the visual encoder."
    )
    html, text = one_paper_digest(settings, arxiv_id="2405.15738", abstract=abstract, author_names=["Chunjiang Ge"])
    assert "<img" not in html and "star" not in html and "comment" not in html and "submitted" not in html
    assert "Code" not in html and "Project page" not in html
    shown = abstract[: abstract.index(" However")]  # the third sentence would pass 300 characters
    assert f">{shown}</p>" in html, "the abstract's first sentences, cut where one ends"
    assert "   Chunjiang Ge\n   ▲ 163 upvotes\n" in text
    assert "Code:" not in text and "Project page:" not in text and "star" not in text


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2608.19880.png",
        "//cdn-thumbnails.huggingface.co/x.png",
        "/static/x.png",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "https:///no-host.png",
    ],
)
def test_a_thumbnail_not_on_https_is_not_shown(settings, url):
    html, _ = one_paper_digest(settings, **{**RICH, "thumbnail_url": url})
    assert "<img" not in html


@pytest.mark.parametrize(
    ("kind", "label", "path"),
    [
        ("daily", "Every paper of the day", "/papers/2026-05-04/"),
        ("weekly", "Every paper of the week", "/papers/week/2026-W19/"),
    ],
)
def test_a_link_to_the_whole_list_on_the_site_and_the_postal_address_in_both_parts(settings, client, kind, label, path):
    settings.SITE_URL = "https://paperboy.example"
    settings.POSTAL_ADDRESS = "Paperboy, 1 Example Street, Springfield"
    DailyEntryFactory(day=DAY, paper=PaperFactory())
    edition = services.edition_publish(kind=kind, day=DAY)
    (row,) = planned(edition, frequency=kind)
    message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
    html, text = message.alternatives[0][0], message.body
    assert re.search(rf'<a href="https://paperboy\.example{re.escape(path)}"[^>]*>{label} on Paperboy →</a>', html)
    assert f"{label} on Paperboy:\nhttps://paperboy.example{path}\n" in text
    assert client.get(path).status_code == 200, "the page exists"
    assert "Paperboy, 1 Example Street, Springfield" in html
    assert text.rstrip().endswith("Paperboy, 1 Example Street, Springfield")


def test_the_editions_page_on_the_site_shows_what_the_digest_shows(settings, client):
    one_paper_digest(settings, **RICH)
    edition = Edition.objects.get()
    page = client.get(reverse("newsletter:archive_edition", args=[edition.pk])).content.decode()
    assert '1. <a href="/papers/2608.19880/">EnvHarness' in page
    assert "Chengsong Huang, Zifeng Wang, Rujun Han et al. · Google · submitted by taesiri" in page
    assert "▲ 163 upvotes · 1 comment · ★ 8 GitHub stars" in page
    assert "EnvHarness reshapes static environments via plugins." in page
    for url in [
        "https://arxiv.org/abs/2608.19880",
        "https://github.com/google-research/envharness",
        RICH["thumbnail_url"],
    ]:
        assert f'="{url}"' in page
    assert 'alt="First page of the paper"' in page
    assert '<a href="/papers/2026-05-04/">Every paper of the day →</a>' in page
