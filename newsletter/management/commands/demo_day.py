from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from newsletter.models import Delivery
from papers.models import Paper
from subscribers.models import Subscriber

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
        now = timezone.now()
        for email, interests, zone in SAMPLE_READERS:
            Subscriber.objects.update_or_create(
                email=email,
                defaults={
                    "interests": interests,
                    "time_zone": zone,
                    "status": Subscriber.Status.ACTIVE,
                    "confirmed_at": now,
                    "consent_at": now,
                    "consent_source": "sample reader created by make demo",
                    "papers_per_digest": 5,
                },
            )
        out = io.StringIO()
        call_command("send_digest", stdout=out)
        self.stdout.write(out.getvalue().strip())

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
