"""Django's Redis cache, with one redis-py client per connection pool instead of one per call.

Django's ``RedisCacheClient.get_client()`` builds a new ``redis.Redis`` for every cache
operation. The connection is pooled, but the client is not, and redis-py (5+) fills a
case-insensitive table of ~170 response callbacks in every ``Redis.__init__``: in a profile of
the signup form (four cache calls for its two rate limits) that construction was the single
largest CPU cost of the request. A ``redis.Redis`` is safe to share between threads (each
command takes its own connection from the pool) and its pool re-creates connections after a
fork, so one client per pool is enough.

``incr`` is also one round trip instead of two (Django sends EXISTS, then INCRBY): a small Lua
script does both atomically, which also closes the gap in which a key expiring between the two
commands was re-created by INCRBY without any expiry. Behaviour is otherwise Django's own backend.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# INCRBY only if the key exists (Django's incr() raises ValueError for a missing key).
INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return nil
"""


class ReusedRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}
        self._incr_scripts: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(id(client))
        if script is None:
            script = self._incr_scripts[id(client)] = client.register_script(INCR_EXISTING)
        value = script(keys=[key], args=[delta], client=client)  # EVALSHA (EVAL once per server)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedRedisCacheClient
