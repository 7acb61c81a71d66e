"""The personal links in a digest (view in browser, feedback, preferences, unsubscribe, the click
token of its tracked links), and the way back to a digest from a feedback page."""

from __future__ import annotations

import re

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from common.links import token_link
from newsletter.models import Delivery, Edition
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token

VIEW_SALT = "paperboy.newsletter.view"
CLICK_SALT = "paperboy.newsletter.click"
CLICK_SIGNATURE_CHARS = 16  # base64 characters: 96 bits
_DELIVERY_ID = re.compile(r"[0-9]{1,18}")  # a bigint's digits: anything else is no delivery
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


def _click_signature(delivery_id: str, link_key: str, key: str | bytes | None = None) -> str:
    return signing.Signer(salt=f"{CLICK_SALT}.{link_key}").signature(delivery_id, key)[:CLICK_SIGNATURE_CHARS]


def click_token(delivery_id: int, link_key: str) -> str:
    """The token of a digest's tracked links (``/c/<token>/<paper>/<kind>/``) and its open pixel:
    ``<delivery id>:<signature>``. Unlike view_token, the link key is in the signing salt, not in
    the token (it dies with the reader's link key just the same), and the HMAC-SHA256 is cut to
    96 bits (RFC 2104 allows it; forging one means guessing 2^96 online): the token is repeated in
    up to six links per paper, and a 50-paper digest must stay under Gmail's 102 KB clip."""
    return f"{delivery_id}:{_click_signature(str(delivery_id), link_key)}"


def read_click_token(token: str) -> Delivery | None:
    """The delivery of a genuine click token (its subscriber's link key still the one signed),
    else None; any string is safe to pass. One query, none for a token of no delivery id."""
    delivery_id, _, signature = token.partition(":")
    if not _DELIVERY_ID.fullmatch(delivery_id):
        return None
    row = Delivery.objects.filter(pk=int(delivery_id)).select_related("subscriber").first()
    if row is None:
        return None
    link_key = row.subscriber.link_key
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]  # as Signer.unsign: rotation keeps links
    if any(constant_time_compare(signature, _click_signature(delivery_id, link_key, key)) for key in keys):
        return row
    return None


def personal_links(delivery: Delivery, subscriber: Subscriber) -> tuple[dict[str, str], str]:
    """The digest's links for this reader, and the feedback link's stem (``<stem><paper id>/more/``)."""
    links = {
        "view_url": _view_link(delivery, subscriber),
        "click_token": click_token(delivery.pk, subscriber.link_key),
        "preferences_url": token_link("subscribers:preferences", make_token(subscriber, Purpose.PREFERENCES)),
        "unsubscribe_url": token_link("subscribers:unsubscribe", make_token(subscriber, Purpose.UNSUBSCRIBE)),
    }
    return links, _feedback_stem(subscriber)


def web_view_links(delivery: Delivery, subscriber: Subscriber) -> tuple[dict[str, str], str]:
    """The links of the web view of a digest: a forwarded view link must not hand over the account,
    so preferences and unsubscribe lead to the public signup page (the email keeps the real ones).
    Its paper links are the email's tracked ones: they lead anyone to the paper, and count for the
    delivery as a forwarded email's would."""
    public = settings.SITE_URL + reverse("subscribers:subscribe")
    links = {
        "view_url": _view_link(delivery, subscriber),
        "click_token": click_token(delivery.pk, subscriber.link_key),
        "preferences_url": public,
        "unsubscribe_url": public,
    }
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
