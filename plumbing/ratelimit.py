"""Fixed-window request budgets counted in Redis: the API's per key or staff user, the public lead
form's per client IP, the password-reset request's per IP and per address, the partner portal's
logins and the support mailboxes' senders.

A rate is written "<count>/<s|m|h|d>" (the CRM checks its settings at start-up). `Budgets` counts on
the Redis client its factory gives (crm.lib.ratelimit hands it the CRM's own); Redis being
unreachable does not stop the page: the hit is let through and the failure logged. Needs no Django.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

import redis

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


def _wait(used: int, count: int, seconds: int, now: float) -> int:
    return 0 if used <= count else max(1, int(seconds - now % seconds + 0.999))


class Budgets:
    """The budgets kept on the Redis client `client()` returns."""

    def __init__(self, client: Callable[[], redis.Redis]) -> None:
        self._client = client

    def hit(self, key: str, rate: str) -> int:
        """Count one hit on the budget `key`; the seconds until the window ends when this hit is
        over the budget `rate`, else 0. Every hit counts, also the refused ones (a flood stays
        refused)."""
        count, seconds = rate_parse(rate)
        now = time.time()
        window_key = f"{key}:{seconds}:{int(now // seconds)}"
        try:
            pipe = self._client().pipeline()
            pipe.incr(window_key)
            pipe.expire(window_key, seconds + 1)
            used = int(pipe.execute()[0])
        except redis.RedisError:
            logger.warning("rate limit not checked: Redis unavailable", exc_info=True,
                           extra={"budget": key.split(":")[0]})
            return 0
        return _wait(used, count, seconds, now)

    def take(self, key: str, rate: str, wanted: int) -> int:
        """Count up to `wanted` hits on the budget `key` at once: how many fit in what is left of the
        window `rate` (those are counted; the rest are not, and wait for the next window). For work
        done in batches (a campaign's emails): one round trip for the batch instead of one per item."""
        if wanted <= 0:
            return 0
        count, seconds = rate_parse(rate)
        window_key = f"{key}:{seconds}:{int(time.time() // seconds)}"
        try:
            client = self._client()
            pipe = client.pipeline()
            pipe.incrby(window_key, wanted)
            pipe.expire(window_key, seconds + 1)
            used = int(pipe.execute()[0])
            granted = max(0, min(wanted, count - (used - wanted)))
            if granted < wanted:
                client.decrby(window_key, wanted - granted)
        except redis.RedisError:
            logger.warning("rate limit not checked: Redis unavailable", exc_info=True,
                           extra={"budget": key.split(":")[0]})
            return wanted
        return granted

    def spent(self, key: str, rate: str) -> int:
        """Like `hit` without counting: the seconds until the window ends when the budget `key` is
        used up already, else 0. For budgets that count only failures (a login's wrong passwords):
        check with this first, count each failure with `hit`."""
        count, seconds = rate_parse(rate)
        now = time.time()
        try:
            used = int(self._client().get(f"{key}:{seconds}:{int(now // seconds)}") or 0)
        except redis.RedisError:
            logger.warning("rate limit not checked: Redis unavailable", exc_info=True,
                           extra={"budget": key.split(":")[0]})
            return 0
        return _wait(used + 1, count, seconds, now)
