"""First-party click tracking (``/c/<token>/<paper>/<kind>/``) and the optional open pixel: the
links of really rendered digests (both parts) on and off, following them with Django's test
client against PostgreSQL, everything a forger or a scanner can send, and that clicks never reach
the ranking."""

from __future__ import annotations

import datetime as dt
import io
import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from newsletter import digest_email, planning, previews, rendering, services
from newsletter.links import click_token, view_token
from newsletter.models import Click, Delivery, Edition
from papers.models import Paper
from subscribers.models import new_link_key
from tests.factories import DailyEntryFactory, PaperFactory, SubscriberFactory
from tests.newsletter.conftest import SITE_URL

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("digest_settings")]
DAY = dt.date(2026, 6, 1)
CONFIRMED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TRACKED = re.compile(re.escape(SITE_URL) + r"/c/([^/\s\"]+)/(\d+)/([a-z]+)/")
URL = re.compile(r"https?://[^\s\"<>]+")


@pytest.fixture
def papers() -> dict[str, Paper]:
    """A paper with every link a source can give, and one with only its arXiv id."""
    full = PaperFactory.create(
        title="Protein structure prediction from single sequences",
        pdf_url="https://arxiv.org/pdf/2601.00001v2",
        github_url="https://github.com/example/protein",
        project_url="https://protein.example.org/",
    )
    bare = PaperFactory.create(title="Streaming speech recognition")
    DailyEntryFactory(day=DAY, paper=full, upvotes=50)
    DailyEntryFactory(day=DAY, paper=bare, upvotes=40)
    return {"full": full, "bare": bare}


@pytest.fixture
def edition(papers) -> Edition:
    published = services.edition_publish(kind="daily", day=DAY)
    assert published is not None
    return published


def planned(edition: Edition, count: int = 1, **fields) -> list[Delivery]:
    readers = [SubscriberFactory.create(confirmed_at=CONFIRMED, papers_per_digest=10, **fields) for _ in range(count)]
    planning.plan_deliveries(edition, [(reader.pk, DAY) for reader in readers])
    rows = Delivery.objects.filter(edition=edition).select_related("edition", "subscriber").order_by("pk")
    return list(rows)


def built(row: Delivery):
    return digest_email.build_message(row, row.subscriber, rendering.rendered_edition(row.edition))


def expected(paper: Paper) -> dict[str, str]:
    """Each link kind's stored URL, written out (not computed by the code under test)."""
    page = f"{SITE_URL}/papers/{paper.arxiv_id}/"
    links = {
        "page": page,
        "arxiv": f"https://arxiv.org/abs/{paper.arxiv_id}",
        "pdf": paper.pdf_url or f"https://arxiv.org/pdf/{paper.arxiv_id}",
        "hf": f"https://huggingface.co/papers/{paper.arxiv_id}",
        "code": paper.github_url or page,
        "project": paper.project_url or page,
    }
    return links


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_every_paper_link_in_both_parts_goes_through_the_redirect(edition, papers):
    row, other = planned(edition, 2)
    message = built(row)
    html, text = message.alternatives[0][0], message.body
    token = click_token(row.pk, row.subscriber.link_key)
    full, bare = papers["full"].pk, papers["bare"].pk
    kinds = {(int(pk), kind) for _, pk, kind in TRACKED.findall(html)}
    assert kinds == {(full, k) for k in ("page", "arxiv", "pdf", "hf", "code", "project")} | {
        (bare, k) for k in ("page", "arxiv", "pdf", "hf")
    }, "each link the paper has, no code or project link for the one without"
    assert {(int(pk), kind) for _, pk, kind in TRACKED.findall(text)} == kinds, "the text part's links too"
    assert {found for found, _, _ in TRACKED.findall(html + text)} == {token}, "one token, the reader's"
    for part in (html, text):
        assert "arxiv.org/abs" not in part and "github.com" not in part and "huggingface.co/papers" not in part
        assert "@@" not in part
    assert re.search(f'<a href="{re.escape(SITE_URL)}/c/{re.escape(token)}/{full}/page/"[^>]*>Protein structure', html)
    assert f"   Code: {SITE_URL}/c/{token}/{full}/code/" in text.splitlines()
    assert click_token(other.pk, other.subscriber.link_key) in built(other).body
    assert token not in built(other).body, "every reader their own token"


def test_off_the_links_are_direct(edition, papers, settings):
    settings.CLICK_TRACKING = False
    (row,) = planned(edition)
    message = built(row)
    html, text = message.alternatives[0][0], message.body
    for part in (html, text):
        assert "/c/" not in part and "@@" not in part
        for url in set(expected(papers["full"]).values()):
            assert url in part
    assert re.search(f'<a href="{re.escape(SITE_URL)}/papers/{papers["full"].arxiv_id}/"[^>]*>Protein structure', html)


def test_following_each_link_records_one_click_and_leads_to_the_stored_url(client, edition, papers):
    (row,) = planned(edition)
    html = built(row).alternatives[0][0]
    links = [
        (url, int(pk), kind) for url in re.findall(r'href="([^"]+)"', html) for _, pk, kind in TRACKED.findall(url)
    ]
    assert len(links) == 10
    first_url, _, first_kind = links[0]
    assert first_kind == "page"
    for url, pk, kind in links:
        response = client.get(path_of(url))
        assert response.status_code == 302
        paper = Paper.objects.get(pk=pk)
        assert response["Location"] == expected(paper)[kind], kind
        assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "no-referrer"
    clicks = {click.paper_id: click.link for click in Click.objects.filter(delivery=row)}
    assert clicks == {papers["full"].pk: "page", papers["bare"].pk: "page"}, "one per paper, the first link's kind"
    row.refresh_from_db()
    assert row.clicked_at is not None and row.opened_at == row.clicked_at, "a click is an open"
    clicked_at = row.clicked_at

    assert client.get(path_of(first_url)).status_code == 302
    assert Click.objects.count() == 2, "clicking again adds no row"
    row.refresh_from_db()
    assert row.clicked_at == clicked_at, "the first click's time stays"


def test_a_digest_really_sent_carries_links_that_count(client, papers):
    reader = SubscriberFactory(confirmed_at=CONFIRMED, papers_per_digest=2, interests="")
    call_command("send_digest", "--date", DAY.isoformat(), stdout=io.StringIO())
    (message,) = mail.outbox
    (row,) = Delivery.objects.filter(subscriber=reader)
    assert row.status == Delivery.Status.SENT
    code = next(url for url in URL.findall(message.body) if url.endswith(f"/{papers['full'].pk}/code/"))
    response = client.get(path_of(code))
    assert response["Location"] == "https://github.com/example/protein"
    assert Click.objects.get().link == "code" and Click.objects.get().delivery == row


def test_a_link_the_paper_lacks_leads_to_its_page(client, edition, papers):
    (row,) = planned(edition)
    token = click_token(row.pk, row.subscriber.link_key)
    bare = papers["bare"]
    for kind in ("code", "project"):
        response = client.get(reverse("newsletter:click", args=[token, bare.pk, kind]))
        assert response.status_code == 302 and response["Location"] == f"{SITE_URL}/papers/{bare.arxiv_id}/"


def test_a_paper_without_an_arxiv_id_leads_to_the_search_for_its_title(client):
    paper = PaperFactory.create(title="Curriculum by compression & more", arxiv_id=None, project_url="", pdf_url="")
    DailyEntryFactory(day=DAY, paper=paper, upvotes=5)
    edition = services.edition_publish(kind="daily", day=DAY)
    assert edition is not None
    (row,) = planned(edition)
    (read,) = [line.split("Read: ")[1] for line in built(row).body.splitlines() if "Read: " in line]
    assert TRACKED.fullmatch(read)
    search = "https://arxiv.org/search/?query=Curriculum+by+compression+%26+more&searchtype=title"
    assert client.get(path_of(read))["Location"] == search
    for kind in ("code", "pdf", "arxiv", "hf"):  # links it has none of: the same search
        assert client.get(path_of(read).replace("/page/", f"/{kind}/"))["Location"] == search
    assert Click.objects.get().link == "page"


def test_a_stored_url_that_is_no_web_address_is_never_a_target(client, edition, papers):
    (row,) = planned(edition)
    Paper.objects.filter(pk=papers["full"].pk).update(project_url="javascript:alert(1)")
    response = client.get(
        reverse("newsletter:click", args=[click_token(row.pk, row.subscriber.link_key), papers["full"].pk, "project"])
    )
    assert response.status_code == 302 and response["Location"] == f"{SITE_URL}/papers/{papers['full'].arxiv_id}/"


def test_forged_dead_and_borrowed_tokens_lead_to_the_page_and_record_nothing(client, edition, papers):
    mine, theirs = planned(edition, 2)
    full = papers["full"]
    good = click_token(mine.pk, mine.subscriber.link_key)
    other = click_token(theirs.pk, theirs.subscriber.link_key)
    forged = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),  # a signature changed
        f"{mine.pk}:{other.partition(':')[2]}",  # my delivery, another reader's signature
        f"{theirs.pk}:{good.partition(':')[2]}",
        f"{mine.pk}",
        f"{mine.pk}:",
        ":",
        "-",
        "99999999999999999999999999:abc",  # no bigint
        f"{mine.pk}:{'x' * 5000}",
        "%E2%98%83:%00",
        "١٢٣:abc",  # digits, but not ASCII ones
        view_token(mine.pk, mine.subscriber.link_key),  # a token of another purpose
    ]
    for token in forged:
        response = client.get(f"/c/{token}/{full.pk}/arxiv/")
        assert response.status_code == 302, token
        assert response["Location"] == f"{SITE_URL}/papers/{full.arxiv_id}/", token
        assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "no-referrer"
        assert not response.cookies, "nothing set on whoever follows a link"
    # The reader's link key changed (erasure, rotation): their old links are dead.
    mine.subscriber.link_key = new_link_key()
    mine.subscriber.save(update_fields=["link_key"])
    assert client.get(f"/c/{good}/{full.pk}/arxiv/")["Location"] == f"{SITE_URL}/papers/{full.arxiv_id}/"
    assert not Click.objects.exists()
    assert Delivery.objects.filter(clicked_at__isnull=False).count() == 0


def test_a_paper_the_delivery_did_not_carry_is_not_counted(client, edition, papers):
    (row,) = planned(edition)
    Delivery.objects.filter(pk=row.pk).update(paper_ids=[papers["bare"].pk])
    elsewhere = PaperFactory(github_url="https://github.com/example/elsewhere")
    token = click_token(row.pk, row.subscriber.link_key)
    response = client.get(reverse("newsletter:click", args=[token, elsewhere.pk, "code"]))
    assert response.status_code == 302 and response["Location"] == "https://github.com/example/elsewhere"
    assert client.get(reverse("newsletter:click", args=[token, papers["full"].pk, "page"])).status_code == 302
    Delivery.objects.filter(pk=row.pk).update(paper_ids={"not": "a list"})  # JSON an editor could type
    assert client.get(reverse("newsletter:click", args=[token, papers["bare"].pk, "page"])).status_code == 302
    assert not Click.objects.exists()


def test_unknown_papers_kinds_and_garbage_are_404_never_500(client, edition, papers):
    (row,) = planned(edition)
    token = click_token(row.pk, row.subscriber.link_key)
    full = papers["full"].pk
    missing = [
        f"/c/{token}/{full}/javascript/",
        f"/c/{token}/{full}/PAGE/",
        f"/c/{token}/{full}/{'a' * 10000}/",
        f"/c/{token}/{Paper.objects.order_by('-pk').first().pk + 1000}/page/",
        f"/c/{token}/{'9' * 40}/page/",  # more than a bigint
        f"/c/{token}/-1/page/",
        f"/c/{token}/abc/page/",
        f"/c/{token}/{full}/",
        f"/c/{token}/{full}/page/extra/",
        f"/c/{token}/{full}/page/https://evil.example/",
        "/c//1/page/",
    ]
    for path in missing:
        assert client.get(path).status_code == 404, path
    assert client.post(f"/c/{token}/{full}/page/").status_code == 405
    assert (
        client.get(f"/c/{token}/{full}/page/?next=https://evil.example/")["Location"]
        == expected(papers["full"])["page"]
    )
    assert not Click.objects.filter(link__in=["javascript"]).exists()
    assert Click.objects.count() == 1, "only the one genuine click (the one with a query string)"


def test_a_head_or_a_prefetch_is_redirected_but_not_counted(client, edition, papers):
    (row,) = planned(edition)
    url = reverse("newsletter:click", args=[click_token(row.pk, row.subscriber.link_key), papers["full"].pk, "pdf"])
    head = client.head(url)
    assert head.status_code == 302 and head["Location"] == papers["full"].pdf_url
    assert client.get(url, headers={"Sec-Purpose": "prefetch"}).status_code == 302
    assert client.get(url, headers={"Purpose": "prefetch"}).status_code == 302
    assert not Click.objects.exists()
    assert client.get(url).status_code == 302
    assert Click.objects.get().link == "pdf"


def test_with_tracking_off_old_links_still_lead_to_the_paper_and_record_nothing(client, edition, papers, settings):
    (row,) = planned(edition)
    url = built(row).alternatives[0][0]
    link = next(found.group(0) for found in TRACKED.finditer(url) if found.group(3) == "hf")
    settings.CLICK_TRACKING = False
    response = client.get(path_of(link))
    assert response.status_code == 302 and response["Location"].startswith("https://huggingface.co/papers/")
    assert not Click.objects.exists()
    row.refresh_from_db()
    assert row.clicked_at is None


def test_the_web_view_shows_the_tracked_links_and_a_forwarded_one_works(client, edition, papers):
    (row,) = planned(edition)
    page = client.get(reverse("newsletter:view_digest", args=[view_token(row.pk, row.subscriber.link_key)]))
    assert page.status_code == 200
    links = TRACKED.findall(page.text)
    assert links and {token for token, _, _ in links} == {click_token(row.pk, row.subscriber.link_key)}
    client.cookies.clear()  # whoever the view was forwarded to
    _, pk, kind = links[0]
    response = client.get(f"/c/{links[0][0]}/{pk}/{kind}/")
    assert response.status_code == 302 and response["Location"] == expected(Paper.objects.get(pk=pk))[kind]


def test_previews_test_sends_and_the_archive_are_not_tracked(client, edition, papers, settings):
    settings.OPEN_TRACKING = True
    (row,) = planned(edition)
    preview = previews.preview_for(edition, row.subscriber)
    assert preview.html and "/c/" not in preview.html and "/o/" not in preview.html, "an editor's clicks are nobody's"
    assert "https://github.com/example/protein" in preview.html
    digest_email.send_test(edition, "editor@example.org")
    (test_send,) = mail.outbox
    assert "/c/" not in test_send.body and "/o/" not in test_send.alternatives[0][0]
    archive = client.get(reverse("newsletter:archive_edition", args=[edition.pk])).text
    assert "/c/" not in archive and "https://github.com/example/protein" in archive


def gif_is_one_transparent_pixel(body: bytes) -> bool:
    """Header, 1x1 screen, a two-colour table (6 bytes), then the graphic control extension with
    its transparency flag set, and the trailer."""
    width, height = int.from_bytes(body[6:8], "little"), int.from_bytes(body[8:10], "little")
    transparent = body[19:21] == b"!\xf9" and body[22] & 1
    return body.startswith(b"GIF89a") and (width, height) == (1, 1) and bool(transparent) and body.endswith(b";")


def test_no_open_pixel_unless_the_operator_turns_it_on(client, edition, papers):
    (row,) = planned(edition)
    message = built(row)
    assert (
        "/o/" not in message.alternatives[0][0]
        and '<img src="https://paperboy.example/o' not in message.alternatives[0][0]
    )
    token = click_token(row.pk, row.subscriber.link_key)
    response = client.get(reverse("newsletter:open_pixel", args=[token]))
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert gif_is_one_transparent_pixel(response.content)
    row.refresh_from_db()
    assert row.opened_at is None, "off: an old digest's pixel records nothing"


def test_the_open_pixel_when_on(client, edition, papers, settings):
    settings.OPEN_TRACKING = True
    (row,) = planned(edition)
    message = built(row)
    token = click_token(row.pk, row.subscriber.link_key)
    pixel = f"{SITE_URL}/o/{token}.gif"
    html = message.alternatives[0][0]
    assert html.count(f'<img src="{pixel}" width="1" height="1" alt=""') == 1
    assert html.rindex(pixel) > html.rindex("Unsubscribe"), "at the end of the HTML part"
    assert "/o/" not in message.body, "none in the text part"
    for forged in (f"{row.pk}:nope", "-", "x" * 3000):
        response = client.get(f"/o/{forged}.gif")
        assert response.status_code == 200 and gif_is_one_transparent_pixel(response.content)
    assert client.head(path_of(pixel)).status_code == 200
    row.refresh_from_db()
    assert row.opened_at is None
    response = client.get(path_of(pixel))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    row.refresh_from_db()
    opened = row.opened_at
    assert opened is not None
    client.get(path_of(pixel))
    row.refresh_from_db()
    assert row.opened_at == opened, "the first open stays"
    assert row.clicked_at is None and not Click.objects.exists()


def test_a_click_changes_nothing_in_the_next_ranking(client, papers):
    """Two readers alike; one clicks a speech paper (every link of it). The next day brings a
    similar speech paper and a more popular unrelated one: both get the same papers, for the same
    reasons — only a vote ("more like this") would have moved the similar one up."""
    clicker, control = (SubscriberFactory(confirmed_at=CONFIRMED, papers_per_digest=1, interests="") for _ in range(2))
    edition = services.edition_publish(kind="daily", day=DAY)
    planning.plan_deliveries(edition, [(clicker.pk, DAY), (control.pk, DAY)])
    row = Delivery.objects.select_related("subscriber").get(subscriber=clicker)
    Delivery.objects.filter(pk=row.pk).update(paper_ids=[papers["bare"].pk])
    token = click_token(row.pk, clicker.link_key)
    for kind in ("page", "arxiv", "pdf", "hf"):
        client.get(reverse("newsletter:click", args=[token, papers["bare"].pk, kind]))
    assert Click.objects.filter(delivery=row).count() == 1

    next_day = DAY + dt.timedelta(days=1)
    similar = PaperFactory(title="Streaming speech recognition on device", abstract="Speech recognition, streaming.")
    popular = PaperFactory(title="A popular paper on databases", abstract="Query optimizers and indexes.")
    DailyEntryFactory(day=next_day, paper=similar, upvotes=10)
    DailyEntryFactory(day=next_day, paper=popular, upvotes=90)
    following = services.edition_publish(kind="daily", day=next_day)
    planning.plan_deliveries(following, [(clicker.pk, next_day), (control.pk, next_day)])
    rows = {r.subscriber_id: (r.paper_ids, r.reasons) for r in Delivery.objects.filter(edition=following)}
    assert rows[clicker.pk] == rows[control.pk] == ([popular.pk], [["trending"]])
