"""Editions in Django admin: their progress, and the editor's tools (draft, publish, preview for
any reader, test send, pause, resume, resending rows whose fate is unknown)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from common.text import plural
from newsletter import services
from newsletter.admin.forms import DraftForm, EditionForm, PreviewForm, SendTestForm
from newsletter.admin.progress import delivery_counts_html, papers_html, progress_text, status_count_annotations
from newsletter.admin.resend import dispatch_now, requeue, warn_paused
from newsletter.digest_email import send_test
from newsletter.models import RUNNING_STATUSES, Click, Delivery, Edition, Feedback
from newsletter.previews import preview_for
from subscribers.models import Subscriber

DeliveryStatus = Delivery.Status
_BODY_TAG = re.compile(r"<body[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class EditionNumbers:
    """How an edition did, for the table at the top of its page."""

    sent: int
    failed: int
    unknown: int
    skipped: int
    pending: int  # not handed to the provider yet: pending, or being sent right now
    opened: int
    clicked: int  # deliveries with at least one click
    clicks: int  # papers clicked, summed over deliveries (one per delivery and paper)
    more: int
    less: int

    @staticmethod
    def _rate(part: int, whole: int) -> str:
        return f"{part / whole:.1%}" if whole else "—"

    @property
    def click_rate(self) -> str:
        return self._rate(self.clicked, self.sent)

    @property
    def open_rate(self) -> str:
        return self._rate(self.opened, self.sent)


def edition_numbers(edition: Edition) -> EditionNumbers:
    """Two aggregate queries: the ledger's counts (opens and clicks as subqueries, so no join
    multiplies the rows), and the feedback votes the edition's digests carried."""
    clicks_of = Click.objects.filter(delivery=OuterRef("pk")).order_by().values("delivery")
    ledger = edition.deliveries.annotate(
        n_clicks=Coalesce(Subquery(clicks_of.annotate(n=Count("pk")).values("n")), 0)
    ).aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in DeliveryStatus.values},
        opened=Count("pk", filter=Q(opened_at__isnull=False)),
        clicked=Count("pk", filter=Q(n_clicks__gt=0)),
        clicks=Coalesce(Sum("n_clicks"), 0),
    )
    votes = edition.feedback.aggregate(
        more=Count("pk", filter=Q(vote=Feedback.Vote.MORE)), less=Count("pk", filter=Q(vote=Feedback.Vote.LESS))
    )
    return EditionNumbers(
        sent=ledger[DeliveryStatus.SENT],
        failed=ledger[DeliveryStatus.FAILED],
        unknown=ledger[DeliveryStatus.UNKNOWN],
        skipped=ledger[DeliveryStatus.SKIPPED],
        pending=ledger[DeliveryStatus.PENDING] + ledger[DeliveryStatus.SENDING],
        opened=ledger["opened"],
        clicked=ledger["clicked"],
        clicks=ledger["clicks"],
        more=votes["more"],
        less=votes["less"],
    )


def find_subscriber(value: str) -> Subscriber | None:
    """A subscriber by id or by email address."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return Subscriber.objects.filter(pk=int(value)).first()
    return Subscriber.objects.with_email(value).first()


# --- Editions -----------------------------------------------------------------------------------


@admin.register(Edition)
class EditionAdmin(admin.ModelAdmin[Edition]):
    form = EditionForm

    class Media:
        css = {"all": ["paperboy/admin.css"]}

    change_list_template = "admin/newsletter/edition/change_list.html"
    change_form_template = "admin/newsletter/edition/change_form.html"
    list_display = ["__str__", "kind", "status", "paper_count", "published_at", "progress"]
    list_filter = ["kind", "status"]
    date_hierarchy = "period_start"
    actions = ["publish", "pause", "resume", "resend_unknown"]
    readonly_fields = [
        "kind",
        "period_start",
        "period_end",
        "status",
        "published_at",
        "created_at",
        "papers",
        "delivery_counts",
        "pause_reason",
        "consecutive_errors",
    ]
    fieldsets = [
        (None, {"fields": ["kind", "period_start", "period_end", "status", "published_at", "created_at"]}),
        ("Content", {"fields": ["subject", "intro", "papers"]}),
        ("Sending", {"fields": ["delivery_counts", "pause_reason", "consecutive_errors"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Edition]:
        # Every status count in the changelist's one query (a GROUP BY), never a query per row.
        editions: QuerySet[Edition] = super().get_queryset(request)
        return editions.annotate(**status_count_annotations())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # editions come from "Create / refresh a draft" (or the schedule)

    def has_delete_permission(self, request: HttpRequest, obj: Edition | None = None) -> bool:
        # Only a draft may go: a published edition's ledger is the record of what was sent.
        return obj is not None and obj.status == Edition.Status.DRAFT and super().has_delete_permission(request, obj)

    def _can(self, request: HttpRequest, action: str) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")

    # --- columns and read-only fields ---

    @admin.display(description="Papers")
    def paper_count(self, edition: Edition) -> int:
        return len(edition.paper_ids)

    @staticmethod
    def _annotated_counts(edition: Edition) -> dict[str, int]:
        if hasattr(edition, "n_total"):
            counts = {status: getattr(edition, f"n_{status}") for status in DeliveryStatus.values}
            return {"total": edition.n_total, **counts}
        return edition.counts()

    @admin.display(description="Progress", ordering="n_sent")
    def progress(self, edition: Edition) -> str:
        return progress_text(self._annotated_counts(edition))

    @admin.display(description="Papers, in listing order")
    def papers(self, edition: Edition) -> str:
        return papers_html(edition)

    @admin.display(description="Deliveries")
    def delivery_counts(self, edition: Edition) -> str:
        return delivery_counts_html(edition)

    # --- URLs and pages ---

    def get_urls(self) -> list[URLPattern]:
        def view(func: Callable[..., HttpResponse], suffix: str, route: str) -> URLPattern:
            return path(route, self.admin_site.admin_view(func), name=f"newsletter_edition_{suffix}")

        own = [
            view(self.draft_view, "draft", "draft/"),
            view(self.preview_view, "preview", "<path:object_id>/preview/"),
            view(self.send_test_view, "send_test", "<path:object_id>/send-test/"),
            view(self.publish_view, "publish", "<path:object_id>/publish/"),
            view(self.pause_view, "pause", "<path:object_id>/pause/"),
            view(self.resume_view, "resume", "<path:object_id>/resume/"),
            view(self.resend_unknown_view, "resend_unknown", "<path:object_id>/resend-unknown/"),
        ]
        return own + super().get_urls()

    def _page(self, request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context}
        return TemplateResponse(request, f"admin/newsletter/edition/{template}", context)

    def _edition(self, request: HttpRequest, object_id: str, *, change: bool = True) -> Edition:
        edition = self.get_object(request, object_id)
        if edition is None:
            raise Http404("No such edition.")
        allowed = self.has_change_permission if change else self.has_view_permission
        if not allowed(request, edition):
            raise PermissionDenied
        return edition

    def _back(self, edition: Edition) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:newsletter_edition_change", args=[edition.pk]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        edition = self.get_object(request, object_id)
        if edition is not None:
            counts = self._annotated_counts(edition)
            extra_context = {
                **(extra_context or {}),
                "preview_form": PreviewForm(),
                "send_test_form": SendTestForm(),
                "can_publish": edition.status == Edition.Status.DRAFT,
                "can_pause": edition.status in RUNNING_STATUSES,
                "can_resume": edition.status == Edition.Status.PAUSED,
                "unknown_count": counts[DeliveryStatus.UNKNOWN],
                "numbers": edition_numbers(edition),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def draft_view(self, request: HttpRequest) -> HttpResponse:
        if not self._can(request, "add"):
            raise PermissionDenied
        form = DraftForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            edition = services.edition_prepare(kind=form.cleaned_data["kind"], day=form.cleaned_data["day"])
            if edition.status == Edition.Status.DRAFT:
                self.message_user(
                    request,
                    f"{edition}: draft ready with {plural(len(edition.paper_ids), 'approved paper')}.",
                    messages.SUCCESS if edition.paper_ids else messages.WARNING,
                )
            else:
                self.message_user(
                    request,
                    f"{edition} is already {edition.get_status_display().lower()}: its papers are frozen.",
                    messages.WARNING,
                )
            return self._back(edition)
        return self._page(
            request,
            "form_page.html",
            "Create / refresh a draft",
            form=form,
            intro="Gathers the period's approved entries (pinned first) into the edition's draft. "
            "Running it again refreshes the papers of a draft; a published edition is left as it is.",
            submit="Create / refresh draft",
        )

    # --- preview for any subscriber ---

    @method_decorator(csp_update({"style-src": ["'unsafe-inline'"]}))  # the email's inline styles; no scripts
    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        edition = self._edition(request, object_id, change=False)
        wanted = request.GET.get("subscriber", "")
        subscriber = find_subscriber(wanted)
        if subscriber is None:
            self.message_user(request, f"No subscriber “{wanted.strip()}”.", messages.ERROR)
            return self._back(edition)
        preview = preview_for(edition, subscriber)
        html, notes, source = preview.html, preview.notes, preview.source
        base = reverse("admin:newsletter_edition_preview", args=[edition.pk])
        links = {
            "html_url": f"{base}?{urlencode({'subscriber': str(subscriber.pk)})}",
            "text_url": f"{base}?{urlencode({'subscriber': str(subscriber.pk), 'format': 'text'})}",
            "edition_url": reverse("admin:newsletter_edition_change", args=[edition.pk]),
        }
        if request.GET.get("format") == "text" or html is None or not preview.has_papers:
            return self._page(
                request,
                "preview_text.html",
                f"Preview of {edition} for {subscriber.email}",
                edition=edition,
                original=edition,
                subscriber=subscriber,
                source=source,
                notes=notes,
                email=preview.message,
                has_html=html is not None,
                **links,
            )
        banner = format_html(
            '<div style="font:13px/1.5 sans-serif;background:#fff3cd;color:#333;padding:8px 12px;'
            'border-bottom:1px solid #e0c36a" id="admin-preview-banner">'
            "Admin preview of <strong>{}</strong> for <strong>{}</strong> — {}.{} "
            '<a href="{}">Plain text</a> · <a href="{}">Back to the edition</a><br>'
            'Subject: <span id="preview-subject">{}</span></div>',
            edition,
            subscriber.email,
            source,
            format_html_join("", " {}", ((note,) for note in notes)),
            links["text_url"],
            links["edition_url"],
            preview.message.subject,
        )
        # The email exactly as sent, with only the banner added after <body>.
        document = _BODY_TAG.sub(lambda match: match.group(0) + banner, html, count=1)
        return HttpResponse(document)

    # --- test send ---

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        edition = self._edition(request, object_id)
        form = SendTestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            address = form.cleaned_data["address"]
            try:
                send_test(edition, address)
            except Exception as exc:  # the provider's answer is what the editor needs to see
                self.message_user(request, f"The test to {address} was not sent: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"Sent a test of {edition} to {address}.", messages.SUCCESS)
            return self._back(edition)
        return self._page(
            request,
            "form_page.html",
            f"Send a test of {edition}",
            original=edition,
            form=form,
            intro="The edition's top papers, marked [TEST], with links that lead nowhere personal.",
            submit="Send test",
        )

    # --- publish, pause, resume ---

    def _publish(self, request: HttpRequest, edition: Edition) -> bool:
        if edition.status != Edition.Status.DRAFT:
            self.message_user(request, f"{edition} is already {edition.get_status_display().lower()}.", messages.INFO)
            return False
        published = services.edition_publish(kind=edition.kind, day=edition.period_start)
        if published is None:
            self.message_user(request, f"{edition}: no approved papers in the period, not published.", messages.ERROR)
            return False
        self.message_user(
            request,
            f"Published {published} with {plural(len(published.paper_ids), 'paper')}; "
            "readers get it as their delivery hour comes.",
            messages.SUCCESS,
        )
        return True

    def _pause(self, request: HttpRequest, edition: Edition) -> bool:
        reason = f"Paused by {request.user.get_username()} on {timezone.now():%Y-%m-%d %H:%M} UTC."
        if services.edition_pause(edition=edition, reason=reason):
            self.message_user(request, f"Paused {edition}: nothing more is sent until you resume it.", messages.SUCCESS)
            return True
        self.message_user(
            request, f"{edition} is {edition.get_status_display().lower()}: only a running one pauses.", messages.INFO
        )
        return False

    def _resume(self, request: HttpRequest, edition: Edition) -> bool:
        if not services.edition_resume(edition=edition):
            self.message_user(request, f"{edition} is not paused.", messages.INFO)
            return False
        self.message_user(request, f"Resumed {edition}.", messages.SUCCESS)
        return True

    def _after_resume(self, request: HttpRequest) -> None:
        queued = dispatch_now()
        if queued:
            self.message_user(
                request,
                f"Queued {plural(queued, 'pending delivery', 'pending deliveries')} for sending.",
                messages.SUCCESS,
            )

    def _post_only(self, request: HttpRequest) -> None:
        if request.method != "POST":
            raise PermissionDenied("Use the buttons on the edition's page.")

    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        edition = self._edition(request, object_id)
        self._post_only(request)
        self._publish(request, edition)
        return self._back(edition)

    def pause_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        edition = self._edition(request, object_id)
        self._post_only(request)
        self._pause(request, edition)
        return self._back(edition)

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        edition = self._edition(request, object_id)
        self._post_only(request)
        if self._resume(request, edition):
            self._after_resume(request)
        return self._back(edition)

    # --- resend unknown ---

    def _resend_unknown(self, request: HttpRequest, chosen: Iterable[Edition]) -> None:
        rows = Delivery.objects.filter(edition__in=list(chosen), status=DeliveryStatus.UNKNOWN)
        moved, paused = requeue(request, rows, "unknown (the worker stopped while sending)")
        if not moved:
            self.message_user(request, "No deliveries in the 'unknown' state.", messages.INFO)
            return
        queued = dispatch_now()
        self.message_user(
            request,
            f"Sending {plural(moved, 'delivery', 'deliveries')} again ({queued} queued now). "
            "Some of these readers may get the digest twice.",
            messages.WARNING,
        )
        warn_paused(self, request, paused)

    def _confirm_resend(
        self, request: HttpRequest, chosen: list[Edition], hidden: list[tuple[str, str]]
    ) -> TemplateResponse:
        unknown = dict(
            Delivery.objects.filter(edition__in=chosen, status=DeliveryStatus.UNKNOWN)
            .order_by()
            .values_list("edition_id")
            .annotate(n=Count("pk"))
        )
        rows = [(edition, unknown.get(edition.pk, 0)) for edition in chosen]
        return self._page(
            request,
            "resend_unknown.html",
            "Send the unknown deliveries again?",
            rows=rows,
            total=sum(unknown.values()),
            hidden=hidden,
            original=chosen[0] if len(chosen) == 1 else None,
            timeout=settings.DIGEST_SENDING_TIMEOUT_MINUTES,
        )

    def resend_unknown_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        edition = self._edition(request, object_id)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            self._resend_unknown(request, [edition])
            return self._back(edition)
        return self._confirm_resend(request, [edition], hidden=[])

    # --- changelist actions ---

    @admin.action(description="Publish the selected drafts", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Edition]) -> None:
        for edition in queryset:
            self._publish(request, edition)

    @admin.action(description="Pause the selected editions", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Edition]) -> None:
        for edition in queryset:
            self._pause(request, edition)

    @admin.action(description="Resume the selected paused editions", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Edition]) -> None:
        if sum(self._resume(request, edition) for edition in queryset):
            self._after_resume(request)

    @admin.action(description="Send the unknown deliveries of the selected editions again…", permissions=["change"])
    def resend_unknown(self, request: HttpRequest, queryset: QuerySet[Edition]) -> HttpResponse | None:
        if request.POST.get("confirm") == "yes":
            self._resend_unknown(request, queryset)
            return None
        chosen = list(queryset)
        hidden = [("action", "resend_unknown")] + [
            (helpers.ACTION_CHECKBOX_NAME, str(edition.pk)) for edition in chosen
        ]
        return self._confirm_resend(request, chosen, hidden=hidden)
