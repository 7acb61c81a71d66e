"""Subscribers as CSV: export (safe to open in a spreadsheet) and import (validated, consent
recorded, suppressed and known addresses skipped and counted)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import Truncator

from subscribers import services
from subscribers.mailbox import InvalidAddress, mailbox_key
from subscribers.models import Subscriber, Suppression, available_time_zones, email_hashes, normalize_email

Status = Subscriber.Status

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
MAX_REPORTED_LINES = 10  # invalid rows and notes listed one by one in the import report
CONSENT_SOURCE_MAX_LENGTH = 120  # leaves room for "admin import by <username>: " in the 200-character field
IMPORT_COLUMNS = ("email", "interests", "time_zone", "frequency", "papers_per_digest")

EXPORT_COLUMNS = ("email", "status", *Subscriber.PREFERENCE_FIELDS, "created_at", "confirmed_at", "consent_source")
# A spreadsheet evaluates a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def reject_line_breaks(value: str, what: str) -> None:
    if "\r" in value or "\n" in value:
        raise forms.ValidationError(f"{what} cannot contain line breaks.")


# --- CSV export -------------------------------------------------------------------------------


def csv_cell(value: object) -> str:
    """A value as a CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, list):
        text = "; ".join(str(item) for item in value)
    elif hasattr(value, "isoformat"):
        text = str(value.isoformat())
    else:
        text = str(value)
    # A leading ' is doubled too, so that csv_value can always take exactly one off.
    return "'" + text if text.startswith((*FORMULA_PREFIXES, "'")) else text


def csv_value(cell: str) -> str:
    """A cell read back as the value csv_cell wrote: an export imports unchanged."""
    return cell[1:] if cell.startswith("'") else cell


def export_rows(subscribers: Iterable[Subscriber]) -> Iterator[list[str]]:
    yield list(EXPORT_COLUMNS)
    for subscriber in subscribers:
        yield [csv_cell(getattr(subscriber, column)) for column in EXPORT_COLUMNS]


class Echo:
    """A file-like object whose write() hands back the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


# --- CSV import -------------------------------------------------------------------------------


@dataclass
class ImportRow:
    line: int
    email: str
    mailbox: str = ""  # the address's mailbox key: who it is (subscribers/mailbox.py)
    interests: str = ""
    time_zone: str = "UTC"
    frequency: str = Subscriber.Frequency.DAILY
    papers_per_digest: int = 10


@dataclass
class ImportReport:
    created: int = 0
    emails_queued: int = 0
    already_subscribed: int = 0
    suppressed: int = 0
    duplicates: list[int] = field(default_factory=list)  # line numbers
    invalid: list[str] = field(default_factory=list)  # "line 7: reason"
    notes: list[str] = field(default_factory=list)  # optional values replaced by defaults
    ignored_columns: list[str] = field(default_factory=list)


def listed(items: list[str]) -> str:
    shown = "; ".join(items[:MAX_REPORTED_LINES])
    more = len(items) - MAX_REPORTED_LINES
    return shown + (f"; …and {more} more" if more > 0 else "")


def parse_import(text: str) -> tuple[list[ImportRow], ImportReport]:
    """Read and check an import file's rows; nothing touches the database.

    Rules: a row whose address is missing, malformed or contains a line break is rejected (counted
    as invalid, with its line number); a later row with the same mailbox (the address in any case
    or form: ``Victim+news@``, ``"victim"@``) is a duplicate. An invalid value in an optional
    column never rejects the row: that value falls back to the default and the row gets a note.
    Empty optional cells simply mean the default."""
    reader = csv.reader(io.StringIO(text, newline=""))
    report = ImportReport()
    columns = _columns(next(reader, []), report)
    time_zones = available_time_zones()
    rows: list[ImportRow] = []
    seen: set[str] = set()
    last_line = reader.line_num
    for cells in reader:
        line, last_line = last_line + 1, reader.line_num  # where the record starts (cells may span lines)
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: csv_value(cells[index]) if index < len(cells) else "" for name, index in columns.items()}
        try:
            address, mailbox = _address(values.get("email", ""))
        except ValidationError as exc:
            report.invalid.append(f"line {line}: {exc.message}")
            continue
        if mailbox in seen:
            report.duplicates.append(line)
            continue
        seen.add(mailbox)
        row = ImportRow(line=line, email=address, mailbox=mailbox)
        notes = _set_preferences(row, values, time_zones)
        if notes:
            report.notes.append(f"line {line}: {', '.join(notes)}")
        rows.append(row)
    return rows, report


def _columns(header: list[str], report: ImportReport) -> dict[str, int]:
    """Where each known column is (the first of a name wins); the unknown ones go in the report."""
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = name.strip().lower()
        if key in IMPORT_COLUMNS:
            columns.setdefault(key, index)
        elif key:
            report.ignored_columns.append(name.strip())
    return columns


def _address(raw: str) -> tuple[str, str]:
    """The normalized address of a cell and its mailbox key; ``ValidationError`` says why it
    cannot be one."""
    if "\r" in raw or "\n" in raw:
        raise ValidationError("the address contains a line break")
    address = normalize_email(raw)
    if not address:
        raise ValidationError("no address")
    invalid = ValidationError(f"“{Truncator(address).chars(60)}” is not a valid email address")
    if len(address) > 254:
        raise invalid
    try:
        validate_email(address)
        return address, mailbox_key(address)
    except (ValidationError, InvalidAddress):
        raise invalid from None


def _set_preferences(row: ImportRow, values: dict[str, str], time_zones: frozenset[str]) -> list[str]:
    """Take the row's optional values that are valid; a note for each one replaced by its default."""
    notes = []
    interests = " ".join(values.get("interests", "").split())
    if len(interests) > Subscriber.INTERESTS_MAX_LENGTH:
        notes.append(f"interests longer than {Subscriber.INTERESTS_MAX_LENGTH} characters, left empty")
    else:
        row.interests = interests
    time_zone = values.get("time_zone", "").strip()
    if time_zone in time_zones:
        row.time_zone = time_zone
    elif time_zone:
        notes.append(f"unknown time zone “{Truncator(time_zone).chars(40)}”, used UTC")
    frequency = values.get("frequency", "").strip().lower()
    if frequency in Subscriber.Frequency.values:
        row.frequency = frequency
    elif frequency:
        notes.append(f"frequency “{Truncator(frequency).chars(20)}” is not daily or weekly, used daily")
    papers = values.get("papers_per_digest", "").strip()
    if papers.isdigit() and 1 <= int(papers) <= 50:
        row.papers_per_digest = int(papers)
    elif papers:
        notes.append(f"papers_per_digest “{Truncator(papers).chars(20)}” is not a number from 1 to 50, used 10")
    return notes


class SubscriberImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 (with or without a byte-order mark), at most 5 MB, with a header row.",
    )
    already_consented = forms.BooleanField(
        required=False,
        label="They already consented",
        help_text="Tick only if every person on the list explicitly asked for this newsletter. They become "
        "active at once and get no confirmation email. Otherwise each new address is pending and is sent a "
        "confirmation email: nobody is mailed a digest without confirming.",
    )
    consent_source = forms.CharField(
        max_length=CONSENT_SOURCE_MAX_LENGTH,
        label="Consent source",
        help_text="Where these addresses come from, kept with each subscriber, e.g. “Conference sign-up sheet "
        "2026-05”.",
    )

    def clean_consent_source(self) -> str:
        value: str = self.cleaned_data["consent_source"]
        reject_line_breaks(value, "The consent source")
        return value.strip()

    def clean_file(self) -> tuple[list[ImportRow], ImportReport]:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError("The file is larger than 5 MB. Split it into smaller files.")
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(
                "The file is not UTF-8 text. Save it as “CSV UTF-8” (in Excel or LibreOffice) and try again."
            ) from exc
        try:
            header = next(csv.reader(io.StringIO(text, newline="")), [])
            if "email" not in {name.strip().lower() for name in header}:
                raise forms.ValidationError(
                    "The first row must be a header with an “email” column (optional: interests, time_zone, "
                    "frequency, papers_per_digest)."
                )
            rows, report = parse_import(text)
        except csv.Error as exc:
            raise forms.ValidationError(f"The file is not a readable CSV file: {exc}") from exc
        if len(rows) + len(report.invalid) + len(report.duplicates) > MAX_IMPORT_ROWS:
            raise forms.ValidationError(
                f"The file has more than {MAX_IMPORT_ROWS:,} rows. Split it into smaller files."
            )
        return rows, report


def _known_mailboxes(rows: list[ImportRow]) -> tuple[set[str], set[str]]:
    """Which of these rows' mailboxes already have a subscriber row, and which are suppressed (by
    the mailbox's hash, or by the address's own legacy hash: models.email_hashes)."""
    existing: set[str] = set()
    suppressed: set[str] = set()
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        existing.update(
            key
            for key in Subscriber.objects.filter(mailbox__in=[row.mailbox for row in chunk]).values_list(
                "mailbox", flat=True
            )
            if key is not None
        )
        hashes = {value: row.mailbox for row in chunk for value in email_hashes(row.email)}
        found = Suppression.objects.filter(email_hash__in=hashes).values_list("email_hash", flat=True)
        suppressed.update(hashes[value] for value in found)
    return existing, suppressed


def run_import(
    rows: list[ImportRow], report: ImportReport, *, already_consented: bool, consent_source: str
) -> ImportReport:
    """Create the new subscribers in one transaction; confirmation emails leave once it commits."""
    now = timezone.now()
    with transaction.atomic():
        existing, suppressed = _known_mailboxes(rows)
        for row in rows:
            key = row.mailbox
            if key in suppressed:  # any reason, "forget me" included: only the person can come back
                report.suppressed += 1
                continue
            if key in existing:  # left as it is, whatever its status
                report.already_subscribed += 1
                continue
            subscriber = Subscriber(
                email=row.email,
                mailbox=row.mailbox,
                interests=row.interests,
                time_zone=row.time_zone,
                frequency=row.frequency,
                papers_per_digest=row.papers_per_digest,
                consent_source=consent_source,
            )
            if already_consented:
                subscriber.status = Status.ACTIVE
                subscriber.confirmed_at = subscriber.consent_at = subscriber.status_changed_at = now
            try:
                with transaction.atomic():
                    subscriber.save()
            except IntegrityError:  # signed up in the meantime
                report.already_subscribed += 1
                continue
            report.created += 1
            if not already_consented and services.subscriber_resend_confirmation(subscriber=subscriber):
                report.emails_queued += 1
    return report
