"""The Redis cache REDIS_URL configures (common.cache.RedisCache): Django's backend, but one
redis-py client per connection pool instead of a new client for every cache call."""

from __future__ import annotations

import pytest


@pytest.fixture
def redis_cache(redis_url):
    from common.cache import RedisCache

    cache = RedisCache(redis_url, {"KEY_PREFIX": "paperboy-test-cache"})
    cache.clear()
    yield cache
    cache.clear()


def test_behaves_as_django_redis_cache(redis_cache):
    """What the rate limits and locks use: add (only when absent), incr, get, delete, expiry."""
    assert redis_cache.add("counter", 1, 60) is True
    assert redis_cache.add("counter", 5, 60) is False, "add never overwrites"
    assert redis_cache.incr("counter") == 2
    assert redis_cache.get("counter") == 2
    with pytest.raises(ValueError):
        redis_cache.incr("missing")
    redis_cache.set("object", {"a": [1, 2]}, 60)
    assert redis_cache.get("object") == {"a": [1, 2]}
    assert redis_cache.delete("object") is True
    assert redis_cache.get("object", "gone") == "gone"
    assert redis_cache.add("short", 1, 0) is True and redis_cache.get("short") is None, "timeout 0 stores nothing"


def test_one_client_and_one_connection_for_many_calls(redis_cache):
    client = redis_cache._cache.get_client(write=True)
    for n in range(20):
        redis_cache.add(f"key-{n}", n, 60)
        redis_cache.get(f"key-{n}")
    assert redis_cache._cache.get_client(write=True) is client
    assert redis_cache._cache.get_client(write=False) is client, "one server: reads and writes share the pool"
    assert len(client.connection_pool._available_connections) == 1, "calls one after another reuse one connection"


def test_incr_is_one_atomic_command_that_keeps_the_expiry(redis_cache):
    client = redis_cache._cache.get_client(write=True)
    redis_cache.add("window", 1, 60)
    redis_cache.add("warm-up", 0, 60)
    redis_cache.incr("warm-up")  # the first call on a fresh server also loads the script
    sent = []
    original = client.execute_command

    def counting(*args, **kwargs):
        sent.append(args[0])
        return original(*args, **kwargs)

    client.execute_command = counting
    try:
        assert redis_cache.incr("window", 5) == 6
    finally:
        del client.execute_command
    assert sent == ["EVALSHA"], sent
    assert 0 < client.ttl(redis_cache.make_key("window")) <= 60, "incrementing keeps the key's expiry"
    assert redis_cache.decr("window", 2) == 4
