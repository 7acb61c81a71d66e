"""The one small interface every source module implements.

A source turns raw bytes (fetched over HTTP or read from a file) into plain ``PaperRecord``s.
It never touches the database: ``papers.ingest`` upserts what the source returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


class SourceError(Exception):
    """The whole payload is unusable (not JSON, not a feed, an API error...).

    The message is written for a person: what was expected, what was found."""


@dataclass(frozen=True)
class PaperRecord:
    """One paper as a source saw it: plain text only, URLs already checked to be http(s).

    ``arxiv_id`` is canonical (no version); it is empty only for text dumps, which carry no ids.
    ``None`` means "this source does not know", so ingest leaves the stored value alone."""

    arxiv_id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    published: dt.date | None = None
    categories: tuple[str, ...] = ()
    primary_category: str = ""
    pdf_url: str = ""
    project_url: str = ""
    github_url: str = ""
    github_stars: int | None = None
    thumbnail_url: str = ""
    upvotes: int | None = None
    comments: int | None = None
    ai_summary: str = ""
    ai_keywords: tuple[str, ...] = ()
    submitter: str = ""
    organization: str = ""
    # Where the paper stood in a day's listing (HF order, 1-based) and which day that was.
    listed_on: dt.date | None = None
    rank: int | None = None


@dataclass
class ParseResult:
    records: list[PaperRecord] = field(default_factory=list)
    # One readable line per item that was skipped: "entry 3 (2405.01234): no title".
    errors: list[str] = field(default_factory=list)
