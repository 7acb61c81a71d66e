"""Every email is three templates: ``emails/<name>-subject.txt``, ``-body.txt`` and ``-body.html``,
rendered by one function. The HTML part gets its CSS inlined (css-inline), as mail clients want.
Subjects and text parts are plain text: rendered without HTML autoescaping (``render_plain``)."""

from __future__ import annotations

from typing import Any

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context, Engine
from django.template.loader import render_to_string

_inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def render_plain(template_name: str, context: dict[str, Any]) -> str:
    """A text template rendered as plain text: "R&D" stays "R&D", not "R&amp;D"."""
    return Engine.get_default().get_template(template_name).render(Context(context, autoescape=False))


def render_subject(template_name: str, context: dict[str, Any]) -> str:
    """A subject template on one line (line breaks in a header would be refused)."""
    return " ".join(render_plain(template_name, context).split())


def render(name: str, context: dict[str, Any], *, html: bool = True) -> tuple[str, str, str | None]:
    """(subject, text body, inlined HTML body or None)."""
    context = {"SITE_NAME": settings.SITE_NAME, "SITE_URL": settings.SITE_URL, **context}
    subject = render_subject(f"emails/{name}-subject.txt", context)
    text = render_plain(f"emails/{name}-body.txt", context).strip() + "\n"
    body_html = _inliner.inline(render_to_string(f"emails/{name}-body.html", context)) if html else None
    return subject, text, body_html


def build(
    name: str, *, to: str, context: dict[str, Any], html: bool = True, headers: dict[str, str] | None = None
) -> EmailMultiAlternatives:
    subject, text, body_html = render(name, context, html=html)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to], headers=headers or {})
    if body_html:
        message.attach_alternative(body_html, "text/html")
    return message


def send(
    name: str, *, to: str, context: dict[str, Any], html: bool = True, headers: dict[str, str] | None = None
) -> None:
    build(name, to=to, context=context, html=html, headers=headers).send()
