"""What happens to a subscriber: each change is one function, called by views, admin and tasks."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from subscribers.models import Subscriber, Suppression, email_hash, ip_hash, normalize_email

logger = logging.getLogger(__name__)
Status = Subscriber.Status

# Which email a signup triggers, by the address's current status. Bounced and complained
# addresses get nothing: they are on the suppression list.
CONFIRMABLE = {Status.PENDING, Status.UNSUBSCRIBED}
SUBSCRIBED = {Status.ACTIVE, Status.PAUSED}


def _enqueue_email(subscriber: Subscriber, kind: str) -> None:
    from subscribers.tasks import send_subscriber_email

    transaction.on_commit(lambda: send_subscriber_email.delay(subscriber.pk, kind))


def _take_confirmation_slot(subscriber: Subscriber) -> bool:
    """At most SIGNUP_CONFIRMATIONS_PER_DAY emails to one address per day, whoever asks."""
    today = timezone.localdate()
    if subscriber.confirmation_day != today:
        subscriber.confirmation_day, subscriber.confirmations_sent = today, 0
    if subscriber.confirmations_sent >= settings.SIGNUP_CONFIRMATIONS_PER_DAY:
        logger.info("signup: daily email cap reached for subscriber %s", subscriber.pk)
        return False
    subscriber.confirmations_sent += 1
    return True


@transaction.atomic
def subscriber_signup(
    *, email: str, interests: str = "", time_zone: str = "UTC", source: str, ip: str | None = None
) -> None:
    """Handle a signup form. Whatever the address's state, the caller shows the same page."""
    email = normalize_email(email)
    suppression = Suppression.lookup(email)
    if suppression and suppression.reason != Suppression.Reason.FORGOTTEN:
        logger.info("signup: suppressed address (%s) ignored", suppression.reason)
        return

    subscriber = Subscriber.objects.select_for_update().with_email(email).first()
    if subscriber is None:
        subscriber = Subscriber(
            email=email,
            interests=interests,
            time_zone=time_zone,
            consent_source=source,
            signup_ip_hash=ip_hash(ip),
        )
        try:
            with transaction.atomic():
                subscriber.save()
        except IntegrityError:  # the same address signed up in a parallel request
            subscriber = Subscriber.objects.select_for_update().with_email(email).get()

    if subscriber.status in CONFIRMABLE:
        if subscriber.status == Status.PENDING and interests and not subscriber.interests:
            subscriber.interests = interests
        if subscriber.status == Status.UNSUBSCRIBED:
            subscriber.consent_source = source
        kind = "confirm"
    elif subscriber.status in SUBSCRIBED:
        kind = "already-subscribed"
    else:
        return
    if _take_confirmation_slot(subscriber):
        subscriber.save()
        _enqueue_email(subscriber, kind)
    else:
        subscriber.save(update_fields=["confirmation_day", "confirmations_sent"])


@transaction.atomic
def subscriber_resend_confirmation(*, subscriber: Subscriber) -> bool:
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if subscriber.status not in CONFIRMABLE or not _take_confirmation_slot(subscriber):
        return False
    subscriber.save(update_fields=["confirmation_day", "confirmations_sent"])
    _enqueue_email(subscriber, "confirm")
    return True


@transaction.atomic
def subscriber_confirm(*, subscriber: Subscriber, ip: str | None = None) -> bool:
    """Double opt-in's second step. True when this call activated the subscriber; a second
    confirmation (or one for an active subscriber) changes nothing."""
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if subscriber.status not in CONFIRMABLE:
        return False
    now = timezone.now()
    subscriber.set_status(Status.ACTIVE)
    subscriber.confirmed_at = subscriber.consent_at = now
    subscriber.consent_ip_hash = ip_hash(ip)
    subscriber.save()
    # Coming back after "forget me" is a fresh, confirmed consent.
    Suppression.objects.filter(email_hash=email_hash(subscriber.email), reason=Suppression.Reason.FORGOTTEN).delete()
    _enqueue_email(subscriber, "welcome")
    return True


def _move(subscriber: Subscriber, *, allowed_from: set[str], to: str) -> bool:
    updated = Subscriber.objects.filter(pk=subscriber.pk, status__in=allowed_from).update(
        status=to, status_changed_at=timezone.now()
    )
    subscriber.refresh_from_db()
    return bool(updated)


def subscriber_unsubscribe(*, subscriber: Subscriber) -> bool:
    """Takes effect at once for every digest not yet handed to the provider (they re-check)."""
    return _move(subscriber, allowed_from={Status.PENDING, Status.ACTIVE, Status.PAUSED}, to=Status.UNSUBSCRIBED)


def subscriber_pause(*, subscriber: Subscriber) -> bool:
    return _move(subscriber, allowed_from={Status.ACTIVE}, to=Status.PAUSED)


def subscriber_resume(*, subscriber: Subscriber) -> bool:
    return _move(subscriber, allowed_from={Status.PAUSED}, to=Status.ACTIVE)


@transaction.atomic
def subscriber_suppress(*, subscriber: Subscriber, reason: str) -> None:
    """Bounced, complained or suppressed by an editor: never mailed again, never re-added silently."""
    Suppression.add(subscriber.email, reason)
    status = {
        Suppression.Reason.BOUNCED: Status.BOUNCED,
        Suppression.Reason.COMPLAINED: Status.COMPLAINED,
    }.get(reason, Status.UNSUBSCRIBED)
    subscriber.set_status(status)
    subscriber.save(update_fields=["status", "status_changed_at"])


@transaction.atomic
def subscriber_erase(*, subscriber: Subscriber) -> None:
    """ "Delete me": the row goes; only the suppression hash remains."""
    Suppression.add(subscriber.email, Suppression.Reason.FORGOTTEN)
    subscriber.delete()


def subscriber_export(*, subscriber: Subscriber) -> dict:
    """Everything Paperboy keeps about one subscriber, for "download my data"."""

    def when(value) -> str | None:
        return value.isoformat() if value else None

    return {
        "email": subscriber.email,
        "status": subscriber.status,
        "created_at": when(subscriber.created_at),
        "confirmed_at": when(subscriber.confirmed_at),
        "status_changed_at": when(subscriber.status_changed_at),
        "consent": {
            "source": subscriber.consent_source,
            "at": when(subscriber.consent_at),
            "ip_hash": subscriber.consent_ip_hash,
            "signup_ip_hash": subscriber.signup_ip_hash,
        },
        "preferences": {
            "frequency": subscriber.frequency,
            "weekly_day": subscriber.get_weekly_day_display(),
            "send_hour": subscriber.send_hour,
            "time_zone": subscriber.time_zone,
            "papers_per_digest": subscriber.papers_per_digest,
            "email_format": subscriber.email_format,
            "interests": subscriber.interests,
            "categories": subscriber.categories,
            "followed_authors": subscriber.followed_authors,
            "skip_if_no_match": subscriber.skip_if_no_match,
        },
    }
