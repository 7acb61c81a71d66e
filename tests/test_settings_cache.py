"""The Redis cache REDIS_URL configures (django-redis): what the rate limits and the send-rate
counter rely on, with incr() in one atomic round trip."""

from __future__ import annotations

import pytest
import redis


@pytest.fixture
def redis_cache(redis_url):
    from django_redis.cache import RedisCache

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
    assert redis_cache.incr("counter", 10) == 12
    assert redis_cache.decr("counter", 2) == 10
    with pytest.raises(ValueError, match="not found"):
        redis_cache.incr("missing")
    assert redis_cache.get("missing") is None, "a failed incr creates nothing"
    redis_cache.set("object", {"a": [1, 2]}, 60)
    assert redis_cache.get("object") == {"a": [1, 2]}
    assert redis_cache.delete("object") is True
    assert redis_cache.get("object", "gone") == "gone"
    assert redis_cache.add("short", 1, 0) is True and redis_cache.get("short") is None, "timeout 0 stores nothing"


def test_incr_is_one_command_that_keeps_the_expiry(redis_cache, redis_url):
    server = redis.Redis.from_url(redis_url, decode_responses=True)
    key = redis_cache.make_key("window")
    redis_cache.add("window", 1, 60)
    with server.monitor() as monitor:
        assert redis_cache.incr("window", 5) == 6
        redis_cache.get("end-of-test")
        sent = []
        for command in monitor.listen():
            if "end-of-test" in command["command"]:
                break
            if key in command["command"]:
                sent.append((command["client_type"], command["command"].split()[0]))
    assert sent == [("tcp", "EVAL"), ("lua", "EXISTS"), ("lua", "INCRBY")], "one round trip, atomic"
    assert 0 < server.ttl(key) <= 60, "incrementing keeps the key's expiry"


def test_incr_writes_to_the_first_server_of_the_location(redis_url):
    """Django writes to the first of several servers (the others are read replicas); so does incr."""
    from django_redis.cache import RedisCache

    cache = RedisCache([redis_url, "redis://127.0.0.1:1/0"], {"KEY_PREFIX": "paperboy-test-cache"})
    try:
        cache.set("n", 1, 60)
        assert cache.incr("n") == 2
    finally:
        cache.delete("n")
