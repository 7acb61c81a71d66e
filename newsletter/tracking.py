"""ESP delivery and engagement events, from Anymail's ``tracking`` signal.

The ESP posts to /webhooks/anymail/<esp>/tracking/ (HTTP basic auth with ANYMAIL_WEBHOOK_SECRET);
Anymail normalizes the payload and sends one ``tracking`` signal per event, handled here:

    event                                         what happens
    --------------------------------------------  ------------------------------------------------
    bounced (any reject reason)                   subscriber suppressed: status bounced
    rejected: bounced / invalid / timed_out       subscriber suppressed: status bounced
    complained                                    subscriber suppressed: status complained
    rejected: spam                                subscriber suppressed: status complained
    unsubscribed; rejected: unsubscribed          subscriber unsubscribed (no suppression: they
                                                  may sign up again, with double opt-in)
    opened                                        Delivery.opened_at = earliest open
    clicked                                       Delivery.clicked_at = earliest click, and
                                                  opened_at too when empty or later (a click is an open)
    rejected: blocked / other / no reason         nothing: ESP policy (DMARC, reputation, content) is
                                                  our problem, not the reader's; logged as a warning
    queued, sent, delivered, deferred, failed,    nothing beyond the event record
    autoresponded, subscribed, unknown, ...

Every event is kept once as a TrackingEvent, by its ESP event id (or, when the ESP gives none, a
stable hash of what identifies it); a replayed webhook finds the id taken and changes nothing.
A complaint is never downgraded to a bounce or an unsubscribe.

Odd input never raises: a webhook that answers 500 is retried by the ESP for days. Database
errors do propagate: the transaction is rolled back (event record included), so the ESP's retry
applies the event exactly once.

Without a WEBHOOK_SECRET, Anymail's views accept anyone's posts, so events are then ignored
(anyone could otherwise suppress any address); in production with an Anymail ESP backend the
system check newsletter.E001 refuses to start instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from anymail.signals import EventType, RejectReason
from anymail.utils import get_anymail_setting
from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from newsletter.models import Delivery, TrackingEvent
from subscribers.mailbox import same_mailbox
from subscribers.models import Subscriber, Suppression
from subscribers.services import subscriber_suppress, subscriber_unsubscribe

logger = logging.getLogger(__name__)

UNSUBSCRIBE = "unsubscribe"
# What a rejection (the ESP refusing to send) means for the reader, by Anymail's reject reason.
REJECTED_ACTIONS = {
    RejectReason.BOUNCED: Suppression.Reason.BOUNCED,
    RejectReason.INVALID: Suppression.Reason.BOUNCED,
    RejectReason.TIMED_OUT: Suppression.Reason.BOUNCED,
    RejectReason.SPAM: Suppression.Reason.COMPLAINED,
    RejectReason.UNSUBSCRIBED: UNSUBSCRIBE,
}
# A soft bounce (a full mailbox, a virus scanner's notice) suppresses only when it keeps happening.
SOFT_BOUNCE = "soft_bounce"  # our TrackingEvent.event_type for them (Anymail reports them as "bounced")
SOFT_BOUNCES_TO_SUPPRESS = 3
SOFT_BOUNCE_WINDOW = dt.timedelta(days=30)
# The ESPs' own names for bounces that are not permanent (Postmark "Type", Amazon SES "bounceType").
SOFT_BOUNCE_TYPES = frozenset({"SoftBounce", "VirusNotification", "Transient", "DnsError", "AutoResponder"})
EVENT_ACTIONS = {
    EventType.BOUNCED: Suppression.Reason.BOUNCED,
    EventType.COMPLAINED: Suppression.Reason.COMPLAINED,
    EventType.UNSUBSCRIBED: UNSUBSCRIBE,
}


def _max_length(field: models.CharField[Any, Any]) -> int:
    assert field.max_length is not None, f"{field} has a max_length"
    return field.max_length


EVENT_ID_MAX = _max_length(TrackingEvent._meta.get_field("event_id"))
EVENT_TYPE_MAX = _max_length(TrackingEvent._meta.get_field("event_type"))


def webhook_secrets() -> list[str]:
    """The accepted "user:password" strings, read the way Anymail's webhook views read them."""
    value = get_anymail_setting("webhook_secret", default=None)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return [secret for secret in value if isinstance(secret, str) and secret]


@checks.register(checks.Tags.security)
def webhook_secret_in_production(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Production with an Anymail ESP needs authenticated webhooks, or bounces go unhandled."""
    backend = str(getattr(settings, "EMAIL_BACKEND", ""))
    if not getattr(settings, "PRODUCTION", False) or not backend.startswith("anymail."):
        return []
    secrets = webhook_secrets()
    if secrets and all(":" in secret for secret in secrets):
        return []
    return [
        checks.Error(
            "ANYMAIL_WEBHOOK_SECRET is missing or not of the form user:password, so the ESP's "
            "tracking webhooks (bounces, complaints) would be open to anyone, and ignored.",
            hint=(
                "Set ANYMAIL_WEBHOOK_SECRET to two random strings joined by a colon, and give the ESP "
                "https://user:password@<your host>/webhooks/anymail/<esp>/tracking/ as its webhook URL."
            ),
            id="newsletter.E001",
        )
    ]


def handle_tracking_event(sender: object, event: object, esp_name: object, **kwargs: object) -> None:
    """Receiver for ``anymail.signals.tracking`` (connected in NewsletterConfig.ready).

    ``event`` is Anymail's AnymailTrackingEvent, read attribute by attribute with getattr: an ESP
    may leave any of them out."""
    if not webhook_secrets():
        logger.warning(
            "tracking: %s %s event ignored: no ANYMAIL WEBHOOK_SECRET, so the webhook is unauthenticated",
            esp_name,
            getattr(event, "event_type", "?"),
        )
        return
    try:
        record_event(event, str(esp_name or "esp"))
    except DatabaseError:
        raise
    except Exception:
        logger.exception("tracking: could not handle a %s event; ignored", esp_name)


def record_event(event: object, esp_name: str) -> TrackingEvent | None:
    """Keep the event once and apply it; None when it was seen before."""
    event_type = _text(getattr(event, "event_type", None)) or EventType.UNKNOWN
    if event_type == EventType.BOUNCED and is_soft_bounce(event):
        event_type = SOFT_BOUNCE
    delivery = find_delivery(event)
    subscriber = find_subscriber(event, delivery)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = TrackingEvent.objects.create(
                    event_id=tracking_event_id(event, esp_name),
                    event_type=event_type[:EVENT_TYPE_MAX],
                    delivery=delivery,
                    description=_description(event),
                )
        except IntegrityError:
            logger.info("tracking: %s %s event already recorded; ignored", esp_name, event_type)
            return None
        when = _when(getattr(event, "timestamp", None))
        if event_type == SOFT_BOUNCE:
            _after_soft_bounce(subscriber)
            return record
        if delivery is not None and event_type == EventType.OPENED:
            _keep_earliest(delivery, "opened_at", when)
        elif delivery is not None and event_type == EventType.CLICKED:
            _keep_earliest(delivery, "clicked_at", when)
            _keep_earliest(delivery, "opened_at", when)
        action = subscriber_action(event_type, _text(getattr(event, "reject_reason", None)))
        if action is not None:
            _apply_to_subscriber(subscriber, action, event_type)
        elif event_type == EventType.REJECTED:
            logger.warning(
                "tracking: %s rejected delivery %s (reason %s); the subscriber is left as they are",
                esp_name,
                getattr(delivery, "pk", None),
                getattr(event, "reject_reason", None),
            )
    return record


def subscriber_action(event_type: str, reject_reason: str) -> str | None:
    """A Suppression.Reason, UNSUBSCRIBE, or None (nothing happens to the subscriber)."""
    if event_type == EventType.REJECTED:
        return REJECTED_ACTIONS.get(reject_reason)
    return EVENT_ACTIONS.get(event_type)


def is_soft_bounce(event: object) -> bool:
    """A bounce the ESP itself calls temporary (Anymail reports hard and soft ones alike)."""
    raw = getattr(event, "esp_event", None)
    if not isinstance(raw, dict):
        return False
    bounce = raw.get("bounce")  # Amazon SES wraps it
    kinds = [raw.get("Type"), bounce.get("bounceType") if isinstance(bounce, dict) else None]
    return any(isinstance(kind, str) and kind in SOFT_BOUNCE_TYPES for kind in kinds)


def _after_soft_bounce(subscriber: Subscriber | None) -> None:
    """Suppress the reader once SOFT_BOUNCES_TO_SUPPRESS soft bounces came within SOFT_BOUNCE_WINDOW."""
    if subscriber is None:
        return
    recent = TrackingEvent.objects.filter(
        event_type=SOFT_BOUNCE,
        delivery__subscriber=subscriber,
        received_at__gte=timezone.now() - SOFT_BOUNCE_WINDOW,
    ).count()
    if recent >= SOFT_BOUNCES_TO_SUPPRESS:
        _apply_to_subscriber(subscriber, Suppression.Reason.BOUNCED, f"{recent}th {SOFT_BOUNCE}")
    else:
        logger.info("tracking: soft bounce %s of %s for subscriber %s", recent, SOFT_BOUNCES_TO_SUPPRESS, subscriber.pk)


def find_delivery(event: object) -> Delivery | None:
    """By the delivery_id our sender puts in the metadata, else by the ESP's message id."""
    deliveries = Delivery.objects.select_related("subscriber")
    metadata = getattr(event, "metadata", None)
    if isinstance(metadata, dict):
        raw = _text(metadata.get("delivery_id"))
        if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**63:
            delivery = deliveries.filter(pk=int(raw)).first()
            if delivery is not None:
                return delivery
        elif raw:
            logger.warning("tracking: event metadata has an unusable delivery_id; matching by message id")
    message_id = _text(getattr(event, "message_id", None))
    if not message_id:  # a blank id would match every delivery never handed to an ESP
        return None
    return deliveries.filter(esp_message_id=message_id).order_by("pk").first()


def find_subscriber(event: object, delivery: Delivery | None) -> Subscriber | None:
    """The delivery's subscriber, unless the event names another address: that address's."""
    recipient = _text(getattr(event, "recipient", None))
    recipient = recipient if "@" in recipient else ""
    if delivery is not None:
        if not recipient or _same_address(recipient, delivery.subscriber.email):
            return delivery.subscriber
        logger.warning("tracking: delivery %s went to another address than the event names", delivery.pk)
    if recipient:
        return Subscriber.objects.with_email(recipient).first()
    return None


def tracking_event_id(event: object, esp_name: str) -> str:
    """The ESP's event id, namespaced by ESP and event type; without one, a stable hash of the
    event's identity (plus the raw payload when there is no timestamp, so that two distinct events
    of one message are not merged while a byte-identical replay still is)."""
    esp = esp_name[:40]
    event_type = (_text(getattr(event, "event_type", None)) or EventType.UNKNOWN)[:EVENT_TYPE_MAX]
    esp_event_id = _text(getattr(event, "event_id", None))
    if esp_event_id:
        event_id = f"{esp}:{event_type}:{esp_event_id}"
        if len(event_id) <= EVENT_ID_MAX:
            return event_id
        return f"{esp}:{event_type}:sha256:{hashlib.sha256(esp_event_id.encode()).hexdigest()}"
    timestamp = getattr(event, "timestamp", None)
    parts = [
        esp,
        _text(getattr(event, "message_id", None)),
        event_type,
        timestamp.isoformat() if isinstance(timestamp, dt.datetime) else "",
        _text(getattr(event, "recipient", None)).lower(),
    ]
    if not isinstance(timestamp, dt.datetime):
        parts.append(_fingerprint(getattr(event, "esp_event", None)))
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{esp}:{event_type}:sha256:{digest}"


def _apply_to_subscriber(subscriber: Subscriber | None, action: str, event_type: str) -> None:
    if subscriber is None:
        logger.info("tracking: %s event for an address that is not a subscriber; nothing to change", event_type)
        return
    if subscriber.status == Subscriber.Status.COMPLAINED:
        return  # the strongest signal already; a later bounce or unsubscribe adds nothing
    if action == UNSUBSCRIBE:
        subscriber_unsubscribe(subscriber=subscriber)
    else:
        subscriber_suppress(subscriber=subscriber, reason=action)
    logger.info("tracking: subscriber %s %s after a %s event", subscriber.pk, subscriber.status, event_type)


def _keep_earliest(delivery: Delivery, field: str, when: dt.datetime) -> None:
    """Set the field when empty or later than ``when``, in one UPDATE (safe under concurrent webhooks)."""
    Delivery.objects.filter(Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": when}), pk=delivery.pk).update(
        **{field: when}
    )


def _when(value: object) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return timezone.now()
    if timezone.is_naive(value):
        return timezone.make_aware(value, dt.UTC)
    return value


def _description(event: object) -> str:
    """What the ESP said, without addresses (the MTA response often quotes the recipient)."""
    parts = [_text(getattr(event, "reject_reason", None)), _text(getattr(event, "description", None))]
    return ": ".join(part for part in parts if part)[:1000]


def _same_address(left: str, right: str) -> bool:
    """One mailbox: an ESP may report the recipient in another case, in Punycode, unquoted."""
    return same_mailbox(left, right)


def _text(value: object) -> str:
    if value is None or isinstance(value, dict | list | tuple | set | bytes):
        return ""
    return str(value).strip()


def _fingerprint(raw: object) -> str:
    try:
        return json.dumps(raw, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(raw)
