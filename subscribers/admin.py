"""Subscribers in Django admin: counts per status, status actions through the services, CSV export
and import (with consent recorded), and a suppression list that is added to by address but keeps
only hashes."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from common.text import plural
from papers import taxonomy
from subscribers import services
from subscribers.csv_io import (
    IMPORT_COLUMNS,
    MAX_IMPORT_ROWS,
    Echo,
    ImportReport,
    SubscriberImportForm,
    export_rows,
    listed,
    reject_line_breaks,
    run_import,
)
from subscribers.forms import MAX_FOLLOWED_AUTHORS, CategoriesField, ListField, MutedTopicsField, require_mailbox
from subscribers.models import (
    Subscriber,
    Suppression,
    available_time_zones,
    email_hash,
    email_hashes,
    normalize_email,
)
from subscribers.muting import MAX_LENGTH as MUTED_MAX
from subscribers.muting import MAX_TOPICS
from subscribers.muting import MIN_LENGTH as MUTED_MIN

Status = Subscriber.Status
AUTHOR_MAX_LENGTH = 200  # what the preference center keeps of a name
_ZONES_BY_FOLDED_CASE = {zone.casefold(): zone for zone in available_time_zones()}  # europe/berlin is Europe/Berlin

# --- Subscribers ------------------------------------------------------------------------------


class TimeZoneInput(forms.TextInput):
    """A text box whose browser suggestions are every IANA zone (a ``<datalist>``): typing "berl" or
    "new_y" narrows the ~600 names with no JavaScript at all; admin's filter widget only handles
    multiple choices, and its autocomplete needs a model to search."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            {"class": "vTextField time-zone-input", "autocomplete": "off", "spellcheck": "false", **(attrs or {})}
        )

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        list_id = f"{(attrs or {}).get('id') or 'id_' + name}-zones"
        box = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">', ((zone,) for zone in sorted(available_time_zones())))
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


class CategoryFilter(FilteredSelectMultiple):
    """Admin's two-box filter widget. Its script puts the boxes first in the select's parent
    element, so the select gets a parent of its own (as admin's related-field wrapper gives one);
    beside the label otherwise, it would land before the label."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        return format_html('<div class="category-filter">{}</div>', super().render(name, value, attrs, renderer))


class LinesField(MutedTopicsField):
    """Muted topics shown one per line (commas still separate them when typed)."""

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value


class SubscriberAdminForm(forms.ModelForm[Subscriber]):
    time_zone = forms.CharField(
        max_length=64,
        initial="UTC",
        widget=TimeZoneInput,
        help_text="An IANA zone name: type part of it (Berlin, New_York, Kolkata) and pick a suggestion.",
    )
    categories = CategoriesField(
        label="arXiv categories",
        widget=CategoryFilter("arXiv categories", is_stacked=False),
        help_text=(
            "Only papers in the chosen categories; none: all. Type in the filter box (cs.LG, "
            "“language”) to find one. Papers of unknown category (some Hugging Face picks) are included either way."
        ),
    )
    followed_authors = ListField(
        required=False,
        label="Followed authors",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40}),
        help_text=f"One name per line (up to {MAX_FOLLOWED_AUTHORS}): their papers always make this reader's digest.",
    )
    muted_topics = LinesField(
        label="Muted topics",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40}),
        help_text=(
            f"One per line (up to {MAX_TOPICS}, {MUTED_MIN}–{MUTED_MAX} characters each): papers that mention "
            "one (whole words, any case) never reach this reader."
        ),
    )

    class Meta:
        model = Subscriber
        fields = ["email", *Subscriber.PREFERENCE_FIELDS]

    class Media:
        js = ["paperboy/admin_selectfilter.js"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A stored value outside the taxonomy (written past the forms) stays visible, chosen, and is
        # refused by name on saving, rather than dropped without a word.
        stray = taxonomy.unknown(self.instance.categories or [])
        if stray:
            field = cast(CategoriesField, self.fields["categories"])
            field.choices = [*taxonomy.choices(), ("Not arXiv categories", [(value, value) for value in stray])]

    def clean_time_zone(self) -> str:
        typed = self.cleaned_data["time_zone"].strip()
        zone = _ZONES_BY_FOLDED_CASE.get(typed.casefold())
        if zone is None:
            raise forms.ValidationError(
                f"“{typed}” is not a time zone name. Type part of one (Berlin, New_York) "
                "and pick it from the suggestions."
            )
        return zone

    def clean_categories(self) -> list[str]:
        # The widget sends the chosen categories in its own order: keep the stored order of those
        # kept, so saving an unchanged form writes the same list.
        chosen: list[str] = self.cleaned_data["categories"]
        before = [value for value in (self.instance.categories or []) if value in chosen]
        return before + [value for value in chosen if value not in before]

    def clean_followed_authors(self) -> list[str]:
        authors: list[str] = self.cleaned_data["followed_authors"]
        errors = [
            forms.ValidationError(f"“{name[:60]}…” is too long: at most {AUTHOR_MAX_LENGTH} characters per name.")
            for name in authors
            if len(name) > AUTHOR_MAX_LENGTH
        ][:5]
        if any(name.startswith("[") and name.endswith("]") for name in authors):  # the old JSON form, pasted
            errors.append(forms.ValidationError('One name per line, without brackets or quotes (not ["A", "B"]).'))
        if len(authors) > MAX_FOLLOWED_AUTHORS:
            errors.append(forms.ValidationError(f"At most {MAX_FOLLOWED_AUTHORS} authors (you gave {len(authors)})."))
        if errors:
            raise forms.ValidationError(errors)
        return authors

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        if self.instance.pk is None:
            require_mailbox(email)
            if Suppression.lookup(email):
                raise forms.ValidationError(
                    "This address is on the suppression list (it bounced, complained, or asked to be removed)."
                )
            if Subscriber.objects.with_email(email).exists():
                raise forms.ValidationError("This address (or another form of it) is already subscribed.")
        return email


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin[Subscriber]):
    form = SubscriberAdminForm

    class Media:
        css = {"all": ["paperboy/admin.css"]}

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
        "mailbox",
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
        (None, {"fields": ["email", "mailbox", "status", "public_id"]}),
        (
            "Preferences",
            {"fields": Subscriber.PREFERENCE_FIELDS},
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

    def get_readonly_fields(self, request: HttpRequest, obj: Subscriber | None = None) -> list[str] | tuple[str, ...]:
        # A changed address would skip confirmation: people change theirs by signing up again.
        return [*self.readonly_fields, "email"] if obj is not None else self.readonly_fields

    def save_model(
        self, request: HttpRequest, obj: Subscriber, form: forms.ModelForm[Subscriber], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Added by hand: pending like any signup, and asked to confirm.
        obj.consent_source = f"admin add by {request.user.get_username()}"
        super().save_model(request, obj, form, change)
        services.subscriber_resend_confirmation(subscriber=obj)

    def status_counts(self) -> list[dict[str, Any]]:
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
            # Merged rows exist only where migration 0003 found two rows of one mailbox.
            if value != Status.MERGED or counts.get(value)
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "status_counts": self.status_counts()}
        return super().changelist_view(request, extra_context=extra_context)

    # --- actions ---

    def _each(self, queryset: QuerySet[Subscriber], change: Callable[[Subscriber], bool]) -> int:
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
        writer = csv.writer(Echo())
        rows = export_rows(queryset.order_by("created_at", "pk").iterator(chunk_size=1000))
        response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
        filename = f"subscribers-{timezone.localtime():%Y%m%d-%H%M}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    # --- CSV import ---

    def get_urls(self) -> list[URLPattern]:
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
            self.message_user(request, f"Invalid rows: {listed(report.invalid)}", messages.WARNING)
        if report.duplicates:
            lines = [f"line {line}" for line in report.duplicates]
            self.message_user(request, f"Duplicates skipped: {listed(lines)}", messages.INFO)
        if report.notes:
            self.message_user(request, f"Defaults used: {listed(report.notes)}", messages.INFO)
        if report.ignored_columns:
            self.message_user(request, f"Ignored columns: {', '.join(report.ignored_columns[:20])}", messages.INFO)


# --- Suppression list -------------------------------------------------------------------------

HEX = re.compile(r"[0-9a-f]{6,64}")


class SuppressionAddForm(forms.ModelForm[Suppression]):
    """Takes an address, keeps its hash: the address itself is stored nowhere."""

    email = forms.EmailField(max_length=254, label="Email address")

    class Meta:
        model = Suppression
        fields = ["reason"]

    def clean_email(self) -> str:
        reject_line_breaks(self.data.get(self.add_prefix("email"), ""), "An email address")
        email = normalize_email(self.cleaned_data["email"])
        require_mailbox(email)
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
class SuppressionAdmin(admin.ModelAdmin[Suppression]):
    list_display = ["hash_prefix", "reason", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email_hash"]  # shows the search box; get_search_results does the searching
    search_help_text = "Search by exact email address (or the start of a hash)."

    @admin.display(description="Address hash", ordering="email_hash")
    def hash_prefix(self, suppression: Suppression) -> str:
        return f"{suppression.email_hash[:12]}…"

    def get_fields(self, request: HttpRequest, obj: Suppression | None = None) -> tuple[str, ...]:
        return ("email", "reason") if obj is None else ("email_hash", "reason", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Suppression | None = None) -> list[str]:
        return [] if obj is None else ["email_hash", "reason", "created_at"]

    def get_form(
        self, request: HttpRequest, obj: Suppression | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Suppression]]:
        if obj is None:
            kwargs["form"] = SuppressionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Suppression | None = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Suppression], search_term: str
    ) -> tuple[QuerySet[Suppression], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(email_hash__in=email_hashes(term))
        if HEX.fullmatch(term.lower()):
            condition |= Q(email_hash__startswith=term.lower())
        return queryset.filter(condition), False

    def save_model(
        self, request: HttpRequest, obj: Suppression, form: forms.ModelForm[Suppression], change: bool
    ) -> None:
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
