"""First-party click tracking (``/c/<token>/<paper id>/<kind>/``) and the optional open pixel
(``/o/<token>.gif``): what a request records, and where a tracked link leads.

The token (newsletter.links.click_token) is signed, the paper id and link kind are not: anyone may
change them, so the redirect's target is always the stored paper's own link of that kind (never
anything from the URL: no open redirect), and a click counts only for a paper the delivery carried.
Clicks are recorded for the editor's figures only; the ranking reads votes alone (Feedback)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone

from newsletter.models import Click, Delivery
from newsletter.rendering import paper_links, title_search
from papers.models import Paper

# A 1x1 transparent GIF (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# Headers of a browser's speculative load (Chrome, Firefox, Safari's link previews): nobody clicked.
_PREFETCH = {"HTTP_SEC_PURPOSE", "HTTP_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ"}


def _web(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def target(paper: Paper, kind: str) -> str:
    """Where the paper's ``kind`` link leads: its stored URL of that kind; one it lacks (no code,
    no project page), or one that is no web address (an editor's typo), leads to its page."""
    links = paper_links(paper)
    return next(url for url in (links.get(kind, ""), links["page"], title_search(paper.title)) if _web(url))


def prefetched(request: HttpRequest) -> bool:
    """A HEAD, or a load the browser says is a prefetch or preview: redirected, not recorded."""
    if request.method != "GET":
        return True
    return any(
        "prefetch" in request.META.get(name, "").lower() or "preview" in request.META.get(name, "").lower()
        for name in _PREFETCH
    )


def record_click(delivery: Delivery, paper_id: int, kind: str) -> bool:
    """One Click per delivery and paper (the first one's link kind; later clicks change nothing),
    and the delivery's clicked_at — and opened_at, as a click is an open — when still empty.
    False: the paper is not one the delivery carried, and nothing is recorded."""
    carried = delivery.paper_ids if isinstance(delivery.paper_ids, list) else []
    if paper_id not in carried:
        return False
    now = timezone.now()
    try:
        with transaction.atomic():
            Click.objects.bulk_create([Click(delivery=delivery, paper_id=paper_id, link=kind)], ignore_conflicts=True)
            Delivery.objects.filter(Q(clicked_at__isnull=True) | Q(opened_at__isnull=True), pk=delivery.pk).update(
                clicked_at=Coalesce("clicked_at", Value(now)), opened_at=Coalesce("opened_at", Value(now))
            )
    except IntegrityError:  # the delivery or paper was deleted meanwhile: nothing to count
        return False
    return True


def record_open(delivery: Delivery) -> None:
    """The delivery's opened_at, the first time only."""
    Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(opened_at=timezone.now())
