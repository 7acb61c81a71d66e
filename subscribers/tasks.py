from __future__ import annotations

import logging

from celery import shared_task

from common import emails
from common.links import token_link
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token

logger = logging.getLogger(__name__)

# Which statuses each email still makes sense for when the task runs (things change in between).
SENDABLE = {
    "confirm": {Subscriber.Status.PENDING, Subscriber.Status.UNSUBSCRIBED},
    "welcome": {Subscriber.Status.ACTIVE},
    "already-subscribed": {Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED},
}


def links_for(subscriber: Subscriber) -> dict[str, str]:
    return {
        "confirm_url": token_link("subscribers:confirm", make_token(subscriber, Purpose.CONFIRM)),
        "preferences_url": token_link("subscribers:preferences", make_token(subscriber, Purpose.PREFERENCES)),
        "unsubscribe_url": token_link("subscribers:unsubscribe", make_token(subscriber, Purpose.UNSUBSCRIBE)),
    }


@shared_task(name="subscribers.send_subscriber_email", autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_subscriber_email(subscriber_id: int, kind: str) -> bool:
    """Send one transactional email (confirm, welcome, already-subscribed) if it still applies."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or subscriber.status not in SENDABLE[kind]:
        logger.info("not sending %s to subscriber %s: no longer applies", kind, subscriber_id)
        return False
    emails.send(
        kind,
        to=subscriber.email,
        context={"subscriber": subscriber, **links_for(subscriber)},
        html=subscriber.email_format == Subscriber.Format.HTML,
    )
    return True


@shared_task(name="subscribers.purge_unconfirmed")
def purge_unconfirmed() -> int:
    """Addresses that never confirmed are forgotten after UNCONFIRMED_RETENTION_DAYS."""
    import datetime as dt

    from django.conf import settings
    from django.utils import timezone

    cutoff = timezone.now() - dt.timedelta(days=settings.UNCONFIRMED_RETENTION_DAYS)
    deleted, _ = Subscriber.objects.filter(status=Subscriber.Status.PENDING, created_at__lt=cutoff).delete()
    logger.info("purged %s unconfirmed subscribers", deleted)
    return deleted
