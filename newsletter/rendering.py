"""Digest rendering: what every reader shares is rendered (and CSS-inlined) once per edition;
per reader only strings are joined and personal links substituted — no template, no query.

The templates are ``emails/digest-subject.txt``, ``digest-body.txt``/``.html`` (the frame) and
``digest-paper.txt``/``.html`` (one paper). Personal values enter the shared renderings as
markers (``@@UNSUBSCRIBE_URL@@``...) that no escaped text can contain."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import css_inline
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.text import Truncator

from newsletter.models import Edition
from papers.models import Paper

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


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str


def _paper_context(view: PaperView, position: object) -> dict:
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

    text = render_to_string("emails/digest-body.txt", {**common, **links, "papers_text": PAPERS_MARKER})
    text_head, _, text_tail = text.partition(PAPERS_MARKER)
    paper_text = {
        view.paper.pk: render_to_string("emails/digest-paper.txt", _paper_context(view, POSITION_MARKER))
        for view in views
    }
    subject = " ".join(render_to_string("emails/digest-subject.txt", {**common}).split())
    preheaders = {view.paper.pk: escape(Truncator(view.paper.title).chars(110)) for view in views}
    return RenderedEdition(subject, html_head, html_tail, text_head, text_tail, paper_html, paper_text, preheaders)


def render_digest(
    rendered: RenderedEdition,
    paper_ids: list[int],
    *,
    links: dict[str, str],
    feedback_url: str,
    html: bool = True,
) -> Digest:
    """One reader's digest: their papers in their order, their links. ``feedback_url`` is a
    prefix; ``<prefix><paper id>/more/`` and ``/less/`` record votes."""

    def feedback(block: str, paper_id: int, *, quote) -> str:
        for vote, marker in FEEDBACK_MARKERS.items():
            block = block.replace(marker, quote(f"{feedback_url}{paper_id}/{vote}/"))
        return block

    def personal(part: str, *, quote) -> str:
        for name, marker in LINK_MARKERS.items():
            part = part.replace(marker, quote(links[name]))
        return part

    text_blocks = "".join(
        feedback(rendered.paper_text[pid], pid, quote=str).replace(POSITION_MARKER, str(position), 1)
        for position, pid in enumerate(paper_ids, start=1)
    )
    text = personal(rendered.text_head, quote=str) + text_blocks + personal(rendered.text_tail, quote=str)
    body_html = ""
    if html:
        html_blocks = "".join(feedback(rendered.paper_html[pid], pid, quote=escape) for pid in paper_ids)
        head = personal(rendered.html_head, quote=escape)
        preheader = rendered.preheaders[paper_ids[0]] if paper_ids else ""
        head = head.replace(PREHEADER_MARKER, preheader)
        body_html = head + html_blocks + personal(rendered.html_tail, quote=escape)
    return Digest(subject=rendered.subject, text=text.strip() + "\n", html=body_html)
