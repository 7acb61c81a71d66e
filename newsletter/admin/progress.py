"""How an edition is doing, as the admin shows it: progress text, per-status counts, its papers."""

from __future__ import annotations

from django.db import connection as db
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from newsletter.models import Delivery, Edition
from newsletter.rendering import withdrawn_papers
from papers.models import Paper

DeliveryStatus = Delivery.Status


def status_count_annotations() -> dict[str, Count]:
    return {
        "n_total": Count("deliveries"),
        **{f"n_{status}": Count("deliveries", filter=Q(deliveries__status=status)) for status in DeliveryStatus.values},
    }


def progress_text(counts: dict[str, int]) -> str:
    """ "sent 120 / 300 (failed 2, unknown 1)": the emails meant to go out (skipped readers had
    nothing to receive) and how they fared."""
    total = counts.get("total", 0)
    if not total:
        return "no deliveries yet"
    skipped = counts.get(DeliveryStatus.SKIPPED, 0)
    text = (
        f"sent {counts.get(DeliveryStatus.SENT, 0)} / {total - skipped} "
        f"(failed {counts.get(DeliveryStatus.FAILED, 0)}, unknown {counts.get(DeliveryStatus.UNKNOWN, 0)})"
    )
    extra = [
        f"{counts[status]} {label}"
        for status, label in [
            (DeliveryStatus.PENDING, "pending"),
            (DeliveryStatus.SENDING, "sending"),
            (DeliveryStatus.SUPPRESSED, "suppressed"),
            (DeliveryStatus.SKIPPED, "skipped"),
        ]
        if counts.get(status)
    ]
    return text + (" · " + ", ".join(extra) if extra else "")


WITHDRAWN_NOTE = "left out of every digest not yet handed to the provider"


def papers_html(edition: Edition) -> str:
    """The edition's papers as an ordered list linking to each; papers hidden or deleted since
    publishing are marked, with how many digests already carried them."""
    if not edition.paper_ids:
        return "None yet: no approved entries in the period."
    found = Paper.objects.only("pk", "title", "arxiv_id").in_bulk(edition.paper_ids)  # one query
    withdrawn = withdrawn_papers(edition) if edition.published_at else {}
    carried = _sent_with(edition, list(withdrawn)) if withdrawn else {}
    pinned = set(edition.pinned_ids)
    items = []
    for pk in edition.paper_ids:
        paper = found.get(pk)
        pin = " 📌 editor's pick" if pk in pinned else ""
        note = ""
        if pk in withdrawn:
            note = format_html(
                ' <strong class="withdrawn">{} after publishing: {} ({} already sent with it)</strong>',
                withdrawn[pk].capitalize(),
                WITHDRAWN_NOTE,
                carried.get(pk, 0),
            )
        if paper is None:
            items.append(format_html("<li>paper #{}{}{}</li>", pk, pin, note))
            continue
        url = reverse("admin:papers_paper_change", args=[pk])
        items.append(
            format_html(
                '<li><a href="{}">{}</a> <span class="quiet">{}</span>{}{}</li>',
                url,
                paper.title,
                paper.arxiv_id or "",
                pin,
                note,
            )
        )
    return format_html('<ol class="edition-papers">{}</ol>', format_html_join("", "{}", ((i,) for i in items)))


def _sent_with(edition: Edition, paper_ids: list[int]) -> dict[int, int]:
    """How many digests of ``edition`` already went out with each of ``paper_ids``."""
    sent = Delivery.objects.filter(edition=edition, status__in=[DeliveryStatus.SENT, DeliveryStatus.UNKNOWN])
    if db.vendor == "postgresql":  # jsonb containment, one count per withdrawn paper (they are few)
        return {pk: sent.filter(paper_ids__contains=[pk]).count() for pk in paper_ids}
    carried = dict.fromkeys(paper_ids, 0)
    for ids in sent.values_list("paper_ids", flat=True).iterator():
        for pk in set(ids) & carried.keys():
            carried[pk] += 1
    return carried


def delivery_counts_html(edition: Edition) -> str:
    """Progress, and each status's count linking to those rows in the ledger."""
    counts = edition.counts()
    ledger = reverse("admin:newsletter_delivery_changelist")
    rows = [
        (
            f"{ledger}?{urlencode({'edition__id__exact': str(edition.pk), 'status__exact': status})}",
            label,
            counts.get(status, 0),
        )
        for status, label in DeliveryStatus.choices
    ]
    return format_html(
        '<p id="edition-progress">{}</p><ul class="delivery-counts">{}</ul>'
        '<p><a href="{}?{}">All {} deliveries</a></p>',
        progress_text(counts),
        format_html_join("", '<li><a href="{}">{}</a>: <strong>{}</strong></li>', rows),
        ledger,
        urlencode({"edition__id__exact": edition.pk}),
        counts.get("total", 0),
    )
