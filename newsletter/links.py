"""The personal links in a digest: view in browser, feedback, preferences, unsubscribe."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from common.links import token_link
from newsletter.models import Delivery
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token

VIEW_SALT = "paperboy.newsletter.view"


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
