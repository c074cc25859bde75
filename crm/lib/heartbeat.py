"""Process heartbeats (plumbing.heartbeat) on the CRM's own Redis client, read by /healthz."""

from crm.lib.redis import get_redis
from plumbing.heartbeat import (
    CELERY_BEAT,
    CELERY_WORKER,
    COMPONENTS,
    INTERVAL_SECONDS,
    RQ_WORKER,
    Heartbeats,
    key,
)

_beats = Heartbeats(lambda: get_redis())  # looked up at each call, so a test may replace it
beat = _beats.beat
forget = _beats.forget
alive = _beats.alive

__all__ = ["CELERY_BEAT", "CELERY_WORKER", "COMPONENTS", "INTERVAL_SECONDS", "RQ_WORKER", "alive", "beat", "forget", "key"]
