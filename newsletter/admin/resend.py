"""Sending rows again from admin (editions' unknown rows, the ledger's unknown or failed ones)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from newsletter import services, tasks
from newsletter.models import Delivery, Edition


def resend_note(request: HttpRequest, was: str) -> str:
    return (
        f"Was {was}; {request.user.get_username()} chose to send it again on "
        f"{timezone.now():%Y-%m-%d %H:%M} UTC (it may already have been delivered)."
    )


def requeue(request: HttpRequest, rows: QuerySet[Delivery], was: str) -> tuple[int, list[Edition]]:
    """Rows back to pending, noted with who chose it; (rows moved, their paused editions)."""
    return services.deliveries_requeue(rows=rows, note=resend_note(request, was))


def dispatch_now() -> int:
    """Enqueue the pending rows of running editions at once (their send tasks start on commit)."""
    return tasks.dispatch()


def warn_paused(model_admin: admin.ModelAdmin[Any], request: HttpRequest, paused: list[Edition]) -> None:
    for edition in {edition.pk: edition for edition in paused}.values():
        model_admin.message_user(request, f"{edition} is paused: its rows go out when you resume it.", messages.WARNING)
