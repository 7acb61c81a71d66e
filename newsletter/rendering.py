"""Digest rendering: what every reader shares is rendered (and CSS-inlined) once per edition;
per reader only strings are joined and personal links substituted — no template, no query.

The templates are ``emails/digest-subject.txt``, ``digest-body.txt``/``.html`` (the frame) and
``digest-paper.txt``/``.html`` (one paper). Personal values enter the shared renderings as
markers (``@@UNSUBSCRIBE_URL@@``...) that no escaped text can contain. What differs between
readers beyond links — each paper's number and why line, the "nothing matched" notice, the
subject and preheader (newsletter/personal.py) — is cut out of the shared renderings as a marker
too, and filled per reader from strings. Everything else a paper shows (newsletter's
``paper_facts``: byline, counts, summary, links, thumbnail) is in the shared rendering.

With CLICK_TRACKING each paper's links are ``<SITE_URL>/c/@@CLICK@@/<paper id>/<kind>/`` in the
shared rendering: one marker, filled per reader with their delivery's click token (so the
per-reader cost is one signature, not one per link); with OPEN_TRACKING the HTML part ends with
a 1x1 image at ``/o/@@CLICK@@.gif``. The redirect (newsletter/clicks.py) looks the target up
from the stored paper by kind, never from the URL."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape as html_escape
from typing import Any
from urllib.parse import urlencode, urlsplit

import css_inline
from cachetools import TTLCache
from django.conf import settings
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape

from common.emails import render_plain, render_subject
from common.text import first_sentences
from newsletter.models import Edition
from newsletter.personal import TITLE_CHARS, is_personal, one_line, personal_subject, shorten, why_line
from papers.models import DailyEntry, Paper, PaperAuthor

# minify_css: "color:#b4451f", not "color: #b4451f;", in every style attribute (bytes under the clip).
_inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False, minify_css=True)

PAPERS_MARKER = "@@PAPERS@@"
LINK_MARKERS = {
    "view_url": "@@VIEW_URL@@",
    "preferences_url": "@@PREFERENCES_URL@@",
    "unsubscribe_url": "@@UNSUBSCRIBE_URL@@",
    "click_token": "@@CLICK@@",  # the delivery's click token, in tracked links and the open pixel
}
CLICK_MARKER = LINK_MARKERS["click_token"]
UNSIGNED = "-"  # what a rendering without a token gets: the redirect then records nothing
PREHEADER_MARKER = "@@PREHEADER@@"
POSITION_MARKER = "@@N@@"
FEEDBACK_MARKERS = {"more": "@@MORE@@", "less": "@@LESS@@"}
WHY_MARKER = "@@WHY@@"  # a paper's why line (in HTML: the whole paragraph, or nothing)
PIN_MARKER = "@@PIN@@"  # the "Editor's pick" badge, left out when the why line says it
NOTICE_MARKER = "@@NOTICE@@"  # "nothing matched your interests", or nothing
SUMMARY_CHARS = 300  # the summary's length budget: whole sentences up to it
PREHEADER_TITLES = 3
TEXT_WIDTH = 76  # the text part's lines (a long URL stays whole on its own line)
TEXT_INDENT = 3
WORDED_PER_EDITION = 5_000  # distinct reason lists whose filled-in why lines an edition keeps
_MARKER = re.compile(
    "("
    + "|".join(
        re.escape(m)
        for m in [
            *LINK_MARKERS.values(),
            *FEEDBACK_MARKERS.values(),
            PREHEADER_MARKER,
            POSITION_MARKER,
            WHY_MARKER,
            PIN_MARKER,
            NOTICE_MARKER,
        ]
    )
    + ")"
)
_BLOCK = re.compile(r"<!--P:(\d+)-->(.*?)<!--/P:\1-->", re.DOTALL)


@dataclass(frozen=True)
class PaperView:
    """What a digest shows of one paper (plain values; the templates escape them)."""

    paper: Paper
    upvotes: int
    note: str = ""
    pinned: bool = False


@dataclass
class RenderedEdition:
    subject: str
    html_head: str
    html_tail: str
    text_head: str
    text_tail: str
    paper_html: dict[int, str]
    paper_text: dict[int, str]
    preheaders: dict[int, str]  # each paper's title, shortened and escaped
    titles: dict[int, str] = field(default_factory=dict)  # each paper's title, plain
    weekly: bool = False
    custom_subject: bool = False  # the editor wrote the subject
    why_open: str = ""  # the why paragraph around its text, inlined styles and all
    why_close: str = ""
    pin_html: str = ""
    notice_html: str = ""  # with link markers in it
    notice_text: str = ""
    # Reason codes -> (text part's line, HTML part's paragraph, whether it says "editor's pick").
    worded: dict[tuple[str, ...], tuple[str, str, bool]] = field(default_factory=dict, repr=False, compare=False)
    # Each rendering above cut at its markers, once, on first use (see render_digest).
    pieces: dict[tuple[str, int], list[str]] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str


def email_image(url: str) -> str:
    """``url`` if an email may load it as it is: absolute https only (no http: image in a
    secure mail client, no data: or other scheme); else "" and no image is shown."""
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme == "https" and parts.hostname else ""


def paper_summary(paper: Paper) -> str:
    """What a digest says of a paper: its AI summary when the source has one, else the abstract's
    first sentences; either cut at a sentence boundary to SUMMARY_CHARS."""
    return first_sentences(paper.ai_summary.strip() or paper.abstract, SUMMARY_CHARS)


# The labels of a paper's links after its title, by Click.Link kind, in the order shown.
SOURCES = {"arxiv": "arXiv", "pdf": "PDF", "hf": "Hugging Face", "code": "Code", "project": "Project page"}


def paper_links(paper: Paper) -> dict[str, str]:
    """A paper's link of each kind ("" when it has none): "page" is its title's link (its page on
    the site, else its project page, else arXiv's search for its title), then SOURCES' kinds. What
    a digest links to, and all that a tracked link may redirect to."""
    page = settings.SITE_URL + paper.get_absolute_url() if paper.arxiv_id else ""
    pdf = paper.pdf_url or (f"https://arxiv.org/pdf/{paper.arxiv_id}" if paper.arxiv_id else "")
    return {
        "page": page or paper.project_url or title_search(paper.title),
        "arxiv": paper.abs_url,
        "pdf": pdf,
        "hf": paper.hf_url,
        "code": paper.github_url,
        "project": paper.project_url,
    }


def tracked_link(paper_id: int, kind: str) -> str:
    """A paper's tracked link in the shared rendering, its click token a marker."""
    return settings.SITE_URL + reverse("newsletter:click", args=[CLICK_MARKER, paper_id, kind])


def paper_facts(paper: Paper, upvotes: int, *, tracked: bool = False) -> dict[str, Any]:
    """What a digest, and the edition's page on the site, show of a paper (plain values);
    ``tracked``: its links are tracked ones (newsletter/clicks.py), for a digest's shared rendering."""
    names = paper.author_names
    links = paper_links(paper)
    if tracked:  # only the links it has, each through the redirect
        links = {kind: tracked_link(paper.pk, kind) if url else "" for kind, url in links.items()}
    authors = ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")
    submitter = f"submitted by {paper.submitter}" if paper.submitter else ""
    return {
        "paper": paper,
        "authors": authors,
        "byline": " · ".join(part for part in (authors, paper.organization, submitter) if part),
        "upvotes": upvotes,
        "summary": paper_summary(paper),
        "link": links["page"],
        "sources": [(label, links[kind]) for kind, label in SOURCES.items() if links[kind]],
        "thumbnail": email_image(paper.thumbnail_url),
    }


def _paper_context(view: PaperView, *, text: bool = False, tracked: bool = False) -> dict[str, Any]:
    context = {
        **paper_facts(view.paper, view.upvotes, tracked=tracked),
        "position": POSITION_MARKER,
        "note": view.note,
        "pinned": view.pinned,
        "why": WHY_MARKER,
        "more_url": FEEDBACK_MARKERS["more"],
        "less_url": FEEDBACK_MARKERS["less"],
    }
    if text:  # the text part's paragraphs, wrapped under the title (which stays one line)
        context["byline"], context["summary"] = _wrapped(context["byline"]), _wrapped(context["summary"])
        context["note"] = _wrapped(f"Editor's note: {view.note}") if view.note else ""
    return context


def _wrapped(text: str) -> str:
    """``text`` on lines of at most TEXT_WIDTH characters, indented but for the first line (the
    template indents that one); a word longer than a line (a URL) is kept whole."""
    indent = " " * TEXT_INDENT
    return textwrap.fill(
        one_line(text),
        TEXT_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ).removeprefix(indent)


def listing_path(edition: Edition) -> str:
    """The site's page of every paper of the edition's period: its day, or its (ISO) week."""
    if edition.kind == Edition.Kind.WEEKLY:
        year, week, _ = edition.period_start.isocalendar()
        return reverse("week_listing", args=[str(year), f"{week:02d}"])
    return reverse("day_listing", args=[edition.period_start])


def listing_url(edition: Edition) -> str:
    return settings.SITE_URL + listing_path(edition)


def title_search(title: str) -> str:
    """arXiv's search for a paper's title: the link of a paper we know no page of (a pasted text
    dump), where the reader can find it; the site itself does not list such a paper."""
    return "https://arxiv.org/search/?" + urlencode({"query": title, "searchtype": "title"})


def render_edition(edition: Edition, views: Iterable[PaperView], *, tracking: bool = True) -> RenderedEdition:
    """Everything readers of ``edition`` share, rendered once. ``tracking``: tracked links and the
    open pixel as CLICK_TRACKING and OPEN_TRACKING say; False: neither (a test send, an editor's
    preview — nobody's clicks)."""
    views = list(views)
    tracked = tracking and settings.CLICK_TRACKING
    pixel = tracking and settings.OPEN_TRACKING
    common = {
        "SITE_NAME": settings.SITE_NAME,
        "edition": edition,
        "postal_address": settings.POSTAL_ADDRESS,
        "listing_url": listing_url(edition),
    }
    links = dict(LINK_MARKERS)
    open_pixel = settings.SITE_URL + reverse("newsletter:open_pixel", args=[CLICK_MARKER]) if pixel else ""

    blocks = "".join(
        f"<!--P:{view.paper.pk}-->"
        f"{render_to_string('emails/digest-paper.html', _paper_context(view, tracked=tracked))}"
        f"<!--/P:{view.paper.pk}-->"
        for view in views
    )
    document = render_to_string(
        "emails/digest-body.html",
        {**common, **links, "preheader": PREHEADER_MARKER, "papers_html": blocks, "open_pixel": open_pixel},
    )
    inlined = _inliner.inline(document)
    # Cut after inlining, so what is filled back per reader carries its inlined styles.
    inlined, why = _cut_out(inlined, "WHY", WHY_MARKER)
    why_open, _, why_close = why.partition(WHY_MARKER)
    inlined, pin_html = _cut_out(inlined, "PIN", PIN_MARKER)
    inlined, notice_html = _cut_out(inlined, "NOTICE", NOTICE_MARKER)
    paper_html = {int(pk): block for pk, block in _BLOCK.findall(inlined)}
    first = _BLOCK.search(inlined)
    last = list(_BLOCK.finditer(inlined))[-1] if paper_html else None
    if first and last:
        html_head, html_tail = inlined[: first.start()], inlined[last.end() :]
    else:
        html_head, _, html_tail = inlined.partition(PAPERS_MARKER)

    text = render_plain("emails/digest-body.txt", {**common, **links, "papers_text": PAPERS_MARKER})
    text, notice_text = _cut_out(text, "NOTICE", NOTICE_MARKER)
    text_head, _, text_tail = text.partition(PAPERS_MARKER)
    paper_text: dict[int, str] = {
        view.paper.pk: render_plain("emails/digest-paper.txt", _paper_context(view, text=True, tracked=tracked))
        for view in views
    }
    subject = render_subject("emails/digest-subject.txt", common)
    titles = {view.paper.pk: one_line(view.paper.title) for view in views}
    return RenderedEdition(
        subject,
        html_head,
        html_tail,
        text_head,
        text_tail,
        paper_html,
        paper_text,
        preheaders={pk: escape(shorten(title, TITLE_CHARS)) for pk, title in titles.items()},
        titles=titles,
        weekly=edition.kind == Edition.Kind.WEEKLY,
        custom_subject=bool(edition.subject.strip()),
        why_open=why_open,
        why_close=why_close,
        pin_html=pin_html,
        notice_html=notice_html,
        notice_text=notice_text,
    )


def _cut_out(document: str, name: str, marker: str) -> tuple[str, str]:
    """``document`` with each ``<!--name-->…<!--/name-->`` region replaced by ``marker``, and the
    first region's content (every region of a name holds the same)."""
    region = re.compile(f"<!--{name}-->(.*?)<!--/{name}-->", re.DOTALL)
    found = region.search(document)
    return region.sub(marker, document), found.group(1) if found else ""


def _pieces(rendered: RenderedEdition, key: tuple[str, int], part: str) -> list[str]:
    cut = rendered.pieces.get(key)
    if cut is None:
        cut = rendered.pieces[key] = _MARKER.split(part)
    return cut


def _fill(pieces: list[str], values: dict[str, str]) -> str:
    """The rendering with every marker replaced by its value (the other pieces as they are).
    ``_MARKER.split`` puts the markers at the odd positions: only those are looked at."""
    parts = pieces.copy()
    for index in range(1, len(parts), 2):
        marker = parts[index]
        parts[index] = values.get(marker, marker)
    return "".join(parts)


def _codes(reasons: list[object], index: int) -> tuple[str, ...]:
    """The reason codes of the paper at ``index``: none past the end of the list (old rows, short
    lists), and only strings (the stored JSON is not trusted to have the planner's shape)."""
    entry = reasons[index] if index < len(reasons) else None
    if not isinstance(entry, list):
        return ()
    return tuple(code for code in entry if isinstance(code, str))


def _why(rendered: RenderedEdition, codes: tuple[str, ...]) -> tuple[str, str, bool]:
    """The why line of ``codes`` as both parts show it, worded once per edition and reason list."""
    found = rendered.worded.get(codes)
    if found is None:
        line = why_line(codes, weekly=rendered.weekly)
        found = ("", "", False)
        if line:
            found = (
                f"\n   Why: {line}",
                f"{rendered.why_open}{html_escape(line)}{rendered.why_close}",
                "pick" in codes,
            )
        if len(rendered.worded) < WORDED_PER_EDITION:
            rendered.worded[codes] = found
    return found


def _subject(rendered: RenderedEdition, papers: list[tuple[int, tuple[str, ...]]], unmatched: bool) -> tuple[str, int]:
    """The reader's subject, and which of their papers it names (-1: none).

    The title of the first paper chosen for the reader themselves (an interest, an author, a like;
    not an editor's pin, which every reader gets) and how many more there are. The edition's own
    subject instead when nothing was chosen for them (no interests; "nothing matched", which must
    not read as personal; rows planned before reasons existed), and whenever the editor wrote a
    subject: an editor who words a day's subject ("Special issue: ...") means every reader to see it."""
    if rendered.custom_subject or unmatched:
        return rendered.subject, -1
    for index, (pid, codes) in enumerate(papers):
        if is_personal(codes):
            return personal_subject(rendered.titles[pid], len(papers) - 1), index
    return rendered.subject, -1


def _preheader(
    rendered: RenderedEdition, papers: list[tuple[int, tuple[str, ...]]], named: int, unmatched: bool
) -> str:
    """The hidden preview text (escaped): the next titles after the one the subject names."""
    titles = " · ".join(
        [rendered.preheaders[pid] for index, (pid, _) in enumerate(papers) if index != named][:PREHEADER_TITLES]
    )
    if unmatched:
        period = "this week" if rendered.weekly else "today"
        return f"Nothing matched your interests {period}. Top papers: {titles}"
    return f"Also for you: {titles}" if named >= 0 and titles else titles


def render_digest(
    rendered: RenderedEdition,
    paper_ids: list[int],
    *,
    links: dict[str, str],
    feedback_url: str,
    html: bool = True,
    reasons: object = (),
    unmatched: bool = False,
) -> Digest:
    """One reader's digest: their papers in their order, their links. ``feedback_url`` is a
    prefix; ``<prefix><paper id>/more/`` and ``/less/`` record votes. ``reasons``: the reason codes
    of each paper of ``paper_ids`` (Delivery.reasons); ``unmatched``: say that nothing matched.
    Only strings are joined: each shared rendering is cut at its markers once, and every reader's
    values fill the cuts. Papers withdrawn since planning (not in ``rendered``) are left out.
    ``links["click_token"]`` fills the tracked links (newsletter.links.click_token)."""
    listed = reasons if isinstance(reasons, list) else []
    papers = [(pid, _codes(listed, index)) for index, pid in enumerate(paper_ids) if pid in rendered.paper_text]
    subject, named = _subject(rendered, papers, unmatched)
    more, less = FEEDBACK_MARKERS["more"], FEEDBACK_MARKERS["less"]
    text_links = {LINK_MARKERS[name]: url for name, url in links.items() if name in LINK_MARKERS}
    text_links.setdefault(CLICK_MARKER, UNSIGNED)
    head = dict(text_links)
    head[NOTICE_MARKER] = (
        _fill(_pieces(rendered, ("notice_text", 0), rendered.notice_text), text_links) if unmatched else ""
    )
    text = [_fill(_pieces(rendered, ("text_head", 0), rendered.text_head), head)]
    pids = [pid for pid, _ in papers]
    whys = [_why(rendered, codes) for _, codes in papers]
    for position, (pid, why) in enumerate(zip(pids, whys, strict=True), start=1):
        values = {
            POSITION_MARKER: str(position),
            CLICK_MARKER: text_links[CLICK_MARKER],
            more: f"{feedback_url}{pid}/more/",
            less: f"{feedback_url}{pid}/less/",
            WHY_MARKER: why[0],
        }
        text.append(_fill(_pieces(rendered, ("text", pid), rendered.paper_text[pid]), values))
    text.append(_fill(_pieces(rendered, ("text_tail", 0), rendered.text_tail), text_links))
    body_html = ""
    if html:
        html_links = {marker: html_escape(url) for marker, url in text_links.items()}
        head = dict(html_links)
        head[PREHEADER_MARKER] = _preheader(rendered, papers, named, unmatched)
        head[NOTICE_MARKER] = (
            _fill(_pieces(rendered, ("notice_html", 0), rendered.notice_html), html_links) if unmatched else ""
        )
        parts = [_fill(_pieces(rendered, ("html_head", 0), rendered.html_head), head)]
        for position, (pid, (_, paragraph, says_pick)) in enumerate(zip(pids, whys, strict=True), start=1):
            values = {
                POSITION_MARKER: str(position),
                CLICK_MARKER: html_links[CLICK_MARKER],
                more: html_escape(f"{feedback_url}{pid}/more/"),
                less: html_escape(f"{feedback_url}{pid}/less/"),
                WHY_MARKER: paragraph,
                PIN_MARKER: "" if says_pick else rendered.pin_html,
            }
            parts.append(_fill(_pieces(rendered, ("html", pid), rendered.paper_html[pid]), values))
        parts.append(_fill(_pieces(rendered, ("html_tail", 0), rendered.html_tail), html_links))
        body_html = "".join(parts)
    return Digest(subject=subject, text="".join(text).strip() + "\n", html=body_html)


def withdrawn_papers(edition: Edition) -> dict[int, str]:
    """The edition's papers an editor took back after publishing, by id: "deleted", or "hidden"
    (listed in the edition's period, but no longer approved on any of its days). Two queries."""
    ids = list(edition.paper_ids)
    if not ids:
        return {}
    existing = set(Paper.objects.filter(pk__in=ids).values_list("pk", flat=True))
    statuses: dict[int, set[str]] = {}
    for paper_id, status in DailyEntry.objects.filter(
        paper_id__in=ids, day__gte=edition.period_start, day__lte=edition.period_end
    ).values_list("paper_id", "status"):
        statuses.setdefault(paper_id, set()).add(status)
    withdrawn = {pk: "deleted" for pk in ids if pk not in existing}
    withdrawn |= {
        pk: "hidden" for pk, seen in statuses.items() if pk in existing and DailyEntry.Status.APPROVED not in seen
    }
    return withdrawn


def paper_views(edition: Edition, withdrawn: Iterable[int] = ()) -> list[PaperView]:
    """The edition's papers as its digests show them, ``withdrawn`` ones (and deleted ones) left out."""
    left_out = set(withdrawn)
    authors = Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))
    # django-stubs 5.2 rejects any Prefetch on a manager made by as_manager() (typeddjango/django-stubs#3263).
    papers = Paper.objects.prefetch_related(authors).in_bulk(edition.paper_ids)  # type: ignore[arg-type]
    entries = {
        entry.paper_id: entry
        for entry in DailyEntry.objects.filter(
            paper_id__in=edition.paper_ids, day__gte=edition.period_start, day__lte=edition.period_end
        ).order_by("day")
    }
    pinned = set(edition.pinned_ids)
    return [
        PaperView(
            paper=papers[pk],
            upvotes=entries[pk].upvotes if pk in entries else papers[pk].upvotes,
            note=entries[pk].note if pk in entries else "",
            pinned=pk in pinned,
        )
        for pk in edition.paper_ids
        if pk in papers and pk not in left_out
    ]


# Per process; a few minutes at most, since editors' notes may change while an edition goes out.
_rendered: TTLCache[tuple[object, ...], RenderedEdition] = TTLCache(maxsize=16, ttl=300)


def rendered_edition(edition: Edition) -> RenderedEdition:
    """The shared renderings of ``edition`` as of now, reused (rendered anew when its subject,
    intro or papers change, or a paper is withdrawn). Checks for withdrawn papers: call it once per
    chunk or request, not once per reader."""
    withdrawn = tuple(sorted(withdrawn_papers(edition)))
    key = (
        edition.pk,
        edition.subject,
        edition.intro,
        tuple(edition.paper_ids),
        tuple(edition.pinned_ids),
        withdrawn,
        settings.CLICK_TRACKING,
        settings.OPEN_TRACKING,
    )
    rendered = _rendered.get(key)
    if rendered is None:
        rendered = _rendered[key] = render_edition(edition, paper_views(edition, withdrawn))
    return rendered


def forget_renderings() -> None:
    """Drop every cached rendering (tests reuse primary keys across databases)."""
    _rendered.clear()
