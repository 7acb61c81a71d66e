"""The read-only JSON API (``/api/v1/``): the site's day, week and month listings, a paper by its
arXiv id, and search; every answer paginated, cached (``caching``) and rate-limited."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Prefetch, prefetch_related_objects
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from papers.api.caching import cached_answer
from papers.api.serializers import (
    EntrySerializer,
    ErrorSerializer,
    ListingSerializer,
    PageQuerySerializer,
    PaperDetailSerializer,
    SearchQuerySerializer,
    SearchResultsSerializer,
)
from papers.models import DailyEntry, DailyEntryQuerySet, Paper, PaperAuthor
from papers.search import search_papers


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """A URL under /api/v1/ that names nothing (a malformed date, week or id): a 404 in the API's JSON."""
    return JsonResponse({"detail": "Not found: the API's paths are listed at /api/v1/schema/."}, status=404)


class Page(LimitOffsetPagination):
    """``?limit=&offset=`` (HF's API takes ``?limit`` too), from values already checked by a query serializer."""

    default_limit = 50
    max_limit = 100

    def __init__(self, query: dict[str, Any]) -> None:
        self.query = query

    def get_limit(self, request: Request) -> int:
        return int(self.query.get("limit", self.default_limit))

    def get_offset(self, request: Request) -> int:
        return int(self.query.get("offset", 0))

    def envelope(self, results: Any) -> dict[str, Any]:
        return {
            "count": self.count,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": results,
        }


def checked_query(serializer_class: type[Serializer[Any]], request: Request) -> dict[str, Any]:
    """The query string's values, or a 400 naming each bad one."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


def _authors() -> Prefetch[Any]:
    return Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))


def details() -> tuple[Prefetch[Any], Prefetch[Any]]:
    """A paper's authors and listed days, as the answers show them."""
    listed = Prefetch("entries", queryset=DailyEntry.objects.listed().order_by("-day"), to_attr="listed_entries")
    return _authors(), listed


def with_details(papers: Any) -> Any:
    """``papers`` with their authors and their listed days: three queries for any number of papers."""
    return papers.prefetch_related(*details())


def papers_with_details() -> Any:
    return with_details(Paper.objects.defer("embedding"))


View = TypeVar("View", bound=Callable[..., Any])
TOO_MANY = OpenApiResponse(ErrorSerializer, description="Too many requests (API_RATE): Retry-After says when to retry.")


def listing_schema(operation_id: str, summary: str, *path: OpenApiParameter, not_found: str) -> Callable[[View], View]:
    responses: dict[int, Any] = {
        200: ListingSerializer,
        400: OpenApiResponse(
            OpenApiTypes.OBJECT, description="A query parameter is not valid: each one named with what is wrong."
        ),
        429: TOO_MANY,
    }
    responses[404] = OpenApiResponse(ErrorSerializer, description=not_found)
    return extend_schema(
        operation_id=operation_id, summary=summary, parameters=[*path, PageQuerySerializer], responses=responses
    )


# Path parameters: the patterns urls.py matches, and real examples (the schema test asks for them).
WEEK_PATTERN = r"\d{4}-W\d{2}"
MONTH_PATTERN = r"\d{4}-\d{2}"
ARXIV_ID_PATTERN = r"[a-z\-]+(?:\.[A-Z]{2})?/\d{7}|\d{4}\.\d{4,5}"  # old style (astro-ph/0601001), new style
DAY = OpenApiParameter(
    "day", OpenApiTypes.DATE, OpenApiParameter.PATH, examples=[OpenApiExample("A day", value="2026-08-21")]
)
WEEK = OpenApiParameter(
    "week",
    str,
    OpenApiParameter.PATH,
    description="An ISO week, Monday to Sunday.",
    pattern=f"^{WEEK_PATTERN}$",
    examples=[OpenApiExample("ISO week 34 of 2026", value="2026-W34")],
)
MONTH = OpenApiParameter(
    "month",
    str,
    OpenApiParameter.PATH,
    pattern=f"^{MONTH_PATTERN}$",
    examples=[OpenApiExample("August 2026", value="2026-08")],
)
ARXIV_ID = OpenApiParameter(
    "arxiv_id",
    str,
    OpenApiParameter.PATH,
    description="An arXiv id without version.",
    pattern=f"^(?:{ARXIV_ID_PATTERN})$",
    examples=[
        OpenApiExample("New style", value="2608.19880"),
        OpenApiExample("Old style", value="astro-ph/0601001"),
    ],
)


class ListingView(APIView):
    def listing(self, request: Request, entries: DailyEntryQuerySet, start: dt.date, end: dt.date) -> HttpResponseBase:
        page = Page(checked_query(PageQuerySerializer, request))

        def compute() -> dict[str, Any]:
            entries_with_papers = entries.select_related("paper").defer("paper__embedding")
            items = page.paginate_queryset(entries_with_papers, request, view=self) or []
            prefetch_related_objects(items, Prefetch("paper__author_links", queryset=_authors().queryset))
            results = EntrySerializer(items, many=True).data
            return {"start": start.isoformat(), "end": end.isoformat(), **page.envelope(results)}

        return cached_answer(request, compute)


def day_entries(day: dt.date) -> DailyEntryQuerySet:
    return DailyEntry.objects.listed().on(day).in_listing_order()


def period_entries(start: dt.date, end: dt.date) -> DailyEntryQuerySet:
    """As the site's week and month pages: each paper once, at its best upvotes."""
    return DailyEntry.objects.listed().filter(day__gte=start, day__lte=end).best_per_paper()


class DayPapers(ListingView):
    @listing_schema("papers_day", "The papers listed on a day", DAY, not_found="Not a date.")
    def get(self, request: Request, day: dt.date) -> HttpResponseBase:
        return self.listing(request, day_entries(day), day, day)


class LatestPapers(ListingView):
    @listing_schema("papers_latest", "The papers of the latest day with any listed", not_found="Nothing listed yet.")
    def get(self, request: Request) -> HttpResponseBase:
        day = DailyEntry.objects.latest_day()
        if day is None:
            raise NotFound("No papers are listed yet.")
        return self.listing(request, day_entries(day), day, day)


class WeekPapers(ListingView):
    @listing_schema(
        "papers_week", "The papers of an ISO week, each once at its best upvotes", WEEK, not_found="Not an ISO week."
    )
    def get(self, request: Request, week: str) -> HttpResponseBase:
        year, number = week.split("-W")
        try:
            start = dt.date.fromisocalendar(int(year), int(number), 1)
            end = start + dt.timedelta(days=6)
        except (ValueError, OverflowError) as error:  # W00, W53 of a 52-week year, year 0
            raise NotFound(f"There is no ISO week {week}.") from error
        return self.listing(request, period_entries(start, end), start, end)


class MonthPapers(ListingView):
    @listing_schema(
        "papers_month", "The papers of a month, each once at its best upvotes", MONTH, not_found="Not a month."
    )
    def get(self, request: Request, month: str) -> HttpResponseBase:
        year, number = (int(part) for part in month.split("-"))
        try:
            start = dt.date(year, number, 1)
        except ValueError as error:  # month 00 or 13, year 0
            raise NotFound(f"There is no month {month}.") from error
        end = start.replace(day=calendar.monthrange(year, number)[1])
        return self.listing(request, period_entries(start, end), start, end)


class PaperDetail(APIView):
    @extend_schema(
        operation_id="paper",
        summary="A paper by its arXiv id",
        parameters=[ARXIV_ID],
        responses={
            200: PaperDetailSerializer,
            404: OpenApiResponse(ErrorSerializer, description="Not an arXiv id, or no listed paper has it."),
            429: TOO_MANY,
        },
    )
    def get(self, request: Request, arxiv_id: str) -> HttpResponseBase:
        def compute() -> dict[str, Any]:
            paper = papers_with_details().filter(arxiv_id=arxiv_id).first()
            if paper is None or not paper.listed_entries:  # drafts and hidden papers are not public
                raise NotFound(f"No listed paper has the arXiv id {arxiv_id}.")
            return dict(PaperDetailSerializer(paper).data)

        return cached_answer(request, compute)


class SearchPapers(APIView):
    @extend_schema(
        operation_id="papers_search",
        summary="Search the listed papers: titles, abstracts, authors and keywords, best match first",
        description=(
            'Web-search syntax on PostgreSQL: words (stemmed), "an exact phrase", `or`, `-excluded`. '
            "On SQLite every word must occur, and `or` is not supported. On PostgreSQL a query matching more "
            "than 1,000 papers counts 1,000 (`count`) and ranks the 1,000 most upvoted of them."
        ),
        parameters=[SearchQuerySerializer],
        responses={
            200: SearchResultsSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT, description="A query parameter is not valid: each one named with what is wrong."
            ),
            429: TOO_MANY,
        },
    )
    def get(self, request: Request) -> HttpResponseBase:
        query = checked_query(SearchQuerySerializer, request)
        page = Page(query)

        def compute() -> dict[str, Any]:
            matches = search_papers(query["q"], since=query.get("since"), until=query.get("until"))
            items: list[Paper] = page.paginate_queryset(matches, request, view=self) or []  # type: ignore[arg-type]
            prefetch_related_objects(items, *details())
            # drf-stubs types the instance as one Paper even with many=True.
            return page.envelope(PaperDetailSerializer(items, many=True).data)  # type: ignore[arg-type]

        return cached_answer(request, compute)
