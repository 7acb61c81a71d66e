"""The personal links in a digest (view in browser, feedback, preferences, unsubscribe), and the way
back to a digest from a feedback page."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from common.links import token_link
from newsletter.models import Delivery, Edition
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token

VIEW_SALT = "paperboy.newsletter.view"
RECENT = 30  # digests (or editions) searched for the one that carried a paper


def view_token(delivery_id: int, link_key: str) -> str:
    """The "view in browser" token: dies with the reader's link key, like their other links."""
    return signing.Signer(salt=VIEW_SALT).sign(f"{delivery_id}.{link_key}")


def read_view_token(token: str) -> tuple[int, str] | None:
    """(delivery id, link key) of a genuine view token, else None."""
    try:
        delivery_id, _, link_key = signing.Signer(salt=VIEW_SALT).unsign(token).partition(".")
        return int(delivery_id), link_key
    except (signing.BadSignature, ValueError):
        return None


def personal_links(delivery: Delivery, subscriber: Subscriber) -> tuple[dict[str, str], str]:
    """The digest's links for this reader, and the feedback link's stem (``<stem><paper id>/more/``)."""
    links = {
        "view_url": _view_link(delivery, subscriber),
        "preferences_url": token_link("subscribers:preferences", make_token(subscriber, Purpose.PREFERENCES)),
        "unsubscribe_url": token_link("subscribers:unsubscribe", make_token(subscriber, Purpose.UNSUBSCRIBE)),
    }
    return links, _feedback_stem(subscriber)


def web_view_links(delivery: Delivery, subscriber: Subscriber) -> tuple[dict[str, str], str]:
    """The links of the web view of a digest: a forwarded view link must not hand over the account,
    so preferences and unsubscribe lead to the public signup page (the email keeps the real ones)."""
    public = settings.SITE_URL + reverse("subscribers:subscribe")
    links = {"view_url": _view_link(delivery, subscriber), "preferences_url": public, "unsubscribe_url": public}
    return links, _feedback_stem(subscriber)


def _view_link(delivery: Delivery, subscriber: Subscriber) -> str:
    return token_link("newsletter:view_digest", view_token(delivery.pk, subscriber.link_key))


def _feedback_stem(subscriber: Subscriber) -> str:
    return token_link("newsletter:feedback", make_token(subscriber, Purpose.FEEDBACK), 0, "more").removesuffix(
        "0/more/"
    )


def way_back(subscriber: Subscriber, paper_id: int) -> tuple[str, str]:
    """(URL, label) of the digest a feedback page leads back to: the web view of the reader's
    latest sent digest that carried the paper, else of their latest sent digest; with none, the
    archive page of the latest edition that listed the paper, else the archive. A site path."""
    sent = [Delivery.Status.SENT, Delivery.Status.UNKNOWN]  # 'unknown' rows were most likely delivered
    rows = list(
        Delivery.objects.filter(subscriber=subscriber, status__in=sent)
        .order_by("-created_at", "-pk")
        .values_list("pk", "paper_ids")[:RECENT]
    )
    if rows:
        delivery_id = next((pk for pk, paper_ids in rows if paper_id in paper_ids), rows[0][0])
        return reverse(
            "newsletter:view_digest", args=[view_token(delivery_id, subscriber.link_key)]
        ), "Back to your digest"
    editions = Edition.objects.published().order_by("-period_start", "kind").values_list("pk", "paper_ids")[:RECENT]
    edition_id = next((pk for pk, paper_ids in editions if paper_id in paper_ids), None)
    if edition_id is not None:
        return reverse("newsletter:archive_edition", args=[edition_id]), "Back to the digest"
    return reverse("newsletter:archive"), "All digests"
