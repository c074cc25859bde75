"""A per-process cache that every process drops together, for what is read on every request or
every mail and changes seldom (the API keys, a support desk's SLA setup). Needs no Django.

An entry is used only while the shared version (a counter in Redis) is the one it was cached under,
and for at most `ttl` seconds. `bump()` clears this process's entries at once and moves the shared
version on, so every other process drops its entries within `check_seconds` (each reads the
version at most that often). `invalidate()` bumps now and again through `after_commit` (the
caller's "once this transaction commits"), so that a reader in between cannot keep what was about
to change. Without Redis nothing is cached: every read loads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

logger = logging.getLogger(__name__)

MISSING = object()


class SharedVersionCache:
    def __init__(self, version_key: str, *, client: Callable[[], redis.Redis], ttl: float,
                 check_seconds: float = 1.0, max_entries: int = 10_000,
                 after_commit: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.version_key = version_key
        self.ttl = ttl
        self.check_seconds = check_seconds
        self._client = client
        self._max_entries = max_entries  # the entries are few; this only bounds memory against misuse
        self._after_commit = after_commit
        self._entries: dict[Any, tuple[str, float, Any]] = {}
        self._version: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def version(self) -> str | None:
        """The shared version, read from Redis at most every `check_seconds` (a change made in this
        process is seen at once); None without Redis."""
        now = time.monotonic()
        seen = self._version
        if seen is not None and now - seen[1] < self.check_seconds:
            return seen[0]
        try:
            value = self._client().get(self.version_key)
        except redis.RedisError:
            self._version = None
            return None
        text = value.decode() if isinstance(value, bytes) else ("0" if value is None else str(value))
        self._version = (text, now)
        return text

    def lookup(self, key: Any, version: str | None) -> Any:
        """The value cached under `key` for `version`, else MISSING."""
        if version is None:
            return MISSING
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        cached_under, at, value = entry
        if cached_under != version or time.monotonic() - at > self.ttl:
            self._entries.pop(key, None)
            return MISSING
        return value

    def remember(self, key: Any, value: Any, version: str | None) -> None:
        if version is None:
            return
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (version, time.monotonic(), value)

    def cached(self, key: Any, load: Callable[[], Any]) -> Any:
        """The value under `key`, loaded (and kept) when there is none for the current version."""
        version = self.version()
        value = self.lookup(key, version)
        if value is MISSING:
            value = load()
            self.remember(key, value, version)
        return value

    def bump(self) -> None:
        with self._lock:
            self._entries.clear()
        self._version = None
        try:
            self._client().incr(self.version_key)
        except redis.RedisError:
            logger.warning("cache version %s not bumped: Redis unavailable", self.version_key, exc_info=True)

    def invalidate(self) -> None:
        """Drop every process's entries, now and again once the caller's transaction commits."""
        self.bump()
        if self._after_commit is not None:
            self._after_commit(self.bump)
