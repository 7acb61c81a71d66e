"""Anymail's webhook URLs, each view guarded so that a malformed body answers 400 and an ESP we
are not configured for 404, never 500.

Anymail's views parse the ESP's body before any of our code runs; an authenticated but broken
body would otherwise be a server error (and the ESP would retry it forever)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from anymail import urls as anymail_urls
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.urls import URLPattern

logger = logging.getLogger(__name__)


def guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)  # keeps csrf_exempt: ESPs post without CSRF tokens (basic auth protects these)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ImproperlyConfigured as exc:  # an ESP we are not set up for (no signing key, no SDK)
            logger.warning("webhook %s is not configured: %s", request.path, exc)
            return HttpResponseNotFound("This webhook is not configured.\n")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # RecursionError: nested JSON
            logger.warning("malformed webhook body on %s: %s", request.path, exc)
            return HttpResponseBadRequest("Malformed webhook payload.\n")

    return wrapper


urlpatterns = [
    URLPattern(pattern.pattern, guarded(pattern.callback), pattern.default_args, pattern.name)
    for pattern in anymail_urls.urlpatterns
]
app_name = getattr(anymail_urls, "app_name", None)
