"""/healthz: is this installation able to serve and to run its background work?

    {"status": "ok" | "degraded" | "down",
     "checks": {"database": {...}, "redis": {...},
                "celery_worker": {...}, "celery_beat": {...}, "rq_worker": {...}}}

"down" (HTTP 503) when the database or Redis does not answer: nothing works without them, and a
load balancer should stop sending traffic. "degraded" (HTTP 200) when a kind of background process
has no fresh heartbeat: pages still work, background work waits. No login needed, so the answer
holds no hostnames, addresses, URLs or error messages, only states, counts and timings.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from redis.exceptions import RedisError

from crm.lib import heartbeat
from crm.lib.redis import get_redis

Check = dict[str, Any]

# /healthz check name -> heartbeat component
PROCESS_CHECKS = {
    "celery_worker": heartbeat.CELERY_WORKER,
    "celery_beat": heartbeat.CELERY_BEAT,
    "rq_worker": heartbeat.RQ_WORKER,
}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _db_connection() -> Any:
    return connection


def check_database() -> Check:
    started = time.perf_counter()
    try:
        with _db_connection().cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"status": "down", "error": type(exc).__name__, "latency_ms": _ms(started)}
    return {"status": "ok", "latency_ms": _ms(started)}


def check_redis() -> Check:
    started = time.perf_counter()
    try:
        get_redis().ping()
    except RedisError as exc:
        return {"status": "down", "error": type(exc).__name__, "latency_ms": _ms(started)}
    return {"status": "ok", "latency_ms": _ms(started)}


def check_process(component: str) -> Check:
    try:
        beats = heartbeat.alive(component)
    except RedisError:
        return {"status": "unknown", "count": 0, "age_seconds": None}
    if not beats:
        return {"status": "missing", "count": 0, "age_seconds": None}
    freshest = min(age for _, age in beats)
    return {"status": "ok", "count": len(beats), "age_seconds": round(freshest, 1)}


def health_report() -> tuple[str, dict[str, Check]]:
    checks: dict[str, Check] = {"database": check_database(), "redis": check_redis()}
    for name, component in PROCESS_CHECKS.items():
        checks[name] = check_process(component)
    if checks["database"]["status"] != "ok" or checks["redis"]["status"] != "ok":
        status = "down"
    elif any(checks[name]["status"] != "ok" for name in PROCESS_CHECKS):
        status = "degraded"
    else:
        status = "ok"
    return status, checks


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    status, checks = health_report()
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "down" else 200)


@require_safe
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """/favicon.ico, which browsers and crawlers ask for whatever the page says: the project's icon
    (the one every base template links), for anyone, signed in or not."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))
