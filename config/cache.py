"""Django's Redis cache, with one redis-py client per connection pool instead of one per call.

Django's ``RedisCacheClient.get_client()`` builds a new ``redis.Redis`` for every cache
operation. The connection is pooled, but the client is not, and redis-py (5+) fills a
case-insensitive table of ~170 response callbacks in every ``Redis.__init__``: in a profile of
the signup form (four cache calls for its two rate limits) that construction was the single
largest CPU cost of the request. A ``redis.Redis`` is safe to share between threads (each
command takes its own connection from the pool) and its pool re-creates connections after a
fork, so one client per pool is enough. Behaviour is otherwise Django's own backend.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedRedisCacheClient
