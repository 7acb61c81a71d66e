from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, Prefetch, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from papers.models import DailyEntry, DailyEntryQuerySet, Paper, PaperAuthor
from subscribers.forms import SignupForm

# A listing shows each paper's first three authors and "et al." when there are more
# (Paper.authors_short), so it loads four: a paper with dozens of authors costs no more.
LISTED_AUTHORS = 4


def _entries_on(day: dt.date) -> DailyEntryQuerySet:
    # The first LISTED_AUTHORS links of each paper, in order (a sliced Prefetch would say the same,
    # but Django cannot apply one through the nested paper__author_links lookup).
    nth = Window(RowNumber(), partition_by=F("paper_id"), order_by=F("position").asc())
    links = PaperAuthor.objects.select_related("author").alias(nth=nth).filter(nth__lte=LISTED_AUTHORS)
    authors = Prefetch("paper__author_links", queryset=links)
    return DailyEntry.objects.listed().on(day).in_listing_order().select_related("paper").prefetch_related(authors)


def _day_context(day: dt.date | None, *, latest: bool = False) -> dict[str, Any]:
    """``latest``: ``day`` is the latest approved day, so there is no next day to look up."""
    if day is None:
        return {"day": None, "entries": [], "previous_day": None, "next_day": None}
    listed = DailyEntry.objects.listed()
    previous_day = listed.filter(day__lt=day).order_by("-day").values_list("day", flat=True).first()
    next_day = None if latest else listed.filter(day__gt=day).order_by("day").values_list("day", flat=True).first()
    return {"day": day, "entries": _entries_on(day), "previous_day": previous_day, "next_day": next_day}


def home(request: HttpRequest) -> HttpResponse:
    context = {**_day_context(DailyEntry.objects.latest_day(), latest=True), "signup_form": SignupForm()}
    return render(request, "home.html", context)


def day_listing(request: HttpRequest, day: dt.date) -> HttpResponse:
    return render(request, "papers/day.html", _day_context(day))


def paper_detail(request: HttpRequest, arxiv_id: str) -> HttpResponse:
    authors = Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))
    # django-stubs 5.2 rejects any Prefetch on a manager made by as_manager() (typeddjango/django-stubs#3263).
    papers = Paper.objects.prefetch_related(authors)  # type: ignore[arg-type]
    paper = get_object_or_404(papers, arxiv_id=arxiv_id)
    days = paper.entries.approved().order_by("-day").values_list("day", flat=True)
    return render(request, "papers/paper_detail.html", {"paper": paper, "days": days})
