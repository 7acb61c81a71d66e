"""Cached public pages: the home page, day, week and month listings, search results.

A page is rendered once per papers version (``papers.version``), URL and process and then served
from the process's memory (the "pages" cache), so a curation change, an ingest or a new day shows
at once (the version, in the shared cache, changes with them) while a widely shared link costs one
small cache read instead of a render. ``PAGE_CACHE_SECONDS`` only bounds how long a page may stay:
what a page shows that depends on the clock alone (the "trending" sort: upvotes per hour) is at
most that old.

The signup form's CSRF token is per visitor, so it is not stored: the cached copy holds a marker
where the token was, and each request gets its own token (and cookie) in its place.

Served from the cache only to visitors without a session (staff and readers signed in to the
admin get the page rendered), for GET and HEAD, and only pages answered 200.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token

from papers.version import papers_version

# Where a rendered page had its visitor's CSRF token: no token looks like this (they are letters
# and digits only).
_CSRF_PLACE = "{{paperboy-csrf-token}}"
_CSRF_FIELD = re.compile(r'(name="csrfmiddlewaretoken" value=")([A-Za-z0-9]+)(")')

View = Callable[..., HttpResponse]


def _cacheable(request: HttpRequest) -> bool:
    if not settings.PAGE_CACHE_SECONDS or request.method not in ("GET", "HEAD"):
        return False
    # Someone with a session (staff, a flash message waiting) may see something of their own.
    return settings.SESSION_COOKIE_NAME not in request.COOKIES and "messages" not in request.COOKIES


def cached_page(view: View) -> View:
    """``view``'s page from the cache when the papers have not changed since it was rendered."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _cacheable(request):
            return view(request, *args, **kwargs)
        # Read before rendering: a change made meanwhile bumps the version again, so a page rendered
        # from the old rows is stored under a number no later request asks for.
        url = hashlib.sha256(request.get_full_path().encode()).hexdigest()
        key = f"page:{papers_version()}:{url}"
        pages = caches["pages"]
        hit = pages.get(key)
        if hit is None:
            response = view(request, *args, **kwargs)
            if response.status_code != 200 or response.streaming:
                return response
            html = response.content.decode(response.charset)
            pages.set(
                key,
                (_CSRF_FIELD.sub(rf"\g<1>{_CSRF_PLACE}\g<3>", html), response["Content-Type"]),
                settings.PAGE_CACHE_SECONDS,
            )
            return response
        html, content_type = hit
        if _CSRF_PLACE in html:
            html = html.replace(_CSRF_PLACE, get_token(request))  # also sets this visitor's CSRF cookie
        return HttpResponse(html, content_type=content_type)

    return wrapper
