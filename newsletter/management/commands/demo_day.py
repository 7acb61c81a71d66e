from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from newsletter import planning, sending, services
from newsletter.models import Delivery, Edition
from papers.models import Paper
from subscribers.models import Subscriber, Suppression

# Invented readers for the offline demo (example.org addresses never receive mail).
SAMPLE_READERS = [
    ("sample.biologist@example.org", "protein structure, folding", "Europe/Berlin"),
    ("sample.alignment@example.org", "RLHF, reward models, preference optimization", "America/New_York"),
    ("sample.speech@example.org", "speech recognition, streaming audio", "Asia/Tokyo"),
    ("sample.roboticist@example.org", "robot manipulation, imitation learning", "Europe/London"),
]


class Command(BaseCommand):
    help = "The demo's digest half: sample readers with different interests get today's edition."

    def handle(self, *args: Any, **options: Any) -> None:
        readers = self.sample_readers()
        self.send_to(readers)
        self.stdout.write("")
        titles = dict(Paper.objects.values_list("pk", "title"))
        emails = [email for email, _, _ in SAMPLE_READERS]
        latest = Delivery.objects.filter(subscriber__email__in=emails).order_by("subscriber__email", "-created_at")
        seen = set()
        for row in latest.select_related("subscriber"):
            if row.subscriber.email in seen:
                continue
            seen.add(row.subscriber.email)
            self.stdout.write(f"  {row.subscriber.email} ({row.subscriber.interests}) — {row.status}:")
            for position, paper_id in enumerate(row.paper_ids[:3], start=1):
                self.stdout.write(f"      {position}. {titles.get(paper_id, paper_id)}")
        self.stdout.write("")
        if settings.EMAIL_BACKEND == "common.outbox.OutboxEmailBackend":
            self.stdout.write(f"  The emails are .eml files in {settings.OUTBOX_DIR}/ (open them in any mail client).")

    def sample_readers(self) -> list[Subscriber]:
        """The sample readers, created when missing. An existing one is left exactly as it is (an
        unsubscribed sample stays unsubscribed), and a suppressed address is never re-created."""
        now = timezone.now()
        receiving, notes = [], []
        for email, interests, zone in SAMPLE_READERS:
            subscriber = Subscriber.objects.with_email(email).first()
            if subscriber is None and Suppression.matching(email).exists():
                notes.append(f"{email}: on the suppression list, not re-created")
                continue
            if subscriber is None:
                subscriber = Subscriber.objects.create(
                    email=email,
                    interests=interests,
                    time_zone=zone,
                    status=Subscriber.Status.ACTIVE,
                    confirmed_at=now,
                    consent_at=now,
                    consent_source="sample reader created by make demo",
                    papers_per_digest=5,
                )
                notes.append(f"{email}: created")
            elif subscriber.status != Subscriber.Status.ACTIVE:
                notes.append(f"{email}: {subscriber.get_status_display().lower()}, left as is (gets nothing)")
            if subscriber.status == Subscriber.Status.ACTIVE:
                receiving.append(subscriber)
        self.stdout.write("Sample readers: " + ("; ".join(notes) if notes else "all there, unchanged"))
        return receiving

    def send_to(self, readers: list[Subscriber]) -> None:
        """Today's edition, published if needed, to the sample readers only: nobody else is planned."""
        day = timezone.now().astimezone(dt.UTC).date()
        edition = services.edition_publish(kind=Edition.Kind.DAILY, day=day)
        if edition is None:
            self.stdout.write("No approved papers today: nothing to send.")
            return
        ids = {reader.pk for reader in readers}
        due = [(pk, local_date) for pk, local_date in planning.all_readers(edition) if pk in ids]
        planned = planning.plan_deliveries(edition, due)
        pending = list(
            edition.deliveries.filter(subscriber_id__in=ids, status=Delivery.Status.PENDING).values_list(
                "pk", flat=True
            )
        )
        outcome = sending.send_chunk(pending) if pending else sending.ChunkOutcome()
        self.stdout.write(f"{edition}: {planned} sample readers planned, {outcome.sent} sent, {outcome.failed} failed")
