"""DIGEST_SEND_RATE: at most N messages per second across every worker, counted in the shared cache."""

from __future__ import annotations

from collections import Counter

import pytest

from newsletter import provider


class FakeClock:
    """time.time / time.sleep for the limiter: sleeping advances the clock instead of waiting."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock(start=1_900_000_000.25)
    monkeypatch.setattr(provider.time, "time", fake.time)
    monkeypatch.setattr(provider.time, "sleep", fake.sleep)
    return fake


def sends_per_second(clock, settings, calls: int) -> Counter:
    seconds: Counter[int] = Counter()
    for _ in range(calls):
        provider.wait_for_send_slot()
        seconds[int(clock.now)] += 1
        clock.now += 0.01  # the send itself
    return seconds


def test_limit_holds_per_second(clock, settings):
    settings.DIGEST_SEND_RATE = 5
    seconds = sends_per_second(clock, settings, 23)
    assert max(seconds.values()) == 5
    assert sum(seconds.values()) == 23
    assert len(seconds) == 5  # 23 messages at 5/s need five distinct seconds


def test_no_limit_by_default(clock, settings):
    settings.DIGEST_SEND_RATE = 0
    assert sends_per_second(clock, settings, 50) == Counter({1_900_000_000: 50})


def test_the_count_is_shared_through_redis(clock, settings, redis_url):
    """Two workers are two processes with their own caches' clients; the count lives in Redis."""
    from django.core.cache import caches

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    settings.DIGEST_SEND_RATE = 3
    caches["default"].clear()
    sent_at = Counter()
    for _ in range(4):
        for _worker in range(2):  # worker A and worker B alternate
            provider.wait_for_send_slot()
            sent_at[int(clock.now)] += 1
    assert max(sent_at.values()) == 3
    raw = caches["default"].get(f"paperboy:send-rate:{int(clock.now) - 1}")
    assert raw is not None and raw >= 3, "the counter is in Redis, where every worker sees it"
    caches["default"].clear()
