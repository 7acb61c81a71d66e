from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from common import emails
from common.links import token_link
from subscribers import services
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


@shared_task(
    name="subscribers.signup",
    autoretry_for=(OperationalError, InterfaceError),  # the database restarting: try again shortly
    retry_backoff=5,
    max_retries=5,
)
def signup(*, email: str, interests: str, time_zone: str, source: str, signup_ip_hash: str) -> None:
    """A signup form's address, handled away from the request (services.subscriber_signup_request):
    a new mailbox is stored and sent a confirmation, a known one gets what its state calls for.

    The one task that takes an address instead of an id: the address is what it is about. Run
    twice (a redelivery after a lost worker), it is one more signup of the same address, within
    the mailbox's daily cap on confirmation emails."""
    services.subscriber_signup(
        email=email, interests=interests, time_zone=time_zone, source=source, signup_ip_hash=signup_ip_hash
    )


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
