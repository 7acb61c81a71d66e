"""Digest rendering: what every reader shares is rendered (and CSS-inlined) once per edition;
per reader only strings are joined and personal links substituted — no template, no query.

The templates are ``emails/digest-subject.txt``, ``digest-body.txt``/``.html`` (the frame) and
``digest-paper.txt``/``.html`` (one paper). Personal values enter the shared renderings as
markers (``@@UNSUBSCRIBE_URL@@``...) that no escaped text can contain."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape as html_escape
from typing import Any

import css_inline
from cachetools import TTLCache
from django.conf import settings
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.text import Truncator

from common.emails import render_plain, render_subject
from newsletter.models import Edition
from papers.models import DailyEntry, Paper, PaperAuthor

_inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)

PAPERS_MARKER = "@@PAPERS@@"
LINK_MARKERS = {
    "view_url": "@@VIEW_URL@@",
    "preferences_url": "@@PREFERENCES_URL@@",
    "unsubscribe_url": "@@UNSUBSCRIBE_URL@@",
}
PREHEADER_MARKER = "@@PREHEADER@@"
POSITION_MARKER = "@@N@@"
FEEDBACK_MARKERS = {"more": "@@MORE@@", "less": "@@LESS@@"}
SUMMARY_CHARS = 320
_MARKER = re.compile(
    "("
    + "|".join(
        re.escape(m) for m in [*LINK_MARKERS.values(), *FEEDBACK_MARKERS.values(), PREHEADER_MARKER, POSITION_MARKER]
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
    preheaders: dict[int, str]
    # Each rendering above cut at its markers, once, on first use (see render_digest).
    pieces: dict[tuple[str, int], list[str]] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str


def _paper_context(view: PaperView, position: object) -> dict[str, Any]:
    paper = view.paper
    names = paper.author_names
    authors = ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")
    summary = Truncator(paper.ai_summary or paper.abstract).chars(SUMMARY_CHARS)
    return {
        "paper": paper,
        "position": position,
        "authors": authors,
        "upvotes": view.upvotes,
        "summary": summary,
        "note": view.note,
        "pinned": view.pinned,
        "link": paper.hf_url or paper.abs_url or paper.project_url or settings.SITE_URL,
        "pdf": paper.pdf_url or paper.abs_url,
        "more_url": FEEDBACK_MARKERS["more"],
        "less_url": FEEDBACK_MARKERS["less"],
    }


def render_edition(edition: Edition, views: Iterable[PaperView]) -> RenderedEdition:
    """Everything readers of ``edition`` share, rendered once."""
    views = list(views)
    common = {"SITE_NAME": settings.SITE_NAME, "edition": edition, "postal_address": settings.POSTAL_ADDRESS}
    links = dict(LINK_MARKERS)

    blocks = "".join(
        f"<!--P:{view.paper.pk}-->{render_to_string('emails/digest-paper.html', _paper_context(view, ''))}"
        f"<!--/P:{view.paper.pk}-->"
        for view in views
    )
    document = render_to_string(
        "emails/digest-body.html",
        {**common, **links, "preheader": PREHEADER_MARKER, "papers_html": blocks},
    )
    inlined = _inliner.inline(document)
    paper_html = {int(pk): block for pk, block in _BLOCK.findall(inlined)}
    first = _BLOCK.search(inlined)
    last = list(_BLOCK.finditer(inlined))[-1] if paper_html else None
    if first and last:
        html_head, html_tail = inlined[: first.start()], inlined[last.end() :]
    else:
        html_head, _, html_tail = inlined.partition(PAPERS_MARKER)

    text = render_plain("emails/digest-body.txt", {**common, **links, "papers_text": PAPERS_MARKER})
    text_head, _, text_tail = text.partition(PAPERS_MARKER)
    paper_text: dict[int, str] = {
        view.paper.pk: render_plain("emails/digest-paper.txt", _paper_context(view, POSITION_MARKER)) for view in views
    }
    subject = render_subject("emails/digest-subject.txt", common)
    preheaders: dict[int, str] = {view.paper.pk: escape(Truncator(view.paper.title).chars(110)) for view in views}
    return RenderedEdition(subject, html_head, html_tail, text_head, text_tail, paper_html, paper_text, preheaders)


def _pieces(rendered: RenderedEdition, key: tuple[str, int], part: str) -> list[str]:
    cut = rendered.pieces.get(key)
    if cut is None:
        cut = rendered.pieces[key] = _MARKER.split(part)
    return cut


def _fill(pieces: list[str], values: dict[str, str]) -> str:
    """The rendering with every marker replaced by its value (the other pieces as they are)."""
    return "".join([values.get(piece, piece) for piece in pieces])


def render_digest(
    rendered: RenderedEdition,
    paper_ids: list[int],
    *,
    links: dict[str, str],
    feedback_url: str,
    html: bool = True,
) -> Digest:
    """One reader's digest: their papers in their order, their links. ``feedback_url`` is a
    prefix; ``<prefix><paper id>/more/`` and ``/less/`` record votes. Only strings are joined:
    each shared rendering is cut at its markers once, and every reader's values fill the cuts.
    Papers withdrawn since planning (not in ``rendered``) are left out."""
    paper_ids = [pid for pid in paper_ids if pid in rendered.paper_text]
    more, less = FEEDBACK_MARKERS["more"], FEEDBACK_MARKERS["less"]
    text_links = {LINK_MARKERS[name]: url for name, url in links.items() if name in LINK_MARKERS}
    text = [_fill(_pieces(rendered, ("text_head", 0), rendered.text_head), text_links)]
    for position, pid in enumerate(paper_ids, start=1):
        values = {
            POSITION_MARKER: str(position),
            more: f"{feedback_url}{pid}/more/",
            less: f"{feedback_url}{pid}/less/",
        }
        text.append(_fill(_pieces(rendered, ("text", pid), rendered.paper_text[pid]), values))
    text.append(_fill(_pieces(rendered, ("text_tail", 0), rendered.text_tail), text_links))
    body_html = ""
    if html:
        html_links = {marker: html_escape(url) for marker, url in text_links.items()}
        html_links[PREHEADER_MARKER] = rendered.preheaders[paper_ids[0]] if paper_ids else ""
        parts = [_fill(_pieces(rendered, ("html_head", 0), rendered.html_head), html_links)]
        for pid in paper_ids:
            values = {more: html_escape(f"{feedback_url}{pid}/more/"), less: html_escape(f"{feedback_url}{pid}/less/")}
            parts.append(_fill(_pieces(rendered, ("html", pid), rendered.paper_html[pid]), values))
        parts.append(_fill(_pieces(rendered, ("html_tail", 0), rendered.html_tail), html_links))
        body_html = "".join(parts)
    return Digest(subject=rendered.subject, text="".join(text).strip() + "\n", html=body_html)


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
    key = (edition.pk, edition.subject, edition.intro, tuple(edition.paper_ids), tuple(edition.pinned_ids), withdrawn)
    rendered = _rendered.get(key)
    if rendered is None:
        rendered = _rendered[key] = render_edition(edition, paper_views(edition, withdrawn))
    return rendered


def forget_renderings() -> None:
    """Drop every cached rendering (tests reuse primary keys across databases)."""
    _rendered.clear()
