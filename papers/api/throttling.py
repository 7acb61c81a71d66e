"""The API's rate limit. Its own module: DRF imports it while defining APIView, so it must not import views."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ClientRateThrottle(SimpleRateThrottle):
    """``API_RATE`` requests per client address, counted in the shared cache (Redis)."""

    scope = "api"

    def get_rate(self) -> str:
        return settings.API_RATE  # read per request, so that a test or a reload can change it

    def get_cache_key(self, request: Request, view: APIView) -> str:
        # The client's address where the signup and admin limits find it, not a spoofable X-Forwarded-For.
        ident = request.META.get(settings.RATELIMIT_IP_META_KEY) or request.META.get("REMOTE_ADDR")
        return self.cache_format % {"scope": self.scope, "ident": ident}
