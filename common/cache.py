"""Django's Redis cache, with ``incr`` in one atomic round trip.

Django's ``incr`` sends EXISTS, then INCRBY: two round trips, and a key that expires between
them is re-created by INCRBY without any expiry (a rate-limit window that never closes). Here a
small Lua script does both atomically on the server. It runs through a redis-py client of our own
on the write server, since Django's backend keeps its clients private (it builds a new one for
every call). Everything else is Django's own backend, unchanged.
"""

from __future__ import annotations

import re

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.functional import cached_property
from redis.commands.core import Script

# INCRBY only if the key exists (Django's incr() raises ValueError for a missing key).
INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return nil
"""
# OPTIONS that Django's backend consumes itself; the others are connection settings.
DJANGO_OPTIONS = {"serializer", "pool_class", "parser_class"}


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str | list[str], params: dict) -> None:
        super().__init__(server, params)
        # Django writes to the first server of LOCATION ("url1,url2" or a list); so does incr.
        self.write_server = re.split("[;,]", server)[0] if isinstance(server, str) else server[0]
        self.connection_options = {k: v for k, v in params.get("OPTIONS", {}).items() if k not in DJANGO_OPTIONS}

    @cached_property
    def incr_script(self) -> Script:
        """EVALSHA on one client kept for this cache (redis-py loads the script when the server lacks it)."""
        client = redis.Redis.from_url(self.write_server, **self.connection_options)
        return client.register_script(INCR_EXISTING)

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        value = self.incr_script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value
