"""The API's JSON shapes: Hugging Face's daily_papers field names where Paperboy has the data
(README.md, "API", maps each field), and Paperboy's own fields beside them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from papers.models import Paper


class BlankAsNullCharField(serializers.CharField):
    """Text that may be empty: ``null`` then, as HF leaves the field out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> str | None:  # type: ignore[override]  # DRF's own never returns None
        return super().to_representation(value) if value else None


class BlankAsNullURLField(serializers.URLField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> str | None:  # type: ignore[override]  # DRF's own never returns None
        return super().to_representation(value) if value else None


class DisplayNameSerializer(serializers.Serializer[str]):
    fullname = serializers.CharField(help_text="The display name (HF's fullname, else its name or user handle).")


@extend_schema_field(DisplayNameSerializer(allow_null=True))
class DisplayNameField(serializers.Field):  # type: ignore[type-arg]
    """HF's user or organization object, with the one name Paperboy keeps: ``{"fullname": ...}`` or ``null``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: str) -> dict[str, str] | None:
        return {"fullname": value} if value else None


@extend_schema_field(OpenApiTypes.DATETIME)
class MidnightUTCField(serializers.Field):  # type: ignore[type-arg]
    """A date as HF writes paper.publishedAt (``2026-08-20T00:00:00.000Z``): Paperboy keeps the day only."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: dt.date) -> str:
        return f"{value.isoformat()}T00:00:00.000Z"


class AuthorSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(source="author.name")


class PaperSerializer(serializers.Serializer[Paper]):
    """HF's ``paper`` object, then Paperboy's own fields."""

    id = serializers.CharField(source="arxiv_id", help_text="arXiv id without version: 2405.01234, astro-ph/0601001.")
    title = serializers.CharField()
    summary = serializers.CharField(source="abstract", help_text="The abstract (plain text).")
    authors = AuthorSerializer(source="author_links", many=True)
    publishedAt = MidnightUTCField(source="published", help_text="The day arXiv published it.")
    upvotes = serializers.IntegerField(help_text="HF upvotes, as of the latest ingest.")
    ai_summary = BlankAsNullCharField()
    ai_keywords = serializers.ListField(child=serializers.CharField())
    githubRepo = BlankAsNullURLField(source="github_url")
    githubStars = serializers.IntegerField(source="github_stars", allow_null=True)
    projectPage = BlankAsNullURLField(source="project_url")
    organization = DisplayNameField()
    submittedOnDailyBy = DisplayNameField(source="submitter")
    # Paperboy's own.
    url = serializers.SerializerMethodField(help_text="The paper's page on this site.")
    arxivUrl = serializers.URLField(source="abs_url")
    pdfUrl = serializers.SerializerMethodField()
    hfUrl = serializers.URLField(source="hf_url")
    categories = serializers.ListField(child=serializers.CharField(), help_text="arXiv categories, primary first.")
    primaryCategory = BlankAsNullCharField(source="primary_category")

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, paper: Paper) -> str:
        return settings.SITE_URL + paper.get_absolute_url()

    @extend_schema_field(OpenApiTypes.URI)
    def get_pdfUrl(self, paper: Paper) -> str:
        return paper.pdf_url or f"https://arxiv.org/pdf/{paper.arxiv_id}"


class PaperDetailSerializer(PaperSerializer):
    """A paper on its own (``/papers/<id>/``, search): the paper object with its listing fields."""

    thumbnail = BlankAsNullURLField(source="thumbnail_url")
    numComments = serializers.IntegerField(source="comments", help_text="Comments on its HF discussion.")
    listedOn = serializers.SerializerMethodField(help_text="The days Paperboy listed it, newest first.")

    @extend_schema_field(serializers.ListField(child=serializers.DateField()))
    def get_listedOn(self, paper: Paper) -> list[str]:
        return [entry.day.isoformat() for entry in paper.listed_entries]  # type: ignore[attr-defined]  # to_attr


class EntrySerializer(serializers.Serializer[Any]):
    """One item of a listing, as HF's daily_papers has it: the paper, then the listing's own fields."""

    paper = PaperSerializer()
    title = serializers.CharField(source="paper.title")
    thumbnail = BlankAsNullURLField(source="paper.thumbnail_url")
    numComments = serializers.IntegerField(source="paper.comments", help_text="Comments on its HF discussion.")
    submittedBy = DisplayNameField(source="paper.submitter")
    rank = serializers.IntegerField(allow_null=True, help_text="Position in the source's listing that day, 1 first.")
    # Paperboy's own.
    date = serializers.DateField(source="day", help_text="The day it was listed (its best day in a week or month).")
    upvotes = serializers.IntegerField(help_text="Upvotes as that day's listing saw them; listings sort by these.")
    pinned = serializers.BooleanField(help_text="Pinned by an editor: listed first.")
    note = BlankAsNullCharField(help_text="The editor's note.")


class _PageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField(help_text="Items in all pages.")
    next = serializers.URLField(allow_null=True, help_text="The next page, or null.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null.")


class ListingSerializer(_PageSerializer):
    """A day, week or month: its dates, then one page of items."""

    start = serializers.DateField(help_text="The first day of the period (a day listing: that day).")
    end = serializers.DateField(help_text="The last day of the period.")
    results = EntrySerializer(many=True)


class SearchResultsSerializer(_PageSerializer):
    count = serializers.IntegerField(
        help_text="Matching papers, counted up to 1,000 (PostgreSQL): 1000 means 1,000 or more, and then the "
        "1,000 most upvoted of them are ranked and paged."
    )
    results = PaperDetailSerializer(many=True)


class ErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()


class QueryIntegerField(serializers.IntegerField):
    """A query parameter given empty (``?limit=``) is an error, not the default as in a form."""

    def get_value(self, dictionary: Any) -> Any:
        return dictionary.get(self.field_name, empty)


class QueryDateField(serializers.DateField):
    def get_value(self, dictionary: Any) -> Any:
        return dictionary.get(self.field_name, empty)


class PageQuerySerializer(serializers.Serializer[Any]):
    limit = QueryIntegerField(
        required=False, min_value=1, max_value=100, help_text="Items per page (default 50, at most 100)."
    )
    offset = QueryIntegerField(required=False, min_value=0, help_text="Items to skip (default 0).")


class SearchQuerySerializer(PageQuerySerializer):
    q = serializers.CharField(max_length=200, help_text="Words to look for in titles, abstracts and authors.")
    since = QueryDateField(required=False, help_text="Only papers listed on or after this day.")
    until = QueryDateField(required=False, help_text="Only papers listed on or before this day.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"until": "until must not be before since."})
        return attrs
