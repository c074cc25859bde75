"""Fixed-window request budgets counted in Redis: the API's per key or staff user, the public lead
form's per client IP, the password-reset request's per IP and per address.

A rate is written "<count>/<s|m|h|d>" (the settings are checked at start-up, crm/settings/base.py).
Redis being unreachable does not stop the page: the hit is let through and the failure logged.
"""

from __future__ import annotations

import hashlib
import logging
import time

import redis

from crm.lib.redis import get_redis

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """"20/h" -> (20, 3600)."""
    count, _sep, period = rate.partition("/")
    return int(count), PERIODS[period.strip()]


def rate_key(*parts: str) -> str:
    """A Redis key for a budget of `parts`; the last part (an address, an IP) is hashed, so that no
    personal data sits in Redis in the clear."""
    *prefix, subject = parts
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return ":".join([*prefix, digest])


def rate_hit(key: str, rate: str) -> int:
    """Count one hit on the budget `key`; the seconds until the window ends when this hit is over
    the budget `rate`, else 0. Every hit counts, also the refused ones (a flood stays refused)."""
    count, seconds = rate_parse(rate)
    now = time.time()
    window_key = f"{key}:{seconds}:{int(now // seconds)}"
    try:
        pipe = get_redis().pipeline()
        pipe.incr(window_key)
        pipe.expire(window_key, seconds + 1)
        used = int(pipe.execute()[0])
    except redis.RedisError:
        logger.warning("rate limit not checked: Redis unavailable", exc_info=True, extra={"budget": key.split(":")[0]})
        return 0
    return 0 if used <= count else max(1, int(seconds - now % seconds + 0.999))


def rate_spent(key: str, rate: str) -> int:
    """Like `rate_hit` without counting: the seconds until the window ends when the budget `key`
    is used up already, else 0. For budgets that count only failures (a login's wrong passwords):
    check with this first, count each failure with `rate_hit`."""
    count, seconds = rate_parse(rate)
    now = time.time()
    try:
        used = int(get_redis().get(f"{key}:{seconds}:{int(now // seconds)}") or 0)
    except redis.RedisError:
        logger.warning("rate limit not checked: Redis unavailable", exc_info=True, extra={"budget": key.split(":")[0]})
        return 0
    return 0 if used < count else max(1, int(seconds - now % seconds + 0.999))
