from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.utils import timezone
from tqdm import tqdm

from newsletter import planning, sending, services
from newsletter.digest_email import send_test
from newsletter.models import Delivery, Edition


class Command(BaseCommand):
    help = "Publish a day's (or week's) edition and send it now to every active reader of that kind."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="the edition's day, YYYY-MM-DD (default: today, UTC)")
        parser.add_argument("--kind", choices=[kind for kind, _ in Edition.Kind.choices], default="daily")
        parser.add_argument("--dry-run", action="store_true", help="rank and report; store and send nothing")
        parser.add_argument("--to", metavar="EMAIL", help="send one test digest (top papers) to this address only")

    def handle(self, *args: Any, date: str | None, kind: str, dry_run: bool, to: str | None, **options: Any) -> None:
        try:
            day = dt.date.fromisoformat(date) if date else timezone.now().astimezone(dt.UTC).date()
        except ValueError as exc:
            raise CommandError(f"--date {date!r} is not a date like 2026-08-21") from exc

        if to:
            self.send_test(kind, day, to)
            return
        if dry_run:
            self.dry_run(kind, day)
            return

        edition = services.edition_publish(kind=kind, day=day)
        if edition is None:
            raise CommandError(f"No approved papers for the {kind} edition of {day}: nothing to send.")
        if edition.status == Edition.Status.PAUSED:
            raise CommandError(f"{edition} is paused: {edition.pause_reason or 'resume it in admin first'}")
        planned = planning.plan_deliveries(edition, planning.all_readers(edition))
        ids = list(
            edition.deliveries.filter(status=Delivery.Status.PENDING).order_by("pk").values_list("pk", flat=True)
        )
        size = settings.DIGEST_CHUNK_SIZE
        bar = tqdm(total=len(ids), unit="msg", desc="sending", file=sys.stderr, disable=not sys.stderr.isatty())
        sent = failed = suppressed = retrying = 0
        for start in range(0, len(ids), size):
            outcome = sending.send_chunk(ids[start : start + size])
            sent, failed = sent + outcome.sent, failed + outcome.failed
            suppressed, retrying = suppressed + outcome.suppressed, retrying + len(outcome.retry_ids)
            bar.update(outcome.sent + outcome.failed + outcome.suppressed + len(outcome.retry_ids))
            if outcome.paused:
                break
        bar.close()
        counts = edition.counts()
        self.stdout.write(
            f"{edition}: {planned} planned, {sent} sent, {failed} failed, {counts['skipped']} skipped "
            f"(nothing matched), {suppressed} suppressed, {retrying} left for retry"
        )
        edition.refresh_from_db()
        if edition.status == Edition.Status.PAUSED:
            raise CommandError(edition.pause_reason)

    def dry_run(self, kind: str, day: dt.date) -> None:
        edition = services.edition_prepare(kind=kind, day=day)
        readers = planning.all_readers(edition)
        papers = planning.paper_infos(edition)
        picks = planning.rank(papers, [pk for pk, _ in readers])
        empty = sum(1 for chosen in picks.values() if not chosen.paper_ids)
        self.stdout.write(
            f"{edition} (dry run): {len(papers)} papers, {len(picks)} readers would be planned, "
            f"{len(picks) - empty} would get a digest, {empty} skipped (nothing matched); nothing stored or sent"
        )

    def send_test(self, kind: str, day: dt.date, address: str) -> None:
        try:
            validate_email(address)
        except ValidationError as exc:
            raise CommandError(f"--to {address!r} is not an email address") from exc
        edition = services.edition_prepare(kind=kind, day=day)
        if not edition.paper_ids:
            raise CommandError(f"No approved papers for the {kind} edition of {day}.")
        send_test(edition, address)
        self.stdout.write(f"{edition}: test sent to {address}")
