"""Subscribers in Django admin: counts per status, status actions through the services, CSV export
and import (with consent recorded), and a suppression list that is added to by address but keeps
only hashes."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import Truncator

from subscribers import services
from subscribers.models import Subscriber, Suppression, available_time_zones, email_hash, normalize_email

Status = Subscriber.Status

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
MAX_REPORTED_LINES = 10  # invalid rows and notes listed one by one in the import report
CONSENT_SOURCE_MAX_LENGTH = 120  # leaves room for "admin import by <username>: " in the 200-character field
IMPORT_COLUMNS = ("email", "interests", "time_zone", "frequency", "papers_per_digest")

EXPORT_COLUMNS = (
    "email",
    "status",
    "frequency",
    "weekly_day",
    "send_hour",
    "time_zone",
    "papers_per_digest",
    "email_format",
    "interests",
    "categories",
    "followed_authors",
    "created_at",
    "confirmed_at",
    "consent_source",
)
# A spreadsheet evaluates a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def _reject_line_breaks(value: str, what: str) -> None:
    if "\r" in value or "\n" in value:
        raise forms.ValidationError(f"{what} cannot contain line breaks.")


# --- CSV export -------------------------------------------------------------------------------


def csv_cell(value) -> str:
    """A value as a CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    value = str(value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def export_rows(subscribers: Iterable[Subscriber]) -> Iterator[list[str]]:
    yield list(EXPORT_COLUMNS)
    for subscriber in subscribers:
        yield [csv_cell(getattr(subscriber, column)) for column in EXPORT_COLUMNS]


class _Echo:
    """A file-like object whose write() hands back the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


# --- CSV import -------------------------------------------------------------------------------


@dataclass
class ImportRow:
    line: int
    email: str
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


def _listed(items: list[str]) -> str:
    shown = "; ".join(items[:MAX_REPORTED_LINES])
    more = len(items) - MAX_REPORTED_LINES
    return shown + (f"; …and {more} more" if more > 0 else "")


def parse_import(text: str) -> tuple[list[ImportRow], ImportReport]:
    """Read and check an import file's rows; nothing touches the database.

    Rules: a row whose address is missing, malformed or contains a line break is rejected (counted
    as invalid, with its line number); a later row with the same address (case-insensitively) is a
    duplicate. An invalid value in an optional column never rejects the row: that value falls back
    to the default and the row gets a note. Empty optional cells simply mean the default."""
    reader = csv.reader(io.StringIO(text, newline=""))
    report = ImportReport()
    header = next(reader, None) or []
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = name.strip().lower()
        if key in IMPORT_COLUMNS:
            columns.setdefault(key, index)
        elif key:
            report.ignored_columns.append(name.strip())
    time_zones = available_time_zones()
    rows: list[ImportRow] = []
    seen: set[str] = set()
    last_line = reader.line_num
    for cells in reader:
        line, last_line = last_line + 1, reader.line_num  # where the record starts (cells may span lines)
        if not any(cell.strip() for cell in cells):
            continue

        def cell(name: str, cells=cells) -> str:
            index = columns.get(name)
            return cells[index] if index is not None and index < len(cells) else ""

        raw = cell("email")
        if "\r" in raw or "\n" in raw:
            report.invalid.append(f"line {line}: the address contains a line break")
            continue
        address = normalize_email(raw)
        if not address:
            report.invalid.append(f"line {line}: no address")
            continue
        try:
            if len(address) > 254:
                raise ValidationError("too long")
            validate_email(address)
        except ValidationError:
            report.invalid.append(f"line {line}: “{Truncator(address).chars(60)}” is not a valid email address")
            continue
        if address.lower() in seen:
            report.duplicates.append(line)
            continue
        seen.add(address.lower())

        row = ImportRow(line=line, email=address)
        notes = []
        interests = " ".join(cell("interests").split())
        if len(interests) > Subscriber.INTERESTS_MAX_LENGTH:
            notes.append(f"interests longer than {Subscriber.INTERESTS_MAX_LENGTH} characters, left empty")
        else:
            row.interests = interests
        time_zone = cell("time_zone").strip()
        if time_zone in time_zones:
            row.time_zone = time_zone
        elif time_zone:
            notes.append(f"unknown time zone “{Truncator(time_zone).chars(40)}”, used UTC")
        frequency = cell("frequency").strip().lower()
        if frequency in Subscriber.Frequency.values:
            row.frequency = frequency
        elif frequency:
            notes.append(f"frequency “{Truncator(frequency).chars(20)}” is not daily or weekly, used daily")
        papers = cell("papers_per_digest").strip()
        if papers.isdigit() and 1 <= int(papers) <= 50:
            row.papers_per_digest = int(papers)
        elif papers:
            notes.append(f"papers_per_digest “{Truncator(papers).chars(20)}” is not a number from 1 to 50, used 10")
        if notes:
            report.notes.append(f"line {line}: {', '.join(notes)}")
        rows.append(row)
    return rows, report


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
        value = self.cleaned_data["consent_source"]
        _reject_line_breaks(value, "The consent source")
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


def _known_addresses(addresses: list[str]) -> tuple[set[str], set[str]]:
    """Which of these (lower-cased) addresses already have a subscriber row, and which are suppressed."""
    existing: set[str] = set()
    suppressed: set[str] = set()
    for start in range(0, len(addresses), 500):
        chunk = addresses[start : start + 500]
        existing.update(
            Subscriber.objects.annotate(lower_email=Lower("email"))
            .filter(lower_email__in=chunk)
            .values_list("lower_email", flat=True)
        )
        hashes = {email_hash(address): address for address in chunk}
        found = Suppression.objects.filter(email_hash__in=hashes).values_list("email_hash", flat=True)
        suppressed.update(hashes[value] for value in found)
    return existing, suppressed


def run_import(
    rows: list[ImportRow], report: ImportReport, *, already_consented: bool, consent_source: str
) -> ImportReport:
    """Create the new subscribers in one transaction; confirmation emails leave once it commits."""
    now = timezone.now()
    with transaction.atomic():
        existing, suppressed = _known_addresses([row.email.lower() for row in rows])
        for row in rows:
            key = row.email.lower()
            if key in suppressed:  # any reason, "forget me" included: only the person can come back
                report.suppressed += 1
                continue
            if key in existing:  # left as it is, whatever its status
                report.already_subscribed += 1
                continue
            subscriber = Subscriber(
                email=row.email,
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


# --- Subscribers ------------------------------------------------------------------------------


PREFERENCE_FIELDS = [
    "frequency",
    "weekly_day",
    "send_hour",
    "time_zone",
    "papers_per_digest",
    "email_format",
    "interests",
    "categories",
    "followed_authors",
    "skip_if_no_match",
]


class SubscriberAdminForm(forms.ModelForm):
    class Meta:
        model = Subscriber
        fields = ["email", *PREFERENCE_FIELDS]

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        if self.instance.pk is None:
            if Suppression.lookup(email):
                raise forms.ValidationError(
                    "This address is on the suppression list (it bounced, complained, or asked to be removed)."
                )
            if Subscriber.objects.with_email(email).exists():
                raise forms.ValidationError("This address is already subscribed.")
        return email


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    form = SubscriberAdminForm
    change_list_template = "admin/subscribers/subscriber/change_list.html"
    list_display = [
        "email",
        "status",
        "frequency",
        "delivery",
        "papers_per_digest",
        "created_at",
        "confirmed_at",
    ]
    search_fields = ["email", "interests"]
    search_help_text = "Search by email address or interests."
    list_filter = ["status", "frequency", "time_zone", "email_format"]
    date_hierarchy = "created_at"
    actions = ["resend_confirmation", "pause", "resume", "unsubscribe", "suppress", "export_csv"]
    readonly_fields = [
        "status",
        "public_id",
        "created_at",
        "confirmed_at",
        "status_changed_at",
        "consent_source",
        "consent_at",
        "consent_ip_hash",
        "signup_ip_hash",
        "confirmations_sent",
        "confirmation_day",
    ]
    fieldsets = [
        (None, {"fields": ["email", "status", "public_id"]}),
        (
            "Preferences",
            {"fields": PREFERENCE_FIELDS},
        ),
        (
            "Consent and history",
            {
                "fields": [
                    "consent_source",
                    "consent_at",
                    "consent_ip_hash",
                    "signup_ip_hash",
                    "created_at",
                    "confirmed_at",
                    "status_changed_at",
                    "confirmations_sent",
                    "confirmation_day",
                ]
            },
        ),
    ]

    @admin.display(description="Delivery", ordering="send_hour")
    def delivery(self, subscriber: Subscriber) -> str:
        return f"{subscriber.send_hour:02d}:00 {subscriber.time_zone}"

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # A changed address would skip confirmation: people change theirs by signing up again.
        return [*self.readonly_fields, "email"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj: Subscriber, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Added by hand: pending like any signup, and asked to confirm.
        obj.consent_source = f"admin add by {request.user.get_username()}"
        super().save_model(request, obj, form, change)
        services.subscriber_resend_confirmation(subscriber=obj)

    def status_counts(self) -> list[dict]:
        counts = dict(Subscriber.objects.order_by().values_list("status").annotate(count=Count("pk")))
        changelist = reverse("admin:subscribers_subscriber_changelist")
        return [
            {
                "status": value,
                "label": label,
                "count": counts.get(value, 0),
                "url": f"{changelist}?{urlencode({'status__exact': value})}",
            }
            for value, label in Status.choices
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "status_counts": self.status_counts()}
        return super().changelist_view(request, extra_context=extra_context)

    # --- actions ---

    def _each(self, queryset: QuerySet[Subscriber], change) -> int:
        return sum(1 for subscriber in queryset if change(subscriber))

    @admin.action(description="Resend the confirmation email")
    def resend_confirmation(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        sent = not_confirmable = capped = 0
        for subscriber in queryset:
            if subscriber.status not in services.CONFIRMABLE:
                not_confirmable += 1
            elif services.subscriber_resend_confirmation(subscriber=subscriber):
                sent += 1
            else:
                capped += 1
        parts = [f"Queued {plural(sent, 'confirmation email')}."]
        if not_confirmable:
            parts.append(f"Skipped {not_confirmable} not pending or unsubscribed.")
        if capped:
            parts.append(f"Skipped {capped} at the daily cap of confirmation emails.")
        self.message_user(request, " ".join(parts), messages.SUCCESS if sent else messages.WARNING)

    def _report_moves(self, request: HttpRequest, done: int, total: int, verb: str, allowed: str) -> None:
        message = f"{verb} {plural(done, 'subscriber')}."
        if total - done:
            message += f" Skipped {total - done} that {'was' if total - done == 1 else 'were'} not {allowed}."
        self.message_user(request, message, messages.SUCCESS if done else messages.WARNING)

    @admin.action(description="Pause the selected subscribers")
    def pause(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        total = queryset.count()
        done = self._each(queryset, lambda s: services.subscriber_pause(subscriber=s))
        self._report_moves(request, done, total, "Paused", "active")

    @admin.action(description="Resume the selected paused subscribers")
    def resume(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        total = queryset.count()
        done = self._each(queryset, lambda s: services.subscriber_resume(subscriber=s))
        self._report_moves(request, done, total, "Resumed", "paused")

    @admin.action(description="Unsubscribe the selected subscribers")
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        total = queryset.count()
        done = self._each(queryset, lambda s: services.subscriber_unsubscribe(subscriber=s))
        self._report_moves(request, done, total, "Unsubscribed", "pending, active or paused")

    @admin.action(description="Suppress the selected addresses (never mail them again)")
    def suppress(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        done = skipped = 0
        for subscriber in queryset:
            if subscriber.status in (Status.BOUNCED, Status.COMPLAINED):  # suppressed already, with its reason
                skipped += 1
                continue
            services.subscriber_suppress(subscriber=subscriber, reason=Suppression.Reason.MANUAL)
            done += 1
        message = f"Suppressed {plural(done, 'address', 'addresses')}."
        if skipped:
            message += f" Skipped {skipped} already suppressed (bounced or complained)."
        self.message_user(request, message, messages.SUCCESS if done else messages.WARNING)

    @admin.action(description="Export the selected subscribers as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())
        rows = export_rows(queryset.order_by("created_at", "pk").iterator(chunk_size=1000))
        response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
        filename = f"subscribers-{timezone.localtime():%Y%m%d-%H%M}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    # --- CSV import ---

    def get_urls(self):
        own = [
            path(
                "import-csv/",
                self.admin_site.admin_view(self.import_csv_view),
                name="subscribers_subscriber_import_csv",
            )
        ]
        return own + super().get_urls()

    def import_csv_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        form = SubscriberImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            rows, report = form.cleaned_data["file"]
            already_consented = form.cleaned_data["already_consented"]
            source = f"admin import by {request.user.get_username()}: {form.cleaned_data['consent_source']}"
            run_import(rows, report, already_consented=already_consented, consent_source=source[:200])
            self._report_import(request, report, already_consented=already_consented)
            return HttpResponseRedirect(reverse("admin:subscribers_subscriber_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import subscribers from CSV",
            "columns": IMPORT_COLUMNS,
            "max_rows": MAX_IMPORT_ROWS,
        }
        return TemplateResponse(request, "admin/subscribers/subscriber/import_csv.html", context)

    def _report_import(self, request: HttpRequest, report: ImportReport, *, already_consented: bool) -> None:
        if already_consented:
            how = "active, already consented, no email sent"
        else:
            how = f"pending, {plural(report.emails_queued, 'confirmation email')} queued"
        parts = [
            f"{report.created} imported ({how})",
            f"{report.already_subscribed} already subscribed",
            f"{report.suppressed} suppressed",
            f"{plural(len(report.duplicates), 'duplicate')} in the file",
            f"{len(report.invalid)} invalid",
        ]
        summary = ", ".join(parts) + "."
        level = messages.SUCCESS if report.created else messages.WARNING
        self.message_user(request, summary, level)
        if report.invalid:
            self.message_user(request, f"Invalid rows: {_listed(report.invalid)}", messages.WARNING)
        if report.duplicates:
            lines = [f"line {line}" for line in report.duplicates]
            self.message_user(request, f"Duplicates skipped: {_listed(lines)}", messages.INFO)
        if report.notes:
            self.message_user(request, f"Defaults used: {_listed(report.notes)}", messages.INFO)
        if report.ignored_columns:
            self.message_user(request, f"Ignored columns: {', '.join(report.ignored_columns[:20])}", messages.INFO)


# --- Suppression list -------------------------------------------------------------------------

HEX = re.compile(r"[0-9a-f]{6,64}")


class SuppressionAddForm(forms.ModelForm):
    """Takes an address, keeps its hash: the address itself is stored nowhere."""

    email = forms.EmailField(max_length=254, label="Email address")

    class Meta:
        model = Suppression
        fields = ["reason"]

    def clean_email(self) -> str:
        _reject_line_breaks(self.data.get(self.add_prefix("email"), ""), "An email address")
        email = normalize_email(self.cleaned_data["email"])
        existing = Suppression.lookup(email)
        if existing:
            raise forms.ValidationError(
                f"This address is already on the suppression list ({existing.get_reason_display()})."
            )
        return email

    def save(self, commit: bool = True) -> Suppression:
        self.instance.email_hash = email_hash(self.cleaned_data["email"])
        return super().save(commit=commit)


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["hash_prefix", "reason", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email_hash"]  # shows the search box; get_search_results does the searching
    search_help_text = "Search by exact email address (or the start of a hash)."

    @admin.display(description="Address hash", ordering="email_hash")
    def hash_prefix(self, suppression: Suppression) -> str:
        return f"{suppression.email_hash[:12]}…"

    def get_fields(self, request, obj=None) -> list[str]:
        return ["email", "reason"] if obj is None else ["email_hash", "reason", "created_at"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [] if obj is None else ["email_hash", "reason", "created_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SuppressionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(email_hash=email_hash(term))
        if HEX.fullmatch(term.lower()):
            condition |= Q(email_hash__startswith=term.lower())
        return queryset.filter(condition), False

    def save_model(self, request, obj: Suppression, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # A subscriber with this address stops getting mail now, not only when they sign up again.
        subscriber = Subscriber.objects.with_email(form.cleaned_data["email"]).first()
        if subscriber is not None:
            services.subscriber_suppress(subscriber=subscriber, reason=obj.reason)
            self.message_user(
                request,
                f"The subscriber with this address is now {subscriber.get_status_display().lower()}.",
                messages.INFO,
            )
