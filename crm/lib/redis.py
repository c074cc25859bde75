"""One Redis client per process for the CRM's own keys (debounce flags, heartbeats)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


def queue_once(key: str, task: Any, *, countdown: float, pending_ms: int) -> bool:
    """Queue `task` unless one queued under `key` is still waiting: the flag is set with the task and
    the task clears it as it starts, so a burst of kicks queues one task, not one each. `pending_ms`
    bounds how long a lost task message holds later kicks back. Returns whether a task was queued;
    Redis's and the broker's errors are the caller's (a kick must not fail a committed request)."""
    from kombu.exceptions import OperationalError as BrokerError

    client = get_redis()
    if not client.set(key, "1", nx=True, px=pending_ms):
        return False
    try:
        task.apply_async(countdown=countdown)
    except BrokerError:
        client.delete(key)  # no task waits: the next kick must try again
        raise
    return True
