"""The personal links in a digest: view in browser, feedback, preferences, unsubscribe."""

from __future__ import annotations

from django.core import signing

from common.links import token_link
from newsletter.models import Delivery
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token

VIEW_SALT = "paperboy.newsletter.view"


def view_token(delivery_id: int) -> str:
    return signing.Signer(salt=VIEW_SALT).sign(str(delivery_id))


def read_view_token(token: str) -> int | None:
    try:
        return int(signing.Signer(salt=VIEW_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def personal_links(delivery: Delivery, subscriber: Subscriber) -> tuple[dict[str, str], str]:
    """The digest's links for this reader, and the feedback link's stem (``<stem><paper id>/more/``)."""
    links = {
        "view_url": token_link("newsletter:view_digest", view_token(delivery.pk)),
        "preferences_url": token_link("subscribers:preferences", make_token(subscriber, Purpose.PREFERENCES)),
        "unsubscribe_url": token_link("subscribers:unsubscribe", make_token(subscriber, Purpose.UNSUBSCRIBE)),
    }
    feedback = token_link("newsletter:feedback", make_token(subscriber, Purpose.FEEDBACK), 0, "more")
    return links, feedback.removesuffix("0/more/")
