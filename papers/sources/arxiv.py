"""arXiv, the source's public face: the export API client (``{ARXIV_API_URL}/query``), the
announcement feeds of rss.arxiv.org (``fetch_feed``), and the reading of what they send.

``parse`` reads any arXiv XML: the API's Atom response (2026 and legacy formats; its error feed,
sent with HTTP 400, raises ``ArxivApiError``), the announcement feed in its RSS 2.0 and Atom
flavours (every announce type), and an OAI-PMH ``ListRecords`` page (metadataPrefix=arXiv).
``parse_feed`` is the same for announcement feeds but keeps only the announce types asked for.

A truncated or not-well-formed download keeps every entry completed before the break and adds one
line to ``result.errors`` ("feed truncated or not well-formed after N complete entries ..."); the
cut entry is dropped. Nothing usable at all (HTML, JSON, text, a break before the first entry)
raises ``SourceError``. The reading lives in ``papers.sources.arxiv_xml``, which also says how
dates and primary categories are worked out.

``lookup_ids`` and ``search`` page through the API, at most one request per
``settings.ARXIV_REQUEST_INTERVAL`` seconds per process, as arXiv asks.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable

from django.conf import settings

from papers import http, taxonomy
from papers.sources.arxiv_xml import ANNOUNCE_TYPES, ArxivApiError, parse_document, parse_feed
from papers.sources.base import ParseResult, SourceError
from papers.text import canonical_arxiv_id

__all__ = [
    "ANNOUNCE_TYPES",
    "ID_CHUNK",
    "NAME",
    "PAGE_SIZE",
    "ArxivApiError",
    "fetch_api",
    "fetch_feed",
    "lookup_ids",
    "parse",
    "parse_feed",
    "parse_oai",
    "search",
]

NAME = "arxiv"
ID_CHUNK = 100  # ids per id_list request
PAGE_SIZE = 100  # results per search request
MAX_RESULTS_PER_REQUEST = 2000  # the API refuses more

_turn = threading.Lock()
_last_request = -math.inf


def parse(data: bytes | str) -> ParseResult:
    """Records from an arXiv API response, announcement feed (all announce types) or OAI-PMH page."""
    return parse_document(data).result


def parse_oai(data: bytes | str) -> ParseResult:
    """Records from an OAI-PMH ``ListRecords`` page with metadataPrefix=arXiv (deleted ones skipped)."""
    page = parse_document(data)
    if page.kind != "oai":
        raise SourceError(f"expected an OAI-PMH response, found an arXiv {page.kind} document")
    return page.result


def _wait_turn() -> None:
    """Space API requests ``ARXIV_REQUEST_INTERVAL`` seconds apart (monotonic clock, per process)."""
    global _last_request
    with _turn:
        wait = _last_request + float(settings.ARXIV_REQUEST_INTERVAL) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_request = time.monotonic()


def fetch_api(*, search_query: str = "", id_list: Iterable[str] = (), start: int = 0, max_results: int = 100) -> bytes:
    """One ``{ARXIV_API_URL}/query`` response. The API's own error answer (HTTP 400 with an error
    feed) raises ``ArxivApiError`` carrying arXiv's message."""
    ids = [str(value).strip() for value in id_list if str(value).strip()]
    if not search_query.strip() and not ids:
        raise ValueError("fetch_api needs a search_query or an id_list")
    if start < 0 or not 0 < max_results <= MAX_RESULTS_PER_REQUEST:
        raise ValueError(f"start must be >= 0 and max_results in 1..{MAX_RESULTS_PER_REQUEST}")
    params: dict[str, str | int] = {}
    if search_query.strip():
        params["search_query"] = search_query.strip()
    if ids:
        params["id_list"] = ",".join(ids)
    params.update(start=start, max_results=max_results)
    _wait_turn()
    response = http.get(f"{settings.ARXIV_API_URL}/query", params=params, accept_statuses=(200, 400))
    if response.status_code == 400:
        try:
            parse(response.content)
        except ArxivApiError:
            raise
        except SourceError:
            pass
        raise SourceError(f"{response.url} answered HTTP 400 {response.reason}".strip())
    return response.content


def fetch_feed(category: str, *, flavour: str = "rss") -> bytes:
    """Today's announcements for ``category`` (a category of ``papers.taxonomy`` like "cs.CL", an
    archive like "astro-ph", or several joined by "+")
    from ``{ARXIV_RSS_URL}/rss/<category>`` (RSS 2.0) or ``/atom/<category>``."""
    if flavour not in ("rss", "atom"):
        raise ValueError(f"flavour must be 'rss' or 'atom', not {flavour!r}")
    parts = category.split("+") if isinstance(category, str) else [""]
    if not all(taxonomy.is_feed(part) for part in parts) or len(parts) > 50:
        raise ValueError(f"not an arXiv category (cs.CL, math.GT, astro-ph, or several joined by '+'): {category!r}")
    return http.get(f"{settings.ARXIV_RSS_URL}/{flavour}/{category}").content


def lookup_ids(ids: Iterable[str]) -> ParseResult:
    """The API's records for ``ids`` (any form ``canonical_arxiv_id`` accepts), ``ID_CHUNK`` per
    request. Ids that are not arXiv ids, or that the API does not return, become error lines; a
    request that fails outright raises ``SourceError`` (retrying the whole lookup is cheap)."""
    result = ParseResult()
    wanted: list[str] = []
    for value in ids:
        arxiv_id = canonical_arxiv_id(str(value))
        if not arxiv_id:
            result.errors.append(f"{str(value)[:80]!r}: not an arXiv id")
        elif arxiv_id not in wanted:
            wanted.append(arxiv_id)
    found: set[str] = set()
    for offset in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[offset : offset + ID_CHUNK]
        try:
            page = parse_document(fetch_api(id_list=chunk, max_results=len(chunk))).result
        except SourceError as exc:
            if not result.errors:
                raise
            raise SourceError("\n".join([str(exc), *result.errors])) from exc  # one line per dropped value
        result.errors.extend(page.errors)
        for record in page.records:
            if record.arxiv_id not in found:
                found.add(record.arxiv_id)
                result.records.append(record)
    result.errors.extend(f"{arxiv_id}: not returned by the arXiv API" for arxiv_id in wanted if arxiv_id not in found)
    return result


def search(query: str, *, max_results: int) -> ParseResult:
    """Up to ``max_results`` records for an API ``search_query`` ("cat:cs.CL", "all:diffusion"...),
    ``PAGE_SIZE`` per request, until the API's totalResults or an empty page."""
    if not query.strip():
        raise ValueError("search needs a query")
    result, seen, start = ParseResult(), set(), 0
    while len(result.records) < max_results:
        size = min(PAGE_SIZE, max_results - len(result.records), MAX_RESULTS_PER_REQUEST)
        page = parse_document(fetch_api(search_query=query, start=start, max_results=size))
        result.errors.extend(page.result.errors)
        for record in page.result.records:
            if record.arxiv_id not in seen:
                seen.add(record.arxiv_id)
                result.records.append(record)
        if page.entries == 0:
            if page.total_results and start < page.total_results:
                result.errors.append(
                    f"the arXiv API returned an empty page at start={start} of {page.total_results} results; stopped"
                )
            break
        start += page.entries
        if page.total_results is not None and start >= page.total_results:
            break
    del result.records[max_results:]
    return result
