"""The papers version: a number in the shared cache that changes whenever what the public listings
show may have changed (a paper, an author, a daily entry or its curation).

Cached answers carry it in their keys (``papers.api.caching``), so a change shows at once instead
of after a timeout. Saves and deletes bump it through signals (``papers.apps``); writes that send
none (``QuerySet.update``, bulk inserts) call ``papers_changed`` themselves.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction

KEY = "papers:version"


def _fresh_start() -> int:
    # Milliseconds since the epoch: a version lost from the cache (evicted, flushed) starts again
    # above every number used before, so no answer cached under an old number comes back.
    return time.time_ns() // 1_000_000


def papers_version() -> int:
    version = cache.get(KEY)
    if version is None:
        cache.add(KEY, _fresh_start(), timeout=None)  # add: never overwrites another process's bump
        version = cache.get(KEY, 0)
    return int(version)


def _bump() -> None:
    try:
        cache.incr(KEY)
    except ValueError:  # not in the cache yet
        cache.add(KEY, _fresh_start(), timeout=None)


def papers_changed() -> None:
    """Say that papers or entries changed: now, and again when the transaction commits (a reader that
    raced it may have cached the old rows under the number bumped now)."""
    _bump()
    transaction.on_commit(_bump)
