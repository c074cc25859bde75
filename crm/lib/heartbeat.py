"""Worker heartbeats in Redis with a TTL, read by /healthz."""

from __future__ import annotations

import time

from crm.lib.redis import get_redis

TTL_SECONDS = 90
PREFIX = "crm:heartbeat:"


def beat(component: str, hostname: str) -> None:
    get_redis().set(f"{PREFIX}{component}:{hostname}", str(time.time()), ex=TTL_SECONDS)


def alive(component: str) -> list[tuple[str, float]]:
    """(hostname, seconds since last beat) for each live process of `component`."""
    r = get_redis()
    out = []
    now = time.time()
    for key in r.scan_iter(f"{PREFIX}{component}:*", count=100):
        value = r.get(key)
        if value is not None:
            out.append((key.decode().split(":", 3)[-1], now - float(value)))
    return out
