"""Process heartbeats in Redis with a TTL, read by the CRM's /healthz. Needs no Django.

Each long-running process writes `crm:heartbeat:<component>:<name>` = unix time, with a TTL a
few beats long, so that a process that dies simply stops being listed. Components:

    celery-worker   every Celery worker process, from a worker bootstep (crm/celery.py)
    celery-beat     written by crm.tasks.beat_heartbeat, which beat schedules and a worker runs,
                    so it proves that beat is scheduling and that some worker consumes the queue
    rq-worker       every RQ worker, from its dequeue loop (crm/rq_worker.py)

`Heartbeats` writes and reads them on the Redis client its factory gives (crm.lib.heartbeat hands
it the CRM's own); `python -m plumbing.heartbeat` is the containers' health check.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import redis

INTERVAL_SECONDS = 30
TTL_SECONDS = 90  # three missed beats and the process counts as gone
PREFIX = "crm:heartbeat:"

CELERY_WORKER = "celery-worker"
CELERY_BEAT = "celery-beat"
RQ_WORKER = "rq-worker"
COMPONENTS = (CELERY_WORKER, CELERY_BEAT, RQ_WORKER)


def key(component: str, name: str) -> str:
    return f"{PREFIX}{component}:{name}"


class Heartbeats:
    """The heartbeats kept on the Redis client `client()` returns."""

    def __init__(self, client: Callable[[], redis.Redis]) -> None:
        self._client = client

    def beat(self, component: str, hostname: str) -> None:
        self._client().set(key(component, hostname), str(time.time()), ex=TTL_SECONDS)

    def forget(self, component: str, hostname: str) -> None:
        """Remove a process's heartbeat at clean shutdown, so /healthz sees it gone at once."""
        self._client().delete(key(component, hostname))

    def alive(self, component: str) -> list[tuple[str, float]]:
        """(name, seconds since last beat) for each live process of `component`."""
        r = self._client()
        out = []
        now = time.time()
        start = key(component, "")
        for raw_key in r.scan_iter(f"{start}*", count=100):
            value = r.get(raw_key)
            if value is not None:
                out.append((raw_key.decode()[len(start) :], max(0.0, now - float(value))))
        return out


def main(argv: list[str]) -> int:
    """`python -m plumbing.heartbeat <component> [<name>]`, for container health checks.

    Exit 0 when the named process (or, without a name, any process of the component) has beaten
    within TTL_SECONDS. Reads REDIS_URL directly so that it needs no Django settings.
    """
    import os

    if len(argv) not in (1, 2) or argv[0] not in COMPONENTS:
        print(f"usage: python -m plumbing.heartbeat {{{'|'.join(COMPONENTS)}}} [name]", file=sys.stderr)
        return 2
    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5, socket_connect_timeout=5)
    try:
        if len(argv) == 2:
            return 0 if client.exists(key(argv[0], argv[1])) else 1
        return 0 if next(iter(client.scan_iter(key(argv[0], "*"), count=100)), None) is not None else 1
    except redis.RedisError as exc:
        print(f"redis: {type(exc).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
