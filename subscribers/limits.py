"""The signup form's rate limits: per client address (``SIGNUP_RATE_PER_IP``, every POST) and per
mailbox (``SIGNUP_RATE_PER_EMAIL``, every valid address), in fixed windows of the rate's period.

With the Redis cache (``REDIS_URL``) both are counted by one Lua script, in one round trip; the
mailbox is counted only while the address is within its limit, as two django-ratelimit checks one
after the other would (those take two round trips each: a POST spent a quarter of its time on
them, BENCHMARKS.md). Without Redis (the embedded defaults) django-ratelimit counts them in the
process's cache.
"""

from __future__ import annotations

import hashlib
import re
import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS: the address's counter, then the mailbox's (when there is one); ARGV: their limits and
# periods. Answers 0 (within both), 1 (the address over its limit), 2 (the mailbox over its).
_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then return 1 end
if #KEYS > 1 then
  count = redis.call('INCR', KEYS[2])
  if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
  if count > tonumber(ARGV[3]) then return 2 end
end
return 0
"""


def _rate(rate: str) -> tuple[int, int]:
    """``"10/h"`` -> (10, 3600); ``"100/5m"`` -> (100, 300) (config.env.rate checked the form)."""
    match = re.fullmatch(r"(\d+)/(\d*)([smhd])", rate)
    if match is None:
        raise ValueError(f"not a rate: {rate!r}")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * _PERIODS[unit]


def _key(group: str, value: str, period: int) -> str:
    window = int(time.time()) // period
    return f"paperboy:limit:{group}:{window}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def signup_limited(request: HttpRequest, ip: str, mailbox: str | None) -> bool:
    """Count this signup POST from ``ip`` (and for ``mailbox``, a valid address's mailbox key, when
    given); whether either is over its limit."""
    from django_redis.cache import RedisCache

    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return _limited_in_process(request, ip, mailbox)
    from django_redis import get_redis_connection

    ip_limit, ip_period = _rate(settings.SIGNUP_RATE_PER_IP)
    keys, args = [_key("signup-ip", ip, ip_period)], [ip_limit, ip_period]
    if mailbox is not None:
        mail_limit, mail_period = _rate(settings.SIGNUP_RATE_PER_EMAIL)
        keys.append(_key("signup-email", mailbox, mail_period))
        args += [mail_limit, mail_period]
    script = get_redis_connection("default").register_script(_SCRIPT)
    return bool(script(keys=keys, args=args))


def _limited_in_process(request: HttpRequest, ip: str, mailbox: str | None) -> bool:
    def over(group: str, value: str, rate: str) -> bool:
        return bool(
            is_ratelimited(
                request, group=group, key=lambda _group, _request: value, rate=rate, method="POST", increment=True
            )
        )

    if over("signup-ip", ip, settings.SIGNUP_RATE_PER_IP):
        return True
    return mailbox is not None and over("signup-email", mailbox, settings.SIGNUP_RATE_PER_EMAIL)
