from __future__ import annotations

from django.db import models
from django.db.models import Count, Q

from papers.models import Paper
from subscribers.models import Subscriber


class EditionQuerySet(models.QuerySet["Edition"]):
    def running(self) -> EditionQuerySet:
        """Published and not paused or finished: their readers are planned and sent to."""
        return self.filter(status__in=RUNNING_STATUSES)

    def published(self) -> EditionQuerySet:
        """Every edition readers may have received (the public archive)."""
        return self.exclude(status=Edition.Status.DRAFT)


class Edition(models.Model):
    """One digest run: the papers of a day (or a week), frozen when it is published."""

    class Kind(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"  # published: readers get it as their hour comes
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        SENT = "sent", "Sent"

    kind = models.CharField(max_length=6, choices=Kind.choices, default=Kind.DAILY)
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.DRAFT, db_index=True)
    subject = models.CharField(max_length=200, blank=True)
    intro = models.TextField("editor's intro", blank=True)
    # The candidate papers, in listing order (pinned first), frozen at publication.
    paper_ids = models.JSONField(default=list, blank=True, editable=False)
    pinned_ids = models.JSONField(default=list, blank=True, editable=False)
    pause_reason = models.TextField(blank=True)
    consecutive_errors = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    objects = EditionQuerySet.as_manager()

    class Meta:
        ordering = ["-period_start", "kind"]
        constraints = [models.UniqueConstraint(fields=["kind", "period_start"], name="edition_kind_period_unique")]

    def __str__(self) -> str:
        if self.kind == self.Kind.WEEKLY:
            return f"Weekly digest {self.period_start:%Y-%m-%d} – {self.period_end:%Y-%m-%d}"
        return f"Daily digest {self.period_start:%Y-%m-%d}"

    @property
    def display_subject(self) -> str:
        if self.subject:
            return self.subject
        if self.kind == self.Kind.WEEKLY:
            return f"The week's trending papers ({self.period_start:%b %-d} – {self.period_end:%b %-d})"
        return f"Trending papers for {self.period_start:%A, %B %-d}"

    def counts(self) -> dict[str, int]:
        """Deliveries per status, in one query."""
        statuses = [status for status, _ in Delivery.Status.choices]
        totals = self.deliveries.aggregate(
            total=Count("pk"), **{status: Count("pk", filter=Q(status=status)) for status in statuses}
        )
        return totals


RUNNING_STATUSES = [Edition.Status.SCHEDULED, Edition.Status.SENDING]


class Delivery(models.Model):
    """The ledger: one row per (edition, subscriber), enforced by the database."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"  # the subscriber left or bounced before sending
        SKIPPED = "skipped", "Skipped (nothing matched)"
        UNKNOWN = "unknown", "Unknown (worker lost while sending)"

    # No single-column indexes on the two keys: the constraints and index below lead with them,
    # and every index is one more write each time a row changes status (three times per digest).
    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    kind = models.CharField(max_length=6, choices=Edition.Kind.choices)
    # The subscriber's own calendar day the digest is for: at most one daily digest per local day.
    local_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    paper_ids = models.JSONField(default=list, blank=True)
    # Why each paper was chosen, written by the planner: one list of reason codes per paper of
    # paper_ids, same order ("interest:<phrase>", "author:<name>", "liked", "pick", "trending";
    # rendering.why_line words them). Older rows have none: their papers show no why line.
    reasons = models.JSONField(default=list, blank=True)
    # The reader has interests, nothing matched them, and they did not choose to skip: the
    # digest is the edition's top papers, and says so.
    unmatched = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    esp_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    # Which worker call moved the row to 'sending' (a fresh random id per claim).
    claim = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # A row handed back after a transient error waits for its backoff: no dispatch before this.
    retry_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["edition", "subscriber"], name="delivery_edition_subscriber_unique"),
            models.UniqueConstraint(
                fields=["subscriber", "kind", "local_date"], name="delivery_one_digest_per_local_day"
            ),
        ]
        indexes = [
            models.Index(fields=["edition", "status"], name="delivery_edition_status"),
            # The dashboard's opens and clicks per edition, counted from the index alone. Small, and
            # written only when an open or click is recorded, never on the send path.
            models.Index(fields=["edition"], condition=Q(opened_at__isnull=False), name="delivery_opened"),
            models.Index(fields=["edition"], condition=Q(clicked_at__isnull=False), name="delivery_clicked"),
        ]

    def __str__(self) -> str:
        return f"{self.edition} → {self.subscriber_id} ({self.status})"


class Feedback(models.Model):
    """ "More like this" (+1) or "less like this" (-1) on a paper, from a digest's links."""

    class Vote(models.IntegerChoices):
        MORE = 1, "More like this"
        LESS = -1, "Less like this"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="feedback")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="feedback")
    vote = models.SmallIntegerField(choices=Vote.choices)
    # The edition whose digest carried the vote's link (the reader's latest that listed the paper),
    # for the dashboard's votes per edition; empty for votes from before it was recorded.
    edition = models.ForeignKey(
        Edition, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback", db_index=False
    )
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "paper"], name="feedback_subscriber_paper_unique")]

    def __str__(self) -> str:
        return f"{self.subscriber_id} {self.get_vote_display()} {self.paper_id}"


class Click(models.Model):
    """A reader followed a paper's link in their digest (first-party tracking through ``/c/<token>/``):
    one row per delivery and paper, the first click's time and link; later clicks change nothing."""

    class Link(models.TextChoices):
        PAGE = "page", "Paper page"
        ARXIV = "arxiv", "arXiv"
        PDF = "pdf", "PDF"
        HF = "hf", "Hugging Face"
        CODE = "code", "Code"
        PROJECT = "project", "Project page"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="clicks", db_index=False)
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="clicks")
    link = models.CharField(max_length=8, choices=Link.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "paper"], name="click_delivery_paper_unique")]

    def __str__(self) -> str:
        return f"{self.delivery_id} → {self.paper_id} ({self.link})"


class TrackingEvent(models.Model):
    """An ESP webhook event, kept once (by event id) so a replayed webhook changes nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=32)
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    received_at = models.DateTimeField(auto_now_add=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
