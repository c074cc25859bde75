"""A per-process cache of authenticated API keys, so that a lead vendor's burst does not look its
key up in the database on every request.

An entry is used only while the shared version in Redis is the one it was cached under and for at
most API_KEY_CACHE_SECONDS. Revoking a key, and any change to a key or a brand (saved anywhere:
service, admin, shell), bumps the version: the process that made the change drops its entries at
once, every other process within VERSION_CHECK_SECONDS (it reads the version at most that often). Without
Redis nothing is cached.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import redis
from django.db import transaction

from crm.lib.redis import get_redis

if TYPE_CHECKING:
    from crm.models import ApiKey

logger = logging.getLogger(__name__)

API_KEY_CACHE_SECONDS = 30.0
VERSION_KEY = "crm:apikeys:version"

# How stale another process's view of a revocation may be: a request in another web process
# can still pass with a key revoked less than a second ago.
VERSION_CHECK_SECONDS = 1.0

_entries: dict[str, tuple[ApiKey, str, float]] = {}
_version: tuple[str, float] | None = None
_lock = threading.Lock()


def current_version() -> str | None:
    """The shared version, read from Redis at most every VERSION_CHECK_SECONDS per process (a
    change made in this process is seen at once: invalidate() clears the local copy)."""
    global _version
    now = time.monotonic()
    if _version is not None and now - _version[1] < VERSION_CHECK_SECONDS:
        return _version[0]
    try:
        value = get_redis().get(VERSION_KEY)
    except redis.RedisError:
        _version = None
        return None
    if isinstance(value, bytes):  # our client leaves replies undecoded
        value = value.decode()
    text = value if value is not None else "0"
    _version = (text, now)
    return text


def lookup(digest: str, version: str | None) -> ApiKey | None:
    if version is None:
        return None
    entry = _entries.get(digest)
    if entry is None:
        return None
    key, cached_under, at = entry
    if cached_under != version or time.monotonic() - at > API_KEY_CACHE_SECONDS:
        _entries.pop(digest, None)
        return None
    return key


def remember(digest: str, key: ApiKey, version: str | None) -> None:
    if version is None:
        return
    with _lock:
        if len(_entries) > 10_000:  # keys are few; this only bounds memory against misuse
            _entries.clear()
        _entries[digest] = (key, version, time.monotonic())


def _bump() -> None:
    global _version
    _entries.clear()
    _version = None
    try:
        get_redis().incr(VERSION_KEY)
    except redis.RedisError:
        logger.warning("API key cache version not bumped: Redis unavailable", exc_info=True)


def invalidate() -> None:
    """Drop every process's cached keys, now and again once the current transaction commits (a
    request in between could cache what is about to change)."""
    _bump()
    transaction.on_commit(_bump, robust=True)


def on_saved(sender: Any, **kwargs: Any) -> None:
    # Cache invalidation only (no domain behaviour hangs on it), so a model signal is the safe
    # place: it also catches a brand deactivated in the Django admin or a shell.
    invalidate()
