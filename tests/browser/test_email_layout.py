"""Every email Paperboy sends, built by the code that sends it and opened in headless Chromium as
a phone (390 px) and a desktop (1280 px) mail client shows it, in light and in dark mode.

Nothing may be wider than the screen: the confirmation email's fallback link (unbreakable up to
the first "-" its signature happens to have, if any) once widened its card to 836 px on a 390 px
phone (652 to 944 px here, from token to token). The content is the worst a real email carries: the real
confirmation and preference links, titles with a 45-letter word and a URL, abstracts with an
unbroken URL, long author names, an editor's note and intro with links, a long postal address,
"why this paper" lines with a reader's longest phrases and a followed author's long name, and the
"nothing matched your interests" notice. Text keeps its contrast in both colour schemes.
The digests carry thumbnails from the source's https origin (served here from a local PNG, as the
browser has no internet): shown, and blocked as a mail client blocks remote images, where the
card must keep its layout and the alt text shows in the thumbnail's box.
Screenshots land in test-output/browser/email-*.png.

A new email kind (a new ``templates/emails/<name>-subject.txt``, a new edition kind, a new
transactional email in ``subscribers.tasks.SENDABLE``) fails ``test_every_email_kind_has_a_case``
until it gets a case in ``CASES``."""

from __future__ import annotations

import datetime as dt
import html as html_module
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from newsletter import digest_email, planning, rendering, services
from newsletter.models import Delivery, Edition
from subscribers import services as subscriber_services
from subscribers.models import Subscriber
from subscribers.tasks import SENDABLE
from tests.conftest import ROOT
from tests.factories import DailyEntryFactory, PaperFactory

pytestmark = pytest.mark.browser
SCREENSHOTS = ROOT / "test-output" / "browser"
EMAIL_TEMPLATES = ROOT / "templates" / "emails"
VIEWPORTS = [(390, 844), (1280, 800)]  # an iPhone 12-15's CSS width; a desktop reading pane
SCHEMES = ["light", "dark"]

DAY = dt.date(2026, 5, 6)  # a Wednesday
SITE_URL = "https://paperboy.example"
ADDRESS = "ada.lovelace@example.org"
TIME_ZONE = "America/Argentina/ComodRivadavia"  # one of the longest zone names a reader can pick
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis"
UNBROKEN_URL = "https://huggingface.co/datasets/paperboy_example/a_very_long_dataset_name_without_any_break_v2"
CODE_URL = "https://github.com/paperboy_example/an_extremely_long_repository_name_that_never_breaks"
AUTHORS = [
    "Maximilian Wolfeschlegelsteinhausenbergerdorff",
    "Bartholomew Featherstonehaugh-Cholmondeley",
    "Keanu Kealoha'okalani Kamehameha-Nakamura",
    *[f"Co-author Number {n}" for n in range(40)],
]
ABSTRACT = (
    "We introduce a benchmark of 12,000 problems and evaluate 40 models on it. "
    f"Data and code are available at {CODE_URL} and {UNBROKEN_URL}. "
    f"{'Results show that scale alone does not close the gap. ' * 6}"
)
THUMBNAILS = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/"
POSTAL_ADDRESS = "Paperboy Newsletter GmbH, Friedrich-Wilhelm-Universitätsstraße 123a, 53113 Bonn, Germany"


# --- Building each email through the code that sends it ---------------------------------------


LONG_PHRASE = f"{LONG_WORD} in low-dose chest computed tomography screening for early lung disease"


@dataclass(frozen=True)
class Built:
    subject: str
    html: str
    text: str
    unbreakable: list[str]  # long strings without a break opportunity the email must show whole
    shown: tuple[str, ...] = ()  # text both parts must show (why lines, a notice)
    selectors: tuple[tuple[str, int], ...] = ()  # elements the browser must show: (".why", 4) is "4 of them"
    thumbnails: int = 0  # images the email shows (the digest's thumbnails)


@dataclass(frozen=True)
class Case:
    id: str
    template: str  # templates/emails/<template>-subject.txt and its body templates
    build: Callable[[Any], Built]
    subject: str  # part of the subject: proves the builder sent the email this case is about


def parts(message: EmailMultiAlternatives) -> tuple[str, str]:
    parsed = message_from_bytes(message.message().as_bytes(), policy=policy.default)
    html = parsed.get_body(preferencelist=("html",))
    text = parsed.get_body(preferencelist=("plain",))
    assert html is not None and text is not None, "every email has a text and an HTML part"
    return html.get_content(), text.get_content()


def signed_up(capture) -> Subscriber:
    """A reader who signed up on the site (the confirmation email is sent)."""
    with capture(execute=True):
        subscriber_services.subscriber_signup(
            email=ADDRESS, interests="protein folding", time_zone=TIME_ZONE, source="browser test"
        )
    return Subscriber.objects.get(email=ADDRESS)


def confirmed(capture) -> Subscriber:
    """The reader who confirmed (the welcome email is sent)."""
    subscriber = signed_up(capture)
    with capture(execute=True):
        assert subscriber_services.subscriber_confirm(subscriber=subscriber)
    return subscriber


def sent(mailbox: list[EmailMultiAlternatives], subscriber: Subscriber, *unbreakable: str) -> Built:
    """The last email sent. A confirmation link has no break opportunity up to its first "-"
    (often none at all: the issue's 836 px), and the email shows it."""
    message = mailbox[-1]
    assert message.to == [subscriber.email]
    html, text = parts(message)
    links = re.findall(r"^(https?://\S+/confirm/\S+)$", text, re.MULTILINE)
    return Built(str(message.subject), html, text, unbreakable=[*unbreakable, *(link.split("-")[0] for link in links)])


def confirmation(ctx: Any) -> Built:
    return sent(ctx.mailbox, signed_up(ctx.capture))


def welcome(ctx: Any) -> Built:
    return sent(ctx.mailbox, confirmed(ctx.capture), TIME_ZONE)


def already_subscribed(ctx: Any) -> Built:
    subscriber = confirmed(ctx.capture)
    signed_up(ctx.capture)  # the same address again: "you're already subscribed"
    return sent(ctx.mailbox, subscriber)


def digest(kind: str) -> Callable[[Any], Built]:
    def build(ctx: Any) -> Built:
        ctx.settings.POSTAL_ADDRESS = POSTAL_ADDRESS
        days = [DAY] if kind == Edition.Kind.DAILY else [DAY - dt.timedelta(days=n) for n in range(2)]
        papers = [
            PaperFactory.create(
                title=f"{LONG_WORD} detection from chest X-rays with self-supervised vision transformers",
                abstract=ABSTRACT,
                github_url=CODE_URL,
                github_stars=12345,
                project_url=UNBROKEN_URL,
                thumbnail_url=f"{THUMBNAILS}2605.01234.png",
                organization=f"{LONG_WORD} Institute of Technology",
                submitter=AUTHORS[1],
                comments=12,
                author_names=AUTHORS,
            ),
            PaperFactory.create(
                title=f"Agents on {UNBROKEN_URL}",
                abstract=ABSTRACT,
                author_names=AUTHORS[1:3],
                thumbnail_url="http://cdn-thumbnails.huggingface.co/social-thumbnails/papers/plain-http.png",
            ),
            PaperFactory.create(title="A short title", abstract="Short.", arxiv_id=None, author_names=[AUTHORS[0]]),
            PaperFactory.create(
                ai_summary=f"{LONG_WORD * 2} {CODE_URL}", author_names=[], thumbnail_url=f"{THUMBNAILS}2605.04321.png"
            ),
        ]
        for n, paper in enumerate(papers):
            DailyEntryFactory(
                day=days[n % len(days)],
                paper=paper,
                upvotes=100 - n,
                pinned=n == 1,
                note=f"Our pick: the dataset is at {UNBROKEN_URL}" if n == 1 else "",
            )
        edition = services.edition_publish(kind=kind, day=DAY)
        assert edition is not None and len(edition.paper_ids) == len(papers)
        period = "today" if kind == Edition.Kind.DAILY else "this week"
        edition.intro = f"Big {period}: {LONG_WORD} and more. Every paper of {period}: {UNBROKEN_URL}"
        if kind == Edition.Kind.WEEKLY:
            edition.subject = f"The week in {LONG_WORD}{LONG_WORD}"
        edition.save(update_fields=["intro", "subject"])
        subscriber = confirmed(ctx.capture)
        Subscriber.objects.filter(pk=subscriber.pk).update(frequency=kind, confirmed_at=timezone.now())
        assert planning.plan_deliveries(edition, [(subscriber.pk, DAY)]) == 1
        row = Delivery.objects.select_related("edition", "subscriber").get(edition=edition)
        assert len(row.paper_ids) == len(papers)
        # What the planner writes (issue 12): the daily reader's own reasons; the weekly reader's
        # interests matched nothing, so they get the top papers and the notice.
        if kind == Edition.Kind.DAILY:
            by_paper = {
                papers[0].pk: ["interest:chest X-rays", "interest:self-supervised learning", f"author:{AUTHORS[0]}"],
                papers[1].pk: ["pick", "liked"],
                papers[2].pk: [f"interest:{LONG_PHRASE}"],
                papers[3].pk: ["trending"],
            }
        else:
            by_paper = {paper.pk: ["pick"] if n == 1 else ["trending"] for n, paper in enumerate(papers)}
        row.unmatched = kind != Edition.Kind.DAILY  # whatever the planner made of this reader's interests
        row.reasons = [by_paper[pk] for pk in row.paper_ids]
        row.save(update_fields=["reasons", "unmatched"])
        # What the sending loop builds (newsletter/sending.py).
        message = digest_email.build_message(row, row.subscriber, rendering.rendered_edition(edition))
        html, text = parts(message)
        if kind == Edition.Kind.DAILY:
            shown: tuple[str, ...] = (
                "Matches your interests: chest X-rays, self-supervised learning · by Maximilian "
                "Wolfeschlegelsteinhausenbergerdorff, whom you follow",
                "Editor's pick · similar to a paper you liked",
                f"Matches your interest: {LONG_WORD} in low-dose…",  # cut at 60 characters
                "Trending today",
            )
            notice: tuple[tuple[str, int], ...] = ()
        else:
            shown = (
                "Nothing matched your interests this week, so here are the week's top papers.",
                "Trending this week",
            )
            notice = ((".notice", 1),)
        return Built(
            str(message.subject),
            html,
            text,
            unbreakable=[LONG_WORD, UNBROKEN_URL],
            shown=shown,
            selectors=((".why", len(papers)), ("img.thumb", 2), *notice),
            thumbnails=2,  # not the http: one
        )

    return build


CASES = [
    Case("confirm", "confirm", confirmation, "Confirm your"),
    Case("welcome", "welcome", welcome, "Welcome to"),
    Case("already-subscribed", "already-subscribed", already_subscribed, "already subscribed"),
    # The personal subject: the first paper chosen for the reader (the pinned one they also liked).
    Case(
        "digest-daily",
        "digest",
        digest(Edition.Kind.DAILY),
        f"Agents on {UNBROKEN_URL[:49]}… — and 3 more papers for you",
    ),
    Case("digest-weekly", "digest", digest(Edition.Kind.WEEKLY), "The week in"),
]


def test_every_email_kind_has_a_case():
    templates = {path.name.removesuffix("-subject.txt") for path in EMAIL_TEMPLATES.glob("*-subject.txt")}
    assert templates == {case.template for case in CASES}, "an email template without a layout case (or a stale one)"
    assert set(SENDABLE) <= {case.id for case in CASES}, "a transactional email without a layout case"
    assert {f"digest-{kind}" for kind in Edition.Kind.values} <= {case.id for case in CASES}, "an edition kind"


# --- What the browser measures ------------------------------------------------------------------

MEASURE = (Path(__file__).parent / "measure_email.js").read_text()


@pytest.fixture
def ctx(settings, mailoutbox, django_capture_on_commit_callbacks):
    """What the builders use: the settings, the outbox, running on-commit hooks (the email tasks)."""
    settings.SITE_URL = SITE_URL
    settings.SITE_NAME = "Paperboy"
    return SimpleNamespace(settings=settings, mailbox=mailoutbox, capture=django_capture_on_commit_callbacks)


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_email_fits_a_phone_and_a_desktop_in_light_and_dark(case: Case, ctx, browser, thumbnail):
    built = case.build(ctx)
    assert case.subject in built.subject
    visible = html_module.unescape(re.sub(r"<[^>]+>", "", built.html))
    for long in built.unbreakable:
        assert long in visible, f"{long!r} is not shown in the email"
    for words in built.shown:
        assert words in visible, f"{words!r} is not in the HTML part"
        assert words in " ".join(built.text.split()), f"{words!r} is not in the text part"

    # The text part: every link to our site the HTML part has is there whole, at the end of its own
    # line, where a mail client makes it clickable; a long link may run past the screen there.
    lines = [line.strip() for line in built.text.splitlines()]
    hrefs = {html_module.unescape(href) for href in re.findall(r'href="([^"]+)"', built.html)}
    for link in sorted(href for href in hrefs if href.startswith(SITE_URL)):
        assert any(line == link or line.endswith(" " + link) for line in lines), f"{link} not whole in the text part"
    assert max(len(line) for line in lines) <= 998, "RFC 5322's line limit"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    failures = []
    # With images shown, and (for an email with images) blocked as a mail client blocks them.
    views = itertools.product(["shown", "blocked"] if built.thumbnails else ["shown"], VIEWPORTS, SCHEMES)
    for images, (width, height), scheme in views:
        where = f"{case.id} at {width} px, {scheme}" + (", images blocked" if images == "blocked" else "")
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        try:
            page = context.new_page()
            # Nothing remote but the thumbnails (the later route wins where both match).
            page.route("**/*", lambda route: route.abort())
            if images == "shown":
                page.route(f"{THUMBNAILS}**", lambda route: route.fulfill(body=thumbnail, content_type="image/png"))
            page.set_content(built.html)
            suffix = "-no-images" if images == "blocked" else ""
            page.screenshot(path=SCREENSHOTS / f"email-{case.id}-{width}-{scheme}{suffix}.png", full_page=True)
            found = page.evaluate(MEASURE)
            for selector, count in built.selectors:
                shown = [element.is_visible() for element in page.locator(selector).all()]
                assert shown == [True] * count, f"{where}: {selector} {shown}"
        finally:
            context.close()
        assert found["dark"] == (scheme == "dark"), where
        # The email's dark styles apply (they live in its <style>: css-inline keeps it).
        assert (found["pageLuminance"] < 0.05) == (scheme == "dark"), f"{where}: page background"
        if found["scrollWidth"] > width:
            failures.append(f"{where}: the page is {found['scrollWidth']} px wide (card {found['card']:.0f} px)")
        problems = found["wide"] + found["spilled"] + found["faint"]
        problems += thumbnail_problems(found["images"], built.thumbnails, loaded=images == "shown")
        failures += [f"{where}: {problem}" for problem in problems[:8]]
        if len(problems) > 8:
            failures.append(f"{where}: and {len(problems) - 8} more")
    assert not failures, "\n".join(failures)


def thumbnail_problems(images: list[dict[str, Any]], expected: int, *, loaded: bool) -> list[str]:
    """What is wrong with the email's images (measure_email.js): each a thumbnail from its https
    origin, nothing added to its URL, in the same fixed box whether it arrived or not (nothing
    around it moves), with its alt text, readable when the image is blocked."""
    if len(images) != expected:
        return [f"{len(images)} images, not {expected}: {images}"]
    problems = []
    for image in images:
        if (image["width"], image["height"]) != (120, 68):
            problems.append(f"a thumbnail of {image['width']}x{image['height']} px: {image}")
        if not image["src"].startswith(THUMBNAILS) or "?" in image["src"]:
            problems.append(f"an image from elsewhere: {image['src']}")
        if image["alt"] != "First page of the paper":
            problems.append(f"alt text {image['alt']!r}")
        if image["loaded"] != loaded:
            problems.append(f"{image['src']} {'did not arrive' if loaded else 'arrived though blocked'}")
        if not loaded and image["contrast"] < 4.5:
            problems.append(f"the thumbnail's alt text: contrast {image['contrast']:.2f} < 4.5")
    return problems


@pytest.fixture(scope="module")
def thumbnail(browser) -> bytes:
    """A PNG the size of an HF thumbnail (1200 x 648) with a page drawn on it, made by the browser."""
    page = browser.new_page(viewport={"width": 1200, "height": 648})
    try:
        page.set_content(
            '<body style="margin:0;background:#fff"><div style="height:90px;background:#ffd21e"></div>'
            '<div style="margin:40px 70px;width:420px;height:460px;border:5px solid #222;'
            'background:repeating-linear-gradient(#fff 0 22px,#999 22px 30px)"></div></body>'
        )
        return page.screenshot()
    finally:
        page.close()
