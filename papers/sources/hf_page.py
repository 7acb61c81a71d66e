"""Hugging Face paper pages in HTML: a day's listing (``/papers/date/YYYY-MM-DD``) or one paper
(``/papers/<arxiv id>``). ``parse`` tells them apart by what the page embeds.

The pages carry their data as JSON in the ``data-props`` attribute of ``div.SVELTE_HYDRATER``
elements. A listing has ``data-target="DailyPapers"`` whose ``dailyPapers`` list holds API entries
(mapped by ``hf_api.entry_record``); a paper page has ``data-target="PaperContent"`` whose ``paper`` is
an API entry's ``paper`` object, next to ``dailyPaperRank``, ``comments`` and ``submitterOrganization``.

Without that JSON, a listing still shows its papers as links ``<a href="/papers/<id>">title</a>``:
records then carry only id, title, rank (order of appearance) and ``listed_on``.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from django.conf import settings

from papers import http
from papers.sources import hf_api
from papers.sources.base import PaperRecord, ParseResult, SourceError
from papers.text import canonical_arxiv_id, html_to_text, safe_url

NAME = "hf-page"
_WHAT = "HF page"
_HEADINGS = ("h1", "h2", "h3", "h4")


def fetch_day(day: dt.date) -> bytes:
    """The HTML listing of one day's papers."""
    if not isinstance(day, dt.date):
        raise ValueError(f"day must be a datetime.date, got {day!r}")
    if isinstance(day, dt.datetime):
        day = day.date()
    return http.get(f"{settings.HF_BASE_URL}/papers/date/{day.isoformat()}").content


def fetch_paper(arxiv_id: str) -> bytes:
    """The HTML page of one paper."""
    identifier = canonical_arxiv_id(arxiv_id) if isinstance(arxiv_id, str) and arxiv_id.isascii() else ""
    if not identifier:
        raise ValueError(f"not an arXiv id: {arxiv_id!r}")
    return http.get(f"{settings.HF_BASE_URL}/papers/{identifier}").content


def parse(data: bytes | str, *, listed_on: dt.date | None = None) -> ParseResult:
    """Records from a listing page or a paper page; a page with no papers raises ``SourceError``."""
    if isinstance(data, bytes | bytearray):
        data = bytes(data).decode("utf-8", errors="replace")
    text = hf_api.decode(data, _WHAT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)  # a page that is only a URL is still a page
            soup = BeautifulSoup(text, "html.parser")
    except Exception as exc:  # the parser's own errors on hostile markup vary between bs4 versions
        raise SourceError(f"{_WHAT}: could not parse the HTML ({exc.__class__.__name__})") from None

    islands, problems = _islands(soup)
    listing = islands.get("DailyPapers")
    if listing is not None:
        entries = listing.get("dailyPapers")
        if isinstance(entries, list):
            return hf_api.parse_entries(entries, listed_on=listed_on)
        problems.append("its DailyPapers data has no dailyPapers list")
    content = islands.get("PaperContent")
    if content is not None:
        if isinstance(content.get("paper"), dict):
            return _paper_page(soup, content, listed_on)
        problems.append("its PaperContent data has no paper object")

    result = _from_links(soup, listed_on)
    if result.records:
        return result
    title = hf_api.snippet(soup.title.get_text(" ")) if soup.title else ""
    found = f" ({'; '.join(problems)})" if problems else ""
    raise SourceError(
        f"{_WHAT}: found neither DailyPapers/PaperContent data nor /papers/<id> links{found}; "
        f"page title {title!r}, starts {hf_api.snippet(text)!r}"
    )


def _islands(soup: BeautifulSoup) -> tuple[dict[str, dict[str, object]], list[str]]:
    """The first JSON object per ``data-target``, and a note for each island that is not one."""
    islands: dict[str, dict[str, object]] = {}
    problems: list[str] = []
    for element in soup.find_all(None, {"data-target": True, "data-props": True}):
        target, props = element.get("data-target"), element.get("data-props")
        if not isinstance(target, str) or not isinstance(props, str) or target in islands:
            continue
        try:
            value = json.loads(props)
        except (ValueError, RecursionError):
            problems.append(f"its {hf_api.snippet(target, 40)} data-props is not JSON")
            continue
        if isinstance(value, dict):
            islands[target] = value
    return islands, problems


def _paper_page(soup: BeautifulSoup, props: dict[str, object], listed_on: dt.date | None) -> ParseResult:
    paper = props["paper"]
    image = soup.find("meta", attrs={"property": "og:image"})
    comments = props.get("comments")
    entry = {
        "paper": paper,
        "thumbnail": image.get("content") if image else None,
        "numComments": len(comments) if isinstance(comments, list) else None,
        "organization": props.get("submitterOrganization"),
    }
    rank = hf_api.as_int(props.get("dailyPaperRank")) or None
    result = ParseResult()
    try:
        result.records.append(hf_api.entry_record(entry, rank=rank, listed_on=listed_on))
    except ValueError as exc:
        result.errors.append(f"paper page{hf_api.entry_label(entry)}: {exc}")
    return result


def _from_links(soup: BeautifulSoup, listed_on: dt.date | None) -> ParseResult:
    """id + title per distinct ``/papers/<id>`` link target; the title is the link text inside a
    heading if there is one, else the longest link text that is not just a number (comment counts)."""
    titles: dict[str, list[tuple[bool, str]]] = {}
    for link in soup.find_all("a", href=True):
        href = link.get("href")
        if not isinstance(href, str) or not href.startswith("/papers/"):
            continue
        arxiv_id = canonical_arxiv_id(f"https://huggingface.co{href}")
        if not arxiv_id:
            continue
        text = html_to_text(link.decode_contents())  # the link's markup, read like every other HF text
        candidates = titles.setdefault(arxiv_id, [])
        if text and not text.replace(",", "").replace(".", "").isdigit():
            candidates.append((link.find_parent(_HEADINGS) is not None, text))

    result = ParseResult()
    for position, (arxiv_id, candidates) in enumerate(titles.items(), 1):
        if not candidates:
            result.errors.append(f"link {position} ({arxiv_id}): no title text")
            continue
        _, title = max(candidates, key=lambda candidate: (candidate[0], len(candidate[1])))
        result.records.append(
            PaperRecord(
                arxiv_id=arxiv_id,
                title=title,
                pdf_url=safe_url(f"https://arxiv.org/pdf/{arxiv_id}"),
                listed_on=listed_on,
                rank=position,
            )
        )
    return result
