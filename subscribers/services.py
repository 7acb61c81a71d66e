"""What happens to a subscriber: each change is one function, called by views, admin and tasks."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Field, QuerySet
from django.utils import timezone

from common.db import column
from subscribers.models import Subscriber, Suppression, email_hashes, ip_hash, normalize_email
from subscribers.muting import MAX_TOPICS, clean_muted_topics, normalized_topic, topic_key

logger = logging.getLogger(__name__)
Status = Subscriber.Status

# Which email a signup triggers, by the mailbox's current status. Bounced and complained
# addresses get nothing: they are on the suppression list. A merged row is never found by a
# signup (it has no mailbox key) and is never confirmed again.
CONFIRMABLE = {Status.PENDING, Status.UNSUBSCRIBED}
SUBSCRIBED = {Status.ACTIVE, Status.PAUSED}


def _enqueue_email(subscriber: Subscriber, kind: str) -> None:
    from subscribers.tasks import send_subscriber_email

    # ignore_result: nobody waits for this task's result (it records what it did in the
    # database). With the Redis result backend, a publish that expects a result also subscribes
    # the publishing web process to that result's channel, one more subscription per signup for
    # the life of the process.
    pk = subscriber.pk
    transaction.on_commit(lambda: send_subscriber_email.apply_async((pk, kind), ignore_result=True))


def _locked_subscriber(email: str) -> QuerySet[Subscriber]:
    """The subscriber of this address's mailbox (any form of it, one index probe), to be locked
    for the transaction."""
    return Subscriber.objects.select_for_update().with_email(email).order_by()


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


LENGTH = re.compile(r"\(\d+\)$")  # varchar(254) -> varchar


@functools.cache
def _insert_if_new_sql(vendor: str) -> tuple[str, tuple[Field[Any, Any], ...]]:
    """The statement _insert_if_new runs on this database vendor, and the fields it writes."""
    meta, suppressions = Subscriber._meta, Suppression._meta
    fields = tuple(field for field in meta.concrete_fields if field is not meta.pk)
    quote = connection.ops.quote_name

    def placeholder(field: Field[Any, Any]) -> str:
        if vendor != "postgresql":
            return "%s"
        # The values come through a SELECT, so PostgreSQL types them itself (a NULL would be
        # text); the cast restores the column's type, without a length: too long still fails.
        db_type = field.db_type(connection)
        assert db_type is not None  # None only for fields without a column, and these are concrete fields
        return f"CAST(%s AS {LENGTH.sub('', db_type)})"

    table, pk = quote(meta.db_table), quote(column(meta.pk))
    columns = ", ".join(quote(column(field)) for field in fields)
    values = ", ".join(placeholder(field) for field in fields)
    hash_column = quote(column(suppressions.get_field("email_hash")))
    reason_column = quote(column(suppressions.get_field("reason")))
    # Identifiers come from the models' own metadata; the values go as parameters.
    suppressions_table = quote(suppressions.db_table)
    # The mailbox's hash and the address's own legacy one (models.email_hashes), always both.
    suppressed = f"SELECT 1 FROM {suppressions_table} WHERE {hash_column} IN (%s, %s) AND {reason_column} <> %s"  # noqa: S608
    insert = f"INSERT INTO {table} ({columns}) SELECT {values}"
    sql = f"{insert} WHERE NOT EXISTS ({suppressed}) ON CONFLICT DO NOTHING RETURNING {pk}"
    return sql, fields


def _insert_if_new(subscriber: Subscriber) -> bool:
    """Insert the (unsaved) subscriber in one statement, unless its mailbox is already there (in
    any form: the unique key) or suppressed (bounced, complained, suppressed by an editor; an
    address erased on request may sign up again). True, with the pk set, when it was inserted.

    This is the whole signup of a new address: one transaction of one statement, no separate
    lookups. The values are prepared exactly as Model.save() prepares
    them (pre_save, which also computes the mailbox key; get_db_prep_save), so they follow the
    model."""
    sql, fields = _insert_if_new_sql(connection.vendor)
    values = [field.get_db_prep_save(field.pre_save(subscriber, True), connection) for field in fields]
    hashes = email_hashes(subscriber.email)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Committed without waiting for the WAL to reach the disk: a database crash in the next
            # few hundred milliseconds may lose the new row, and that loses nothing promised to
            # anyone: nothing was sent yet but, at most, the confirmation (published after the
            # commit), whose link then says it is invalid, and the reader can sign up again.
            # Everything else here commits as usual.
            cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(sql, [*values, hashes[0], hashes[-1], Suppression.Reason.FORGOTTEN])
        row = cursor.fetchone()
    if row is None:
        return False
    subscriber.pk = row[0]
    subscriber._state.adding, subscriber._state.db = False, connection.alias
    return True


def subscriber_signup_request(
    *, email: str, interests: str = "", time_zone: str = "UTC", source: str, signup_ip_hash: str = ""
) -> None:
    """What the signup form does with a valid address: publish one ``subscribers.signup`` task,
    and nothing else. No query, no lookup: the request does the same work whether the address is
    new, pending, active, paused, unsubscribed, bounced, suppressed or erased, so neither its
    answer nor its timing tells them apart. The task (subscriber_signup) decides what happens.

    ignore_result: nobody waits for the task's result (with the Redis result backend, a publish
    that expects one also subscribes the web process to that result's channel). argsrepr and
    kwargsrepr: what monitoring (events, Flower) shows of the task instead of the address; Celery
    would otherwise format the arguments on every publish (~0.15 ms of a signup POST's ~1 ms of
    publishing)."""
    from subscribers.tasks import signup

    signup.apply_async(
        kwargs={
            "email": email,
            "interests": interests,
            "time_zone": time_zone,
            "source": source,
            "signup_ip_hash": signup_ip_hash,
        },
        ignore_result=True,
        argsrepr="()",
        kwargsrepr="{'email': '(not shown)'}",
    )  # type: ignore[call-arg]  # celery-stubs lack Celery 5's argsrepr and kwargsrepr


def subscriber_signup(
    *, email: str, interests: str = "", time_zone: str = "UTC", source: str, signup_ip_hash: str = ""
) -> None:
    """A signup, as the ``subscribers.signup`` task runs it (never in the web request: see
    subscriber_signup_request). A new mailbox is stored pending and sent a confirmation; a known
    one, in whatever form it was typed now, is the subscriber it already is (_signup_known)."""
    email = normalize_email(email)
    # Most signups are new addresses: pending, and sent the confirmation email, so the row is
    # inserted with the day's first confirmation slot already taken.
    new = Subscriber(
        email=email,
        interests=interests,
        time_zone=time_zone,
        consent_source=source,
        signup_ip_hash=signup_ip_hash,
    )
    slot = _take_confirmation_slot(new)
    for _ in range(2):  # a second round only if the address was erased between the two steps
        if _insert_if_new(new):
            if slot:
                _enqueue_email(new, "confirm")
            return
        suppression = Suppression.lookup(email)
        if suppression and suppression.reason != Suppression.Reason.FORGOTTEN:
            logger.info("signup: suppressed address (%s) ignored", suppression.reason)
            return
        if _signup_known(email=email, interests=interests, source=source):
            return
    logger.warning("signup: address inserted and erased concurrently, signup dropped")


@transaction.atomic
def _signup_known(*, email: str, interests: str, source: str) -> bool:
    """A signup for a mailbox already in the table (in any state, in any form of the address).
    False if it is not there.

    Its email goes to the address the subscriber has, not to the form typed now: one mailbox
    either way, and a form typed by someone else never receives another reader's links (where
    "+" is not a subaddress separator, ``victim+x@`` may be someone else's mailbox)."""
    subscriber = _locked_subscriber(email).first()
    if subscriber is None:
        return False
    if subscriber.status in CONFIRMABLE:
        if subscriber.status == Status.PENDING and interests and not subscriber.interests:
            subscriber.interests = interests
        if subscriber.status == Status.UNSUBSCRIBED:
            subscriber.consent_source = source
        kind = "confirm"
    elif subscriber.status in SUBSCRIBED:
        kind = "already-subscribed"
    else:
        return True
    if _take_confirmation_slot(subscriber):
        subscriber.save()
        _enqueue_email(subscriber, kind)
    else:
        subscriber.save(update_fields=["confirmation_day", "confirmations_sent"])
    return True


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
    Suppression.matching(subscriber.email).filter(reason=Suppression.Reason.FORGOTTEN).delete()
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
def subscriber_mute(*, subscriber: Subscriber, topic: str) -> bool:
    """Add one phrase to the reader's muted topics (subscribers/muting.py). True when it was added;
    False when it was muted already (in any case). ``ValidationError`` with a message for the
    reader when the phrase is not one that can be muted or the list is full."""
    if not normalized_topic(topic):
        raise ValidationError("There is no word or phrase to mute.")
    locked = Subscriber.objects.select_for_update().get(pk=subscriber.pk)  # two tabs must not lose a phrase
    keys = {topic_key(muted) for muted in locked.muted_topics}
    if topic_key(topic) in keys:
        subscriber.muted_topics = locked.muted_topics
        return False
    if len(keys) >= MAX_TOPICS:
        raise ValidationError(
            f"You already mute {MAX_TOPICS} topics, the most there can be: unmute one in your preferences first."
        )
    locked.muted_topics = subscriber.muted_topics = clean_muted_topics([*locked.muted_topics, topic])
    locked.save(update_fields=["muted_topics"])
    return True


@transaction.atomic
def subscriber_unmute(*, subscriber: Subscriber, topic: str) -> bool:
    """Take a phrase (in any case) off the reader's muted topics. True when it was there."""
    locked = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    kept = [muted for muted in locked.muted_topics if topic_key(muted) != topic_key(topic)]
    subscriber.muted_topics = kept
    if kept == locked.muted_topics:
        return False
    locked.muted_topics = kept
    locked.save(update_fields=["muted_topics"])
    return True


@transaction.atomic
def subscriber_suppress(*, subscriber: Subscriber, reason: str) -> None:
    """Bounced, complained or suppressed by an editor: never mailed again, never re-added silently.
    The suppression is the mailbox's, so every form of the address is refused from now on."""
    Suppression.add(subscriber.email, reason)
    statuses: dict[str, str] = {
        Suppression.Reason.BOUNCED: Status.BOUNCED,
        Suppression.Reason.COMPLAINED: Status.COMPLAINED,
    }
    if subscriber.status == Status.MERGED:  # a merged row gets no mail already, and has no key
        return
    subscriber.set_status(statuses.get(reason, Status.UNSUBSCRIBED))
    subscriber.save(update_fields=["status", "status_changed_at"])


@transaction.atomic
def subscriber_erase(*, subscriber: Subscriber) -> None:
    """ "Delete me": the row goes; only the suppression hash remains."""
    Suppression.add(subscriber.email, Suppression.Reason.FORGOTTEN)
    subscriber.delete()


def subscriber_export(*, subscriber: Subscriber) -> dict[str, Any]:
    """Everything Paperboy keeps about one subscriber, for "download my data"."""

    def when(value: dt.datetime | None) -> str | None:
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
            "muted_topics": subscriber.muted_topics,
            "skip_if_no_match": subscriber.skip_if_no_match,
        },
    }
