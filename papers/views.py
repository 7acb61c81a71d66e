from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from papers.models import DailyEntry, Paper, PaperAuthor
from subscribers.forms import SignupForm


def _entries_on(day: dt.date):
    authors = Prefetch("paper__author_links", queryset=PaperAuthor.objects.select_related("author"))
    return DailyEntry.objects.approved().on(day).in_listing_order().select_related("paper").prefetch_related(authors)


def _day_context(day: dt.date | None) -> dict:
    if day is None:
        return {"day": None, "entries": [], "previous_day": None, "next_day": None}
    approved = DailyEntry.objects.approved()
    previous_day = approved.filter(day__lt=day).order_by("-day").values_list("day", flat=True).first()
    next_day = approved.filter(day__gt=day).order_by("day").values_list("day", flat=True).first()
    return {"day": day, "entries": _entries_on(day), "previous_day": previous_day, "next_day": next_day}


def home(request: HttpRequest) -> HttpResponse:
    context = {**_day_context(DailyEntry.objects.latest_day()), "signup_form": SignupForm()}
    return render(request, "home.html", context)


def day_listing(request: HttpRequest, day: dt.date) -> HttpResponse:
    return render(request, "papers/day.html", _day_context(day))


def paper_detail(request: HttpRequest, arxiv_id: str) -> HttpResponse:
    paper = get_object_or_404(
        Paper.objects.prefetch_related(Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))),
        arxiv_id=arxiv_id,
    )
    days = paper.entries.approved().order_by("-day").values_list("day", flat=True)
    return render(request, "papers/paper_detail.html", {"paper": paper, "days": days})
