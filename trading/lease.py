"""Leases: Redis locks held by running work, short and renewed while the work runs.

A lock with a long expiry outlives a worker that is killed holding it: the work stops for as long
as the expiry, and a restart does not help. A lease instead expires after a few tens of seconds
unless its holder renews it, which a heartbeat thread does while the work runs; so a dead holder's
lease is free again within one TTL, and the next worker simply takes it.

Safety rests on the owner token. Every holder draws a random token; renewal and release are Lua
compare-and-set scripts that act only while the stored token is still theirs, so a holder whose
lease expired (a long pause, a lost Redis connection) can neither extend nor delete the lease the
next holder took meanwhile. Such a holder learns it lost the lease from its heartbeat, from Redis
when it checks, or from its own clock (no renewal for a TTL), and ``Lease.check()`` raises
``LeaseLost``: work calls it before each write and stops. Each acquisition also gets a fence
number, one higher than the last holder's, for writers that want the store itself to refuse a
stale holder.

The lease is a Redis hash (token, owner, acquired_at, renewed_at, fence; times are Unix seconds)
with the TTL, so ``lease_info`` can say who holds it, since when, and when it was last renewed.

    with lease_hold("crm:trading:sync:deals:7", ttl=30) as held:
        if held is None:
            return "busy"
        for chunk in chunks:
            held.check()   # raises LeaseLost when another worker has taken over
            write(chunk)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from redis.exceptions import RedisError

from crm.lib.redis import get_redis

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 30.0

# KEYS[1] lease, KEYS[2] fence counter; ARGV token, owner, now, ttl in ms.
_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
local fence = redis.call('incr', KEYS[2])
redis.call('hset', KEYS[1], 'token', ARGV[1], 'owner', ARGV[2], 'acquired_at', ARGV[3],
           'renewed_at', ARGV[3], 'fence', fence)
redis.call('pexpire', KEYS[1], ARGV[4])
return fence
"""
# KEYS[1] lease; ARGV token, now, ttl in ms.
_RENEW = """
if redis.call('hget', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[1], 'renewed_at', ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[3])
return 1
"""
# KEYS[1] lease; ARGV token.
_RELEASE = """
if redis.call('hget', KEYS[1], 'token') ~= ARGV[1] then return 0 end
return redis.call('del', KEYS[1])
"""


class LeaseLost(RuntimeError):
    """The lease expired or another holder took it over: the work must stop before writing."""


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a lease, since when, when it was last renewed, and when it lapses unless renewed."""

    owner: str
    acquired_at: dt.datetime
    renewed_at: dt.datetime
    expires_in: float
    fence: int

    @property
    def held_seconds(self) -> float:
        return max(0.0, time.time() - self.acquired_at.timestamp())

    @property
    def renewed_seconds_ago(self) -> float:
        return max(0.0, time.time() - self.renewed_at.timestamp())


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _stamp(raw: bytes | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(raw or 0), tz=dt.UTC)


def lease_info(key: str, *, client: redis.Redis | None = None) -> LeaseInfo | None:
    """The current holder of the lease at `key`, or None when it is free."""
    return leases_info([key], client=client)[0]


def leases_info(keys: list[str], *, client: redis.Redis | None = None) -> list[LeaseInfo | None]:
    """`lease_info` for many keys in one round trip (a page listing servers)."""
    if not keys:
        return []
    pipe = (client or get_redis()).pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
        pipe.pttl(key)
    replies = pipe.execute()
    out: list[LeaseInfo | None] = []
    for fields, pttl in zip(replies[::2], replies[1::2], strict=True):
        if not fields or b"token" not in fields:
            out.append(None)
            continue
        out.append(LeaseInfo(
            owner=fields.get(b"owner", b"").decode(errors="replace"),
            acquired_at=_stamp(fields.get(b"acquired_at")), renewed_at=_stamp(fields.get(b"renewed_at")),
            expires_in=max(0.0, pttl / 1000), fence=int(fields.get(b"fence", b"0")),
        ))
    return out


class Lease:
    """One holder's claim on `key`. ``acquire`` once; while held, a daemon thread renews it every
    TTL/3; ``release`` on every exit (``lease_hold`` does both)."""

    def __init__(self, key: str, *, ttl: float = DEFAULT_TTL_SECONDS, owner: str | None = None,
                 client: redis.Redis | None = None) -> None:
        if ttl <= 0:
            raise ValueError("a lease needs a positive TTL")
        self.key = key
        self.ttl = float(ttl)
        self.owner = owner or default_owner()
        self.token = secrets.token_hex(16)
        self.fence = 0
        self._client = client or get_redis()
        self._valid_until = 0.0  # monotonic: past it, our own clock says the lease may have lapsed
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def acquire(self) -> bool:
        """Take the lease if it is free (or has lapsed); False when someone else holds it."""
        started = time.monotonic()
        fence = int(self._client.eval(_ACQUIRE, 2, self.key, f"{self.key}:fence", self.token, self.owner,
                                      f"{time.time():.3f}", self._ttl_ms))
        if not fence:
            return False
        self.fence = fence
        self._valid_until = started + self.ttl
        self._thread = threading.Thread(target=self._heartbeat, daemon=True, name=f"lease:{self.key}")
        self._thread.start()
        return True

    def renew(self) -> bool:
        """Extend the lease if it is still ours; False (and lost for good) when it is not."""
        if self._lost:
            return False
        started = time.monotonic()
        if self._client.eval(_RENEW, 1, self.key, self.token, f"{time.time():.3f}", self._ttl_ms):
            self._valid_until = started + self.ttl
            return True
        self._lost = True
        return False

    def _heartbeat(self) -> None:
        interval = self.ttl / 3
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    logger.warning("lease lost to another holder", extra={"lease": self.key})
                    return
            except RedisError as exc:
                # Keep trying: the lease is still ours if Redis comes back within the TTL;
                # check() goes by our own clock meanwhile.
                logger.warning("lease renewal failed", extra={"lease": self.key, "error": repr(exc)})

    @property
    def lost(self) -> bool:
        return self._lost or time.monotonic() >= self._valid_until

    def check(self) -> None:
        """Raise LeaseLost unless the lease is still ours. Call before each write of the work.

        Asks Redis (a compare-and-set renewal: the proof of ownership extends the lease too), so a
        lease taken over while our clock still trusted it is caught; with Redis unreachable, our
        own clock decides."""
        if not self._lost:
            try:
                self.renew()
            except RedisError:
                pass
        if self.lost:
            raise LeaseLost(f"the lease {self.key} was lost (expired or taken over)")

    def release(self) -> bool:
        """Stop renewing and give the lease up if it is still ours; True when it was."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.ttl)
        try:
            return bool(self._client.eval(_RELEASE, 1, self.key, self.token))
        except RedisError:
            return False  # it lapses by itself within the TTL


@contextlib.contextmanager
def lease_hold(key: str, *, ttl: float = DEFAULT_TTL_SECONDS, owner: str | None = None) -> Iterator[Lease | None]:
    """Hold the lease at `key` for the block (None when someone else holds it), released on every
    way out, exceptions included."""
    held = Lease(key, ttl=ttl, owner=owner)
    if not held.acquire():
        yield None
        return
    try:
        yield held
    finally:
        held.release()
