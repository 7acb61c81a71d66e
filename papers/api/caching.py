"""Cached API answers: keyed by the papers version (``papers.version``), so a curation change or
an ingest shows at once; sent with an ETag and a short public max-age for clients and proxies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponseBase
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag
from rest_framework.request import Request
from rest_framework.response import Response

from papers.version import papers_version

# Seconds a client or proxy may reuse an answer without asking again: short, since a change shows
# here at once; after that the ETag makes asking cheap (304 Not Modified).
MAX_AGE = 60


def cached_answer(request: Request, compute: Callable[[], dict[str, Any]]) -> HttpResponseBase:
    """The answer ``compute`` gives for ``request``, from the cache when the papers have not changed
    since it was computed. Whatever ``compute`` raises (404, 400) is not cached."""
    timeout = settings.API_CACHE_SECONDS
    # The version is read before computing: a change made meanwhile bumps it again, so an answer
    # computed from the old rows is stored under a number no later request asks for.
    key = f"api:{papers_version()}:{hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()}"
    hit = cache.get(key) if timeout else None
    if hit is None:
        data = compute()
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]
        hit = (data, quote_etag(digest))
        if timeout:
            cache.set(key, hit, timeout)
    data, etag = hit
    response = Response(data)
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=MAX_AGE)
    return get_conditional_response(request, etag=etag, response=response) or response
