"""The digest email of one delivery, and a test send of an edition."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse

from newsletter.ledger import message_id_for
from newsletter.links import personal_links
from newsletter.mime import email_class
from newsletter.models import Delivery, Edition
from newsletter.rendering import RenderedEdition, paper_views, render_digest, render_edition, withdrawn_papers
from subscribers.models import Subscriber


def list_id(kind: str) -> str:
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"{settings.SITE_NAME} {kind} digest <{kind}.digest.{domain}>"


def build_message(
    delivery: Delivery,
    subscriber: Subscriber,
    rendered: RenderedEdition,
    *,
    shown_links: tuple[dict[str, str], str] | None = None,
) -> EmailMultiAlternatives:
    """``shown_links``: (links, feedback stem) to show instead of the reader's personal ones."""
    links, feedback = shown_links or personal_links(delivery, subscriber)
    wants_html = subscriber.email_format == Subscriber.Format.HTML
    digest = render_digest(
        rendered,
        delivery.paper_ids,
        links=links,
        feedback_url=feedback,
        html=wants_html,
        reasons=delivery.reasons,
        unmatched=delivery.unmatched,
    )
    message = email_class()(
        digest.subject,
        digest.text,
        settings.DEFAULT_FROM_EMAIL,
        [subscriber.email],
        headers={
            "List-Unsubscribe": f"<{links['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": list_id(delivery.kind),
            "Message-ID": message_id_for(delivery),
        },
    )
    if wants_html:
        message.attach_alternative(digest.html, "text/html")
    # Anymail reads these; other backends ignore them.
    message.metadata = {"delivery_id": str(delivery.pk), "edition_id": str(delivery.edition_id)}  # type: ignore[attr-defined]
    # One tag: some ESPs (Postmark) take only one per message.
    message.tags = [f"digest-{delivery.kind}"]  # type: ignore[attr-defined]
    return message


def send_test(edition: Edition, address: str) -> None:
    """A test of ``edition`` to any address: the top papers, links that lead nowhere personal.
    It is nobody's digest, so its why lines are those of a reader with no interests: the editor's
    picks, and the rest trending."""
    rendered = render_edition(edition, paper_views(edition, withdrawn_papers(edition)), tracking=False)
    site = settings.SITE_URL
    links = {
        "view_url": site + reverse("newsletter:archive_edition", args=[edition.pk]),
        "preferences_url": site + reverse("subscribers:subscribe"),
        "unsubscribe_url": site + reverse("subscribers:subscribe"),
    }
    paper_ids = edition.paper_ids[:10]
    pinned = set(edition.pinned_ids)
    reasons = [["pick"] if pk in pinned else ["trending"] for pk in paper_ids]
    digest = render_digest(rendered, paper_ids, links=links, feedback_url=f"{site}/#", reasons=reasons)
    message = EmailMultiAlternatives(f"[TEST] {digest.subject}", digest.text, settings.DEFAULT_FROM_EMAIL, [address])
    message.attach_alternative(digest.html, "text/html")
    message.send()
