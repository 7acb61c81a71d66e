"""``make demo HISTORY=90``: a made-up past for the dashboard to show — sample readers joining and
leaving, a sent daily edition each day with clicks, votes, a few bounces and complaints, and
ingest runs. Only sample rows: readers at sample-history.invalid (a domain that cannot receive
mail), editions marked as sample in their intro; running it again replaces them."""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from common.db import insert_rows
from newsletter.models import Click, Delivery, Edition, Feedback, TrackingEvent
from papers.models import IngestRun, Paper
from subscribers.models import Subscriber

DOMAIN = "sample-history.invalid"
MARK = "Sample history (manage.py demo_history): made-up readers and numbers."
SEED = 20260821  # the same history every time


class Command(BaseCommand):
    help = "Fill the dashboard with a made-up history of sample readers and editions (never in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=90, help="days of history before today (default 90)")
        parser.add_argument("--readers", type=int, default=400, help="sample readers who sign up (default 400)")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo_history makes up readers and numbers: it does not run in production.")
        days, readers = options["days"], options["readers"]
        if not 1 <= days <= 400 or not 1 <= readers <= 100_000:
            raise CommandError("--days must be 1-400 and --readers 1-100000.")
        papers = list(Paper.objects.filter(arxiv_id__isnull=False).values_list("pk", flat=True)[:200])
        if not papers:
            raise CommandError("No papers to make a history of: run `make demo` (or an ingest) first.")
        started = time.monotonic()
        with transaction.atomic():
            self.forget()
            counts = self.make(days, readers, papers, random.Random(SEED))  # noqa: S311 (made-up numbers)
        self.stdout.write(
            f"Sample history: {counts['readers']} readers, {counts['editions']} editions, "
            f"{counts['deliveries']} deliveries, {counts['clicks']} clicks, {counts['votes']} votes "
            f"over {days} days, in {time.monotonic() - started:.1f} s."
        )

    def forget(self) -> None:
        Subscriber.objects.filter(email__endswith="@" + DOMAIN).delete()  # their deliveries, clicks, votes too
        Edition.objects.filter(intro=MARK).delete()
        IngestRun.objects.filter(parameters__sample=True).delete()

    def make(self, days: int, readers: int, papers: list[int], rng: random.Random) -> dict[str, int]:
        history = History(rng, papers)
        today = timezone.localdate()
        people = history.readers(readers, today - dt.timedelta(days=days), days, today)
        counts = {"readers": readers, "editions": 0, "deliveries": 0, "clicks": 0, "votes": 0}
        with tqdm(total=days, unit="day", disable=not sys.stderr.isatty(), file=sys.stderr) as progress:
            for offset in range(days, 0, -1):
                day = today - dt.timedelta(days=offset)
                progress.update(1)
                history.ingest_runs(day)
                if Edition.objects.filter(kind=Edition.Kind.DAILY, period_start=day).exists():
                    continue  # a real edition that day: left alone
                for name, count in history.edition(day, people).items():
                    counts[name] += count
        return counts


class History:
    def __init__(self, rng: random.Random, papers: list[int]) -> None:
        self.rng = rng
        self.papers = papers

    def moment(self, day: dt.date, hour: int) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, self.rng.randrange(60))))

    def readers(self, count: int, first: dt.date, days: int, today: dt.date) -> list[Subscriber]:
        """Signups spread over the period (more lately); most confirm, and some of those leave."""
        rng, people = self.rng, []
        for n in range(count):
            signed_up = first + dt.timedelta(days=int(days * rng.random() ** 0.7))
            reader = Subscriber(
                email=f"reader{n:05d}@{DOMAIN}",
                created_at=self.moment(signed_up, 9),
                consent_source="sample history",
                interests=rng.choice(["diffusion models", "RLHF, alignment", "speech", "robotics", "graphs"]),
                status=Subscriber.Status.PENDING,
            )
            if rng.random() < 0.82:
                confirmed = reader.created_at + dt.timedelta(minutes=rng.randrange(5, 600))
                reader.confirmed_at = reader.status_changed_at = confirmed
                reader.status = Subscriber.Status.ACTIVE
                fate = rng.random()
                left = confirmed.date() + dt.timedelta(days=rng.randrange(1, 40))
                if (fate < 0.12 or fate > 0.985) and left < today:
                    reader.status = (
                        Subscriber.Status.UNSUBSCRIBED
                        if fate < 0.12
                        else Subscriber.Status.BOUNCED
                        if fate < 0.995
                        else Subscriber.Status.COMPLAINED
                    )
                    reader.status_changed_at = self.moment(left, 12)
            people.append(reader)
        Subscriber.objects.bulk_create(people, batch_size=2000)
        # auto_now_add gave every row the present: put the made-up signup times back.
        for reader in people:
            Subscriber.objects.filter(pk=reader.pk).update(created_at=reader.created_at)
        return people

    @staticmethod
    def left_on(reader: Subscriber) -> dt.date:
        """The day a reader left (the last digest they got), or the far future."""
        gone = reader.status not in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)
        return reader.status_changed_at.date() if gone else dt.date.max

    def edition(self, day: dt.date, people: list[Subscriber]) -> dict[str, int]:
        """A sent daily edition of ``day`` for the readers subscribed then, with its clicks and votes."""
        rng = self.rng
        listed = rng.sample(self.papers, min(len(self.papers), 8))
        edition = Edition.objects.create(
            kind=Edition.Kind.DAILY,
            period_start=day,
            period_end=day,
            status=Edition.Status.SENT,
            intro=MARK,
            paper_ids=listed,
            published_at=self.moment(day, 6),
        )
        receivers = [r for r in people if r.confirmed_at and r.confirmed_at.date() < day <= self.left_on(r)]
        rows = []
        for reader in receivers:
            status = Delivery.Status.SENT if rng.random() > 0.004 else Delivery.Status.FAILED
            sent_at = self.moment(day, 8)
            opened = sent_at + dt.timedelta(minutes=30) if rng.random() < 0.45 else None
            clicked = (
                sent_at + dt.timedelta(hours=1) if status == Delivery.Status.SENT and rng.random() < 0.18 else None
            )
            rows.append((edition.pk, reader.pk, "daily", day, status, listed[:5], sent_at, opened, clicked))
        names = ("edition_id", "subscriber_id", "kind", "local_date", "status", "paper_ids", "sent_at", "opened_at")
        insert_rows(Delivery, (*names, "clicked_at"), rows)
        clicked_rows = Delivery.objects.filter(edition=edition, clicked_at__isnull=False)
        click_rows, vote_rows = [], []
        for delivery_id, subscriber_id in clicked_rows.values_list("pk", "subscriber_id"):
            for paper_id in rng.sample(listed[:5], rng.randint(1, 2)):
                click_rows.append((delivery_id, paper_id, rng.choice(["page", "arxiv", "pdf", "hf"])))
            if rng.random() < 0.3:
                vote_rows.append((subscriber_id, rng.choice(listed[:5]), 1 if rng.random() < 0.8 else -1, edition.pk))
        insert_rows(Click, ("delivery_id", "paper_id", "link"), click_rows)
        insert_rows(Feedback, ("subscriber_id", "paper_id", "vote", "edition_id"), vote_rows, skip_conflicts=True)
        # The made-up day, where auto_now put the present.
        Click.objects.filter(delivery__edition=edition).update(created_at=self.moment(day, 10))
        Feedback.objects.filter(edition=edition).update(created_at=self.moment(day, 11))
        for reader in receivers:
            if reader.status in (Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED) and (
                reader.status_changed_at.date() == day
            ):
                delivery = Delivery.objects.get(edition=edition, subscriber=reader)
                kind = "bounced" if reader.status == Subscriber.Status.BOUNCED else "complained"
                TrackingEvent.objects.create(event_id=f"sample-{delivery.pk}", event_type=kind, delivery=delivery)
        return {"editions": 1, "deliveries": len(rows), "clicks": len(click_rows), "votes": len(vote_rows)}

    def ingest_runs(self, day: dt.date) -> None:
        for source, hour in (("hf", 7), ("arxiv", 6)):
            failed = self.rng.random() < 0.03
            run = IngestRun.objects.create(
                source=source,
                parameters={"sample": True, "day": day.isoformat()},
                status=IngestRun.Status.FAILED if failed else IngestRun.Status.SUCCEEDED,
                finished_at=self.moment(day, hour),
                updated=0 if failed else self.rng.randint(10, 40),  # the sample papers, seen again
                errors="sample: the source answered 503" if failed else "",
            )
            # started_at is auto_now_add: the made-up time goes in afterwards.
            IngestRun.objects.filter(pk=run.pk).update(started_at=self.moment(day, hour - 1))
