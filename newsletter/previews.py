"""An edition as one reader would get it, for editors: their stored delivery, or one ranked for
them now and never saved."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field

from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from common.text import plural
from newsletter import planning
from newsletter.digest_email import build_message
from newsletter.models import Delivery, Edition
from newsletter.ranking import Pick
from newsletter.rendering import paper_views, render_edition
from subscribers.models import Subscriber

NOTHING_FOR_THEM = "Nothing for this reader: no email would be sent (they skip digests when nothing matches)."


@dataclass
class Preview:
    message: EmailMultiAlternatives
    source: str  # where the reader's papers came from
    has_papers: bool
    notes: list[str] = field(default_factory=list)

    @property
    def html(self) -> str | None:
        return str(self.message.alternatives[0][0]) if self.message.alternatives else None


def preview_delivery(edition: Edition, subscriber: Subscriber) -> tuple[Delivery, str]:
    """Their stored delivery, or one ranked for them now (pk 0: its view-in-browser link leads nowhere)."""
    row = Delivery.objects.filter(edition=edition, subscriber=subscriber).first()
    if row is not None:
        return row, f"their delivery row ({row.status})"
    ranked = planning.rank(planning.paper_infos(edition), [subscriber.pk]).get(subscriber.pk, Pick([], []))
    transient = Delivery(
        pk=0,
        edition=edition,
        subscriber=subscriber,
        kind=edition.kind,
        local_date=timezone.now().astimezone(zoneinfo.ZoneInfo(subscriber.time_zone)).date(),
        paper_ids=ranked.paper_ids,
        reasons=[list(codes) for codes in ranked.reasons],
        unmatched=ranked.unmatched,
    )
    return transient, "ranked for them now (not planned yet; nothing was saved)"


def preview_for(edition: Edition, subscriber: Subscriber) -> Preview:
    row, source = preview_delivery(edition, subscriber)
    # Fresh: a draft's papers change. Untracked: an editor's clicks are not the reader's.
    rendered = render_edition(edition, paper_views(edition), tracking=False)
    # Papers deleted since planning are left out by the rendering: the rest is shown rather than fail.
    missing = [pk for pk in row.paper_ids if pk not in rendered.paper_text]
    shown = len(row.paper_ids) - len(missing)
    preview = Preview(build_message(row, subscriber, rendered), source, has_papers=shown > 0)
    if subscriber.frequency != edition.kind:
        preview.notes.append(f"{subscriber.email} takes {subscriber.get_frequency_display().lower()} digests.")
    if subscriber.status != Subscriber.Status.ACTIVE:
        status = subscriber.get_status_display().lower()
        preview.notes.append(f"{subscriber.email} is {status}: no digest goes to them.")
    if not shown:
        preview.notes.append(
            "Nothing for this reader: no email would be sent (they skip digests when nothing matches)."
        )
    if row.unmatched:
        preview.notes.append("Nothing matched their interests: they get the top papers, and the digest says so.")
    if missing:
        preview.notes.append(f"Left out {plural(len(missing), 'deleted paper')} of their delivery.")
    return preview
