from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from papers.taxonomy import validate_categories
from subscribers.mailbox import KEY_MAX_LENGTH, mailbox_key, mailbox_key_or_lower
from subscribers.muting import validate_muted_topics


def normalize_email(value: str) -> str:
    """How an address is stored and mailed: as typed, trimmed, with the domain lower-cased. Who
    it is (the same reader in any other form) is its mailbox key (subscribers/mailbox.py)."""
    value = (value or "").strip()
    local, at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}" if at else value


def _suppression_hash(text: str) -> str:
    return hashlib.sha256(f"paperboy-suppression:{text}".encode()).hexdigest()


def email_hash(email: str) -> str:
    """How the suppression list remembers a mailbox without keeping its address: a hash of its
    mailbox key, so every form of the address (``Victim+x@``, ``"victim"@``) has the one hash.

    Independent of SECRET_KEY so that rotating the key does not forget who bounced or asked to be
    erased. For a plain address (lower-case, no ``+tag``, ASCII) this is the hash Paperboy kept
    before there were mailbox keys, so those entries match as they are."""
    return _suppression_hash(mailbox_key_or_lower(email))


def legacy_email_hash(email: str) -> str:
    """The hash entries had before mailbox keys: of the whole address, trimmed and lower-cased.
    Entries of addresses still in the table were re-hashed by migration 0003; the others (erased
    readers, addresses an editor suppressed by hand) can only be matched in the form they had."""
    return _suppression_hash(normalize_email(email).lower())


def email_hashes(email: str) -> list[str]:
    """Every suppression hash that means this address: its mailbox's, and its own legacy one."""
    return list(dict.fromkeys([email_hash(email), legacy_email_hash(email)]))


def ip_hash(ip: str | None) -> str:
    """An IP address kept only as a keyed hash: enough to spot abuse, not to identify anyone."""
    if not ip:
        return ""
    return hmac.new(settings.SECRET_KEY.encode(), f"ip:{ip}".encode(), hashlib.sha256).hexdigest()[:32]


def validate_time_zone(value: str) -> None:
    if value not in available_time_zones():
        raise ValidationError(f"“{value}” is not a time zone name such as Europe/Berlin or America/New_York.")


@functools.cache
def available_time_zones() -> frozenset[str]:
    """IANA zone names; zoneinfo rescans the tzdata files on every call, so ask it once."""
    return frozenset(zoneinfo.available_timezones())


def new_link_key() -> str:
    return secrets.token_urlsafe(6)


class MailboxField(models.CharField[str | None, str | None]):
    """The mailbox key (subscribers/mailbox.py) of the row's ``email``, set when the row is added
    (by save(), bulk_create and signup's own INSERT alike, all of which call pre_save); an address
    never changes afterwards. ``common.db.insert_rows`` computes it too (``computed_from``)."""

    computed_from = "email"

    def pre_save(self, model_instance: models.Model, add: bool) -> str | None:
        value: str | None = getattr(model_instance, self.attname)
        if add and not value:
            value = self.compute(getattr(model_instance, self.computed_from))
            setattr(model_instance, self.attname, value)
        return value

    def compute(self, email: str) -> str:
        return mailbox_key(normalize_email(email))


class SubscriberQuerySet(models.QuerySet["Subscriber"]):
    def with_email(self, email: str) -> SubscriberQuerySet:
        """The subscriber of this address's mailbox, in whatever form it was typed (one probe of
        the unique index on the key). None for a string that names no mailbox."""
        try:
            key = mailbox_key(email)
        except ValueError:
            return self.none()
        return self.filter(mailbox=key)

    def receiving(self) -> SubscriberQuerySet:
        """Who gets digests: confirmed and not paused, unsubscribed, bounced or complained."""
        return self.filter(status=Subscriber.Status.ACTIVE)


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"
        # Migration 0003 found another row of the same mailbox and kept that one; this row keeps
        # its history (deliveries, feedback) and nothing else: no key, no mail, no confirmation.
        MERGED = "merged", "Merged (same mailbox as another subscriber)"

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    class Format(models.TextChoices):
        HTML = "html", "HTML with a plain-text part"
        TEXT = "text", "Plain text only"

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    INTERESTS_MAX_LENGTH = 500
    # What a reader chooses in the preference center (and an editor in admin).
    PREFERENCE_FIELDS = (
        "frequency",
        "weekly_day",
        "send_hour",
        "time_zone",
        "papers_per_digest",
        "email_format",
        "interests",
        "categories",
        "followed_authors",
        "muted_topics",
        "skip_if_no_match",
    )

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Part of every signed link; a new key (on erasure or on demand) kills all old links.
    link_key = models.CharField(max_length=16, default=new_link_key, editable=False)
    email = models.EmailField(max_length=254)
    # Who this is: the same for every form of the address (subscribers/mailbox.py). Unique, so one
    # mailbox is one subscriber; empty (NULL) only for a merged row.
    mailbox = MailboxField(max_length=KEY_MAX_LENGTH, null=True, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    # Consent: where they signed up, when they confirmed, and the confirming request's IP (hashed).
    consent_source = models.CharField(max_length=200, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_ip_hash = models.CharField(max_length=64, blank=True)
    signup_ip_hash = models.CharField(max_length=64, blank=True)

    # Confirmation emails sent on confirmation_day (a per-address daily cap).
    confirmations_sent = models.PositiveSmallIntegerField(default=0)
    confirmation_day = models.DateField(null=True, blank=True)

    # Preferences
    frequency = models.CharField(max_length=6, choices=Frequency.choices, default=Frequency.DAILY)
    weekly_day = models.PositiveSmallIntegerField(
        "day of the week (weekly digests)", choices=Weekday.choices, default=Weekday.MONDAY
    )
    send_hour = models.PositiveSmallIntegerField(
        "delivery hour", default=8, validators=[MinValueValidator(0), MaxValueValidator(23)]
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    papers_per_digest = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    email_format = models.CharField(max_length=4, choices=Format.choices, default=Format.HTML)
    interests = models.TextField(blank=True, max_length=INTERESTS_MAX_LENGTH)
    # Current arXiv categories (papers.taxonomy); a paper of unknown category passes the filter too.
    categories = models.JSONField("arXiv categories", default=list, blank=True, validators=[validate_categories])
    followed_authors = models.JSONField(default=list, blank=True)
    # Phrases the reader never wants papers about (subscribers/muting.py has the rules).
    muted_topics = models.JSONField(default=list, blank=True, validators=[validate_muted_topics])
    skip_if_no_match = models.BooleanField(
        "skip the email when nothing matches my interests",
        default=False,
        help_text="Otherwise the day's top papers are sent anyway.",
    )

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox"], name="subscriber_mailbox_unique"),
            models.CheckConstraint(
                condition=models.Q(mailbox__isnull=False) | models.Q(status="merged"),
                name="subscriber_mailbox_set",
            ),
            models.CheckConstraint(condition=models.Q(send_hour__lte=23), name="subscriber_send_hour_valid"),
            models.CheckConstraint(
                condition=models.Q(papers_per_digest__gte=1, papers_per_digest__lte=50),
                name="subscriber_papers_per_digest_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.status_changed_at = timezone.now()

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Suppression(models.Model):
    """An address that must not be (re-)added: bounced, complained, or asked to be forgotten."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained (marked as spam)"
        FORGOTTEN = "forgotten", "Asked to be forgotten"
        MANUAL = "manual", "Suppressed by an editor"

    email_hash = models.CharField(max_length=64, unique=True, editable=False)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} ({self.email_hash[:12]}…)"

    @classmethod
    def add(cls, email: str, reason: str) -> Suppression:
        suppression, _ = cls.objects.update_or_create(email_hash=email_hash(email), defaults={"reason": reason})
        return suppression

    @classmethod
    def matching(cls, email: str) -> models.QuerySet[Suppression]:
        """The entries for this address's mailbox (and for the address itself, hashed the old way)."""
        return cls.objects.filter(email_hash__in=email_hashes(email))

    @classmethod
    def lookup(cls, email: str) -> Suppression | None:
        """The entry that governs this address: one that blocks it (any reason but "forgotten")
        before one that does not."""
        entries = sorted(cls.matching(email).order_by(), key=lambda entry: entry.reason == cls.Reason.FORGOTTEN)
        return entries[0] if entries else None
