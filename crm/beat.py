"""One Celery beat at a time, however many are started.

Beat must run once: two beats send every scheduled task twice. Starting it on one machine only is
a rule people break (a second deployment, a failover started by hand), so beat guards itself: the
scheduler sends only while it holds a lease in Redis (`SET NX` with an expiry, renewed on every
tick by its holder alone). Another beat started beside it waits on standby, checking every few
seconds, and takes over within the lease's length when the first one stops or dies.

Use: `celery -A crm beat -S crm.beat:GuardedScheduler` (CELERY_BEAT_SCHEDULER in the settings).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)

LEASE_KEY = "crm:celery-beat:leader"
# A standby beat takes over within the lease after the leader stops (tests shorten both).
LEASE_SECONDS = int(os.environ.get("CRM_BEAT_LEASE_SECONDS") or 30)
STANDBY_CHECK_SECONDS = min(5.0, LEASE_SECONDS / 3)

# Renew only a lease we hold; release only our own (atomic compare-and-act in Redis).
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Lease:
    """A named lease in Redis held by one holder at a time."""

    def __init__(self, redis: Any, *, key: str = LEASE_KEY, seconds: int = LEASE_SECONDS,
                 holder: str | None = None) -> None:
        self.redis, self.key, self.seconds = redis, key, seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def hold(self) -> bool:
        """Take the lease when free, or renew it when ours; False while another holder has it."""
        if self.redis.set(self.key, self.holder, nx=True, ex=self.seconds):
            return True
        return bool(self.redis.eval(_RENEW, 1, self.key, self.holder, self.seconds))

    def release(self) -> None:
        self.redis.eval(_RELEASE, 1, self.key, self.holder)

    def current_holder(self) -> str | None:
        value = self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value


class GuardedScheduler(PersistentScheduler):
    """Celery's persistent scheduler, sending only while this beat holds the lease."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from crm.lib.redis import get_redis

        self.lease = Lease(get_redis())
        self.leading: bool | None = None
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            leading = self.lease.hold()
        except Exception:  # Redis down: send nothing rather than risk sending twice.
            logger.exception("celery beat: cannot reach Redis for the leader lease; not sending")
            leading = False
        if leading != self.leading:
            if leading:
                logger.info("celery beat: leader (%s); sending the schedule", self.lease.holder)
            else:
                logger.info("celery beat: standby (%s); another beat (%s) is sending", self.lease.holder,
                            self._holder_or_unknown())
            self.leading = leading
        if not leading:
            return STANDBY_CHECK_SECONDS
        # Never sleep past the lease: renew it well before it expires.
        return min(float(super().tick(*args, **kwargs)), LEASE_SECONDS / 3)

    def close(self) -> None:
        try:
            super().close()
        finally:
            try:
                self.lease.release()
            except Exception:
                logger.warning("celery beat: could not release the leader lease; it expires by itself")

    def _holder_or_unknown(self) -> str:
        try:
            return self.lease.current_holder() or "?"
        except Exception:
            return "?"
