"""HTTP for sources: one session with a descriptive User-Agent, timeouts, and retries with
exponential backoff on connection errors, 429 and 5xx (honouring Retry-After, capped)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from papers.sources.base import SourceError

RETRY_STATUSES = (429, 500, 502, 503, 504)


class CappedRetry(Retry):
    """A Retry-After longer than ``max_retry_after`` seconds is not worth waiting for inside a
    task; we wait the cap and let the next attempt (or the next scheduled run) decide."""

    max_retry_after = 120.0

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        retry_after = super().get_retry_after(response)
        return None if retry_after is None else min(retry_after, self.max_retry_after)


def session(*, retries: int | None = None, backoff: float | None = None) -> requests.Session:
    retry = CappedRetry(
        total=settings.PAPERBOY_HTTP_RETRIES if retries is None else retries,
        backoff_factor=settings.PAPERBOY_HTTP_BACKOFF if backoff is None else backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    http = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.headers["User-Agent"] = settings.PAPERBOY_USER_AGENT
    return http


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "NameResolution" in text or "Name or service not known" in text:
        return "its name does not resolve (no network, or a wrong base URL setting?)"
    if "refused" in text.lower():
        return "connection refused"
    if "Max retries exceeded" in text:
        return "gave up after repeated errors"
    return exc.__class__.__name__


def get(
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    accept_statuses: tuple[int, ...] = (200,),
    retries: int | None = None,
    backoff: float | None = None,
) -> requests.Response:
    """GET ``url`` with retries (``retries`` and ``backoff`` default to the settings); any failure
    becomes a ``SourceError`` a person can read."""
    try:
        with session(retries=retries, backoff=backoff) as http:
            response = http.get(url, params=params, timeout=settings.PAPERBOY_HTTP_TIMEOUT)
    except requests.Timeout as exc:
        raise SourceError(f"{url} did not answer within {settings.PAPERBOY_HTTP_TIMEOUT:g} s") from exc
    except requests.ConnectionError as exc:
        raise SourceError(f"could not connect to {urlsplit(url).netloc}: {_reason(exc)}") from exc
    except requests.RequestException as exc:
        raise SourceError(f"could not fetch {url}: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code not in accept_statuses:
        raise SourceError(f"{response.url} answered HTTP {response.status_code} {response.reason}".strip())
    return response
