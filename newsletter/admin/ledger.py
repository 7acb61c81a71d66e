"""The delivery ledger (read-only but for an explicit "send again"), feedback and webhook events."""

from __future__ import annotations

from typing import TypeVar

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from common.text import plural
from newsletter.admin.resend import dispatch_now, requeue, warn_paused
from newsletter.models import Click, Delivery, Feedback, TrackingEvent

DeliveryStatus = Delivery.Status
M = TypeVar("M", bound=Model)

# --- The delivery ledger ----------------------------------------------------------------------


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = [
        "edition",
        "subscriber_email",
        "status",
        "attempts",
        "sent_at",
        "opened_at",
        "clicked_at",
        "short_error",
    ]
    list_filter = ["status", "kind", "edition__status"]
    list_select_related = ["edition", "subscriber"]
    search_fields = ["subscriber__email"]
    search_help_text = "Search by subscriber email."
    date_hierarchy = "created_at"
    actions = ["send_again"]
    ordering = ["-pk"]

    @admin.display(description="Subscriber", ordering="subscriber__email")
    def subscriber_email(self, row: Delivery) -> str:
        return row.subscriber.email

    @admin.display(description="Last error")
    def short_error(self, row: Delivery) -> str:
        error = row.last_error
        return error if len(error) <= 80 else error[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.action(description="Send again (unknown or failed rows only)", permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        total = queryset.count()
        unknown = queryset.filter(status=DeliveryStatus.UNKNOWN)
        failed = queryset.filter(status=DeliveryStatus.FAILED)
        moved, paused = requeue(request, unknown, "unknown (the worker stopped while sending)")
        moved_failed, paused_failed = requeue(request, failed, "failed")
        moved += moved_failed
        if not moved:
            self.message_user(request, "Only unknown or failed deliveries can be sent again.", messages.ERROR)
            return
        queued = dispatch_now()
        message = (
            f"Sending {plural(moved, 'delivery', 'deliveries')} again ({queued} queued now). "
            "An 'unknown' row may already have "
            "been delivered: those readers may get the digest twice."
        )
        if total - moved:
            message += f" Left {total - moved} that were neither unknown nor failed."
        self.message_user(request, message, messages.WARNING)
        warn_paused(self, request, [*paused, *paused_failed])


# --- Feedback and webhook events (read-only) -----------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin[M]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        return False


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin[Feedback]):
    list_display = ["created_at", "subscriber", "paper", "vote"]
    list_filter = ["vote"]
    list_select_related = ["subscriber", "paper"]
    search_fields = ["subscriber__email", "paper__title", "paper__arxiv_id"]
    date_hierarchy = "created_at"


@admin.register(TrackingEvent)
class TrackingEventAdmin(ReadOnlyAdmin[TrackingEvent]):
    list_display = ["received_at", "event_type", "event_id", "delivery", "description"]
    list_filter = ["event_type"]
    list_select_related = ["delivery__edition"]
    search_fields = ["event_id", "delivery__subscriber__email"]
    date_hierarchy = "received_at"


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin[Click]):
    """Which reader followed which paper's link, from which digest (first-party tracking)."""

    list_display = ["created_at", "reader", "paper", "link", "edition"]
    list_filter = ["link"]
    list_select_related = ["delivery__subscriber", "delivery__edition", "paper"]
    search_fields = ["delivery__subscriber__email", "paper__title", "paper__arxiv_id"]
    date_hierarchy = "created_at"

    @admin.display(description="reader", ordering="delivery__subscriber__email")
    def reader(self, click: Click) -> str:
        return click.delivery.subscriber.email

    @admin.display(description="edition", ordering="delivery__edition")
    def edition(self, click: Click) -> str:
        return str(click.delivery.edition)
