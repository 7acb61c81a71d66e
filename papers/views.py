from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.paginator import Paginator
from django.db.models import F, Prefetch, Window, prefetch_related_objects
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from papers.forms import SearchForm
from papers.models import DailyEntry, DailyEntryQuerySet, Paper, PaperAuthor
from papers.pagecache import cached_page
from papers.search import highlighted, search_papers, searchable
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


@cached_page
def home(request: HttpRequest) -> HttpResponse:
    context = {**_day_context(DailyEntry.objects.latest_day(), latest=True), "signup_form": SignupForm()}
    return render(request, "home.html", context)


# How a day page may be sorted (``?sort=``), with the links' labels.
SORTS = {
    "upvotes": "Most upvoted",
    "newest": "Newest",
    "trending": "Trending",
}


def _sorted(entries: DailyEntryQuerySet, sort: str, now: dt.datetime) -> list[DailyEntry] | DailyEntryQuerySet:
    """``upvotes``: the listing order (pinned first). ``newest``: the latest published first.
    ``trending``: upvotes per hour since the entry was listed here (at least one hour, so a paper
    listed a minute ago with 3 upvotes does not outrank one with 300 over a day)."""
    if sort == "newest":
        return sorted(entries, key=lambda e: (-(e.paper.published or dt.date.min).toordinal(), -e.upvotes, e.pk))

    def per_hour(entry: DailyEntry) -> float:
        return entry.upvotes / max((now - entry.created_at).total_seconds() / 3600, 1.0)

    if sort == "trending":
        return sorted(entries, key=lambda e: (-per_hour(e), -e.upvotes, e.pk))
    return entries


@cached_page
def day_listing(request: HttpRequest, day: dt.date) -> HttpResponse:
    sort = request.GET.get("sort", "upvotes")
    sort = sort if sort in SORTS else "upvotes"
    context = _day_context(day)
    if context["day"] is not None:
        context["entries"] = _sorted(context["entries"], sort, timezone.now())
    context["sorts"] = [(key, label, key == sort) for key, label in SORTS.items()]
    return render(request, "papers/day.html", context)


def paper_detail(request: HttpRequest, arxiv_id: str) -> HttpResponse:
    authors = Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))
    # django-stubs 5.2 rejects any Prefetch on a manager made by as_manager() (typeddjango/django-stubs#3263).
    papers = Paper.objects.prefetch_related(authors)  # type: ignore[arg-type]
    paper = get_object_or_404(papers, arxiv_id=arxiv_id)
    days = paper.entries.approved().order_by("-day").values_list("day", flat=True)
    return render(request, "papers/paper_detail.html", {"paper": paper, "days": days})


# --- Weekly and monthly views (like the Hugging Face page's tabs) --------------------------------


def _period_entries(start: dt.date, end: dt.date) -> list[DailyEntry]:
    """Each paper listed between ``start`` and ``end`` once, as its best day (most upvotes, then
    the latest day) showed it; most upvoted first."""
    nth = Window(RowNumber(), partition_by=F("paper_id"), order_by=F("position").asc())
    links = PaperAuthor.objects.select_related("author").alias(nth=nth).filter(nth__lte=LISTED_AUTHORS)
    entries = DailyEntry.objects.listed().filter(day__gte=start, day__lte=end).best_per_paper()
    chosen = list(entries.select_related("paper"))
    # The first LISTED_AUTHORS authors of the chosen papers only, as the day page loads them.
    prefetch_related_objects(chosen, Prefetch("paper__author_links", queryset=links))
    return chosen


def _period_context(start: dt.date, end: dt.date, step: str) -> dict[str, Any]:
    listed = DailyEntry.objects.listed()
    has_before = listed.filter(day__lt=start).exists()
    has_after = listed.filter(day__gt=end).exists()
    previous_start = _shift(start, step, -1)
    next_start = _shift(start, step, 1)
    return {
        "start": start,
        "end": end,
        "entries": _period_entries(start, end),
        "previous": _period_args(previous_start, step) if has_before else None,
        "next": _period_args(next_start, step) if has_after else None,
    }


def _shift(start: dt.date, step: str, by: int) -> dt.date:
    if step == "week":
        return start + dt.timedelta(weeks=by)
    month = start.month - 1 + by
    return dt.date(start.year + month // 12, month % 12 + 1, 1)


def _within_calendar(start: dt.date, step: str) -> None:
    """ValueError or OverflowError when the period before or after ``start`` is outside Python's
    calendar (years 1-9999), which the previous/next links would need."""
    _shift(start, step, -1)
    _shift(start, step, 2)


def _period_args(start: dt.date, step: str) -> dict[str, Any]:
    if step == "week":
        year, week, _ = start.isocalendar()
        return {"url": f"/papers/week/{year}-W{week:02d}/", "label": f"Week {week}, {year}"}
    return {"url": f"/papers/month/{start.year}-{start.month:02d}/", "label": start.strftime("%B %Y")}


@cached_page
def week_listing(request: HttpRequest, year: str, week: str) -> HttpResponse:
    """``/papers/week/2026-W34/``: ISO week 34 of 2026 (Monday to Sunday)."""
    try:
        start = dt.date.fromisocalendar(int(year), int(week), 1)
        _within_calendar(start, "week")
    except (ValueError, OverflowError) as error:  # W00, W54 in a 52-week year, year 0 or 9999's last
        raise Http404("No such week") from error
    context = _period_context(start, start + dt.timedelta(days=6), "week")
    context["heading"] = f"Week {int(week)}, {int(year)}"
    return render(request, "papers/period.html", context)


@cached_page
def month_listing(request: HttpRequest, year: str, month: str) -> HttpResponse:
    """``/papers/month/2026-08/``."""
    try:
        start = dt.date(int(year), int(month), 1)
        _within_calendar(start, "month")
    except (ValueError, OverflowError) as error:  # month 00 or 13, year 0, 9999-12
        raise Http404("No such month") from error
    end = _shift(start, "month", 1) - dt.timedelta(days=1)
    context = _period_context(start, end, "month")
    context["heading"] = start.strftime("%B %Y")
    return render(request, "papers/period.html", context)


def this_period(request: HttpRequest, step: str) -> HttpResponse:
    """ "This week" / "this month": the period of the latest listed day (the newest papers there are)."""
    latest = DailyEntry.objects.latest_day() or dt.date.today()
    start = latest - dt.timedelta(days=latest.weekday()) if step == "week" else latest.replace(day=1)
    return redirect(_period_args(start, step)["url"])


# --- Search -------------------------------------------------------------------------------------

RESULTS_PER_PAGE = 20


@cached_page
def search(request: HttpRequest) -> HttpResponse:
    """``/search/?q=&since=&until=&page=``: the listed papers matching ``q``, best match first."""
    form = SearchForm(request.GET)
    context: dict[str, Any] = {"form": form, "query": "", "page": None}
    if form.is_valid() and form.cleaned_data["q"]:
        query = form.cleaned_data["q"]
        matches = search_papers(query, since=form.cleaned_data["since"], until=form.cleaned_data["until"])
        page = Paginator(matches, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
        results = highlighted(list(page.object_list), query)
        listed = Prefetch("entries", queryset=DailyEntry.objects.approved().order_by("-day"), to_attr="listed_entries")
        authors = Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))
        prefetch_related_objects(results, authors, listed)
        # The page links keep the query and the dates: everything but ``page``.
        kept = request.GET.copy()
        kept.pop("page", None)
        # Past search's cap the count says "1,000+" (papers/search.py: CAP), and the pages go that far.
        count_text = f"{page.paginator.count:,}" + ("+" if matches.capped else "")
        context.update(
            query=query,
            page=page,
            results=results,
            kept_query=kept.urlencode(),
            searchable=bool(page.paginator.count) or searchable(query),  # one more query only to explain none
            count_text=count_text,
        )
    return render(request, "papers/search.html", context)
