"""Anymail's webhook URLs, each view guarded so that a malformed body answers 400, not 500.

Anymail's views parse the ESP's body before any of our code runs; an authenticated but broken
body would otherwise be a server error (and the ESP would retry it forever)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from anymail import urls as anymail_urls
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern

logger = logging.getLogger(__name__)


def guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)  # keeps csrf_exempt: ESPs post without CSRF tokens (basic auth protects these)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("malformed webhook body on %s: %s", request.path, exc)
            return HttpResponseBadRequest("Malformed webhook payload.\n")

    return wrapper


urlpatterns = [
    URLPattern(pattern.pattern, guarded(pattern.callback), pattern.default_args, pattern.name)
    for pattern in anymail_urls.urlpatterns
]
app_name = getattr(anymail_urls, "app_name", None)
