"""Hugging Face Daily Papers API: ``GET {HF_BASE_URL}/api/daily_papers?date=|week=|month=``.

The answer is a JSON list of entries ``{"paper": {...}, "numComments": ..., ...}``. Only
``paper.id/title/summary/authors/publishedAt/upvotes`` are always there (the 2024 schema); every
other field (``ai_summary``, ``githubRepo``, ``organization``, ``thumbnail``...) is optional.

``listed_on``: the ``listed_on`` argument when the caller knows the day it asked for; otherwise the
UTC date of the entry's ``paper.submittedOnDailyAt`` (when it was put on Daily Papers), or, in the
2024 schema that lacks it, of the entry's top-level ``publishedAt`` (the listing time there).
``rank`` is the 1-based position in the list as served, so a skipped entry leaves a gap.

Text fields (title, summary, names, keywords) are read as text that may carry HTML
(``papers.text.html_to_text``): real tags go, entities are decoded, and mathematics such as
"0<p and q>1" stays as written.

``entry_record`` and ``parse_entries`` are shared with ``hf_page``, whose pages embed the same entries.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from django.conf import settings

from papers import http
from papers.sources.base import PaperRecord, ParseResult, SourceError
from papers.text import canonical_arxiv_id, html_to_text, safe_url

NAME = "hf"

_WEEK = re.compile(r"(\d{4})-W(\d{2})", re.ASCII)
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])", re.ASCII)
_MAX_INT = 2**31 - 1


def fetch(*, day: dt.date | None = None, week: str | None = None, month: str | None = None) -> bytes:
    """The raw API answer for one day, ISO week (``2025-W37``) or month (``2025-09``): give exactly one."""
    given = [name for name, value in (("day", day), ("week", week), ("month", month)) if value is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of day, week or month (got {', '.join(given) or 'none'})")
    if day is not None:
        if not isinstance(day, dt.date):
            raise ValueError(f"day must be a datetime.date, got {day!r}")
        if isinstance(day, dt.datetime):
            day = day.date()
        params = {"date": day.isoformat()}
    elif week is not None:
        match = _WEEK.fullmatch(week) if isinstance(week, str) else None
        try:
            if not match:
                raise ValueError
            dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise ValueError(f"week must look like 2025-W37 (an ISO week that exists), got {week!r}") from None
        params = {"week": week}
    else:
        if not isinstance(month, str) or not _MONTH.fullmatch(month):
            raise ValueError(f"month must look like 2025-09, got {month!r}")
        params = {"month": month}
    return http.get(f"{settings.HF_BASE_URL}/api/daily_papers", params=params).content


def parse(data: bytes | str, *, listed_on: dt.date | None = None) -> ParseResult:
    """Records from an API answer; a wholly unusable answer raises ``SourceError``."""
    what = "HF daily papers"
    text = decode(data, what)
    if text.startswith("<"):
        raise SourceError(f"{what}: expected JSON, got HTML or XML starting {snippet(text)!r}")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{what}: the response is not JSON ({exc}); it starts {snippet(text)!r}") from None
    if isinstance(value, dict):
        keys = ", ".join(sorted(str(key) for key in value)[:8]) or "none"
        message = f"{what}: expected a JSON list of entries, got an object with keys {keys}"
        if isinstance(value.get("error"), str):
            message += f" (error: {snippet(value['error'])!r})"
        raise SourceError(message)
    if not isinstance(value, list):
        raise SourceError(f"{what}: expected a JSON list of entries, got {kind(value)}")
    return parse_entries(value, listed_on=listed_on)


def parse_entries(entries: list[object], *, listed_on: dt.date | None = None) -> ParseResult:
    """Map each entry; a bad or repeated one becomes a line in ``errors`` and the rest still land."""
    result = ParseResult()
    seen: dict[str, int] = {}
    for position, entry in enumerate(entries, 1):
        label = f"entry {position}{entry_label(entry)}"
        try:
            record = entry_record(entry, rank=position, listed_on=listed_on)
        except ValueError as exc:
            result.errors.append(f"{label}: {exc}")
            continue
        if record.arxiv_id in seen:
            result.errors.append(f"{label}: duplicate of entry {seen[record.arxiv_id]}")
            continue
        seen[record.arxiv_id] = position
        result.records.append(record)
    return result


def entry_record(entry: object, *, rank: int | None, listed_on: dt.date | None) -> PaperRecord:
    """One API entry (``{"paper": {...}, ...}``) as a record; ``ValueError`` says why it is unusable."""
    if not isinstance(entry, dict):
        raise ValueError(f"expected an object, got {kind(entry)}")
    paper = entry.get("paper")
    if not isinstance(paper, dict):
        raise ValueError(f"expected a paper object, got {kind(paper)}")
    raw_id = paper.get("id")
    arxiv_id = canonical_arxiv_id(raw_id) if isinstance(raw_id, str) else ""
    if not arxiv_id:
        raise ValueError("no arXiv id" if raw_id in (None, "") else "paper.id is not an arXiv id")
    title = html_to_text(_str(paper.get("title")) or _str(entry.get("title")))
    if not title:
        raise ValueError("no title")

    authors = []
    for author in _list(paper.get("authors")):
        name = html_to_text(author.get("name")) if isinstance(author, dict) and not author.get("hidden") else ""
        if name:
            authors.append(name)
    first_media = [_list(entry.get("mediaUrls"))[:1], _list(paper.get("mediaUrls"))[:1]]
    thumbnails = [entry.get("thumbnail"), entry.get("mediaUrl"), *first_media[0], *first_media[1]]
    keywords = dict.fromkeys(filter(None, (html_to_text(word) for word in _list(paper.get("ai_keywords")))))
    submitter = _name(entry.get("submittedBy")) or _name(paper.get("submittedOnDailyBy"))
    organization = _name(paper.get("organization")) or _name(entry.get("organization"))
    if listed_on is None:
        listed_on = _date(paper.get("submittedOnDailyAt")) or _date(entry.get("publishedAt"))

    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=html_to_text(_str(paper.get("summary")) or _str(entry.get("summary"))),
        authors=tuple(authors),
        published=_date(paper.get("publishedAt")),
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        project_url=safe_url(paper.get("projectPage")),
        github_url=safe_url(paper.get("githubRepo")),
        github_stars=as_int(paper.get("githubStars")),
        thumbnail_url=next(filter(None, map(safe_url, thumbnails)), ""),
        upvotes=as_int(paper.get("upvotes")),
        comments=as_int(entry.get("numComments")),
        ai_summary=html_to_text(paper.get("ai_summary")),
        ai_keywords=tuple(keywords),
        submitter=submitter,
        organization=organization,
        listed_on=listed_on,
        rank=rank,
    )


def entry_label(entry: object) -> str:
    """`` (2405.01234)`` for error lines when the entry shows an id, else ``""``."""
    paper = entry.get("paper") if isinstance(entry, dict) else None
    raw_id = paper.get("id") if isinstance(paper, dict) else None
    return f" ({snippet(raw_id, 40)})" if isinstance(raw_id, str) and raw_id.strip() else ""


def decode(data: bytes | str, what: str) -> str:
    """``data`` as stripped text; empty or non-UTF-8 input raises ``SourceError``."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{what}: the response is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not isinstance(data, str):
        raise SourceError(f"{what}: expected bytes or text, got {type(data).__name__}")
    text = data.lstrip("\ufeff").strip()
    if not text:
        raise SourceError(f"{what}: the response is empty")
    return text


def snippet(value: str, limit: int = 80) -> str:
    text = html_to_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def as_int(value: object) -> int | None:
    """A count: a non-negative int that fits a database integer; bools, floats and strings are ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_INT:
        return value
    return None


def _name(value: object) -> str:
    """A user's or organization's display name: fullname, else name, else user handle."""
    if not isinstance(value, dict):
        return ""
    for key in ("fullname", "name", "user"):
        name = html_to_text(value.get(key))
        if name:
            return name
    return ""


def _date(value: object) -> dt.date | None:
    """The UTC date of an ISO timestamp such as ``2024-05-24T17:34:15.000Z``, or ``None``."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    return moment.date()
