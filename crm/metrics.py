"""Metrics in Prometheus's text format at /metrics.

What is measured, and where it is kept:

- request latency by view (a histogram per view name, method and status class), recorded by
  `MetricsMiddleware` around every request;
- Celery task latency per queue: the wait from publishing to starting, and the run time (histograms),
  recorded by the worker's signals (crm/celery.py);
- login failures (a counter, from Django's `user_login_failed` signal: staff, clients and partners);
- queue depths (each workload's Celery queue and the RQ queue), the domain-event outbox's backlog and
  the outbound webhooks' open deliveries (integrations.metrics contributes them), read when scraped;
- what the apps register: `register_gauge(name, help, collect)`, e.g. trading's sync lag per server.

Counters and histograms live in Redis, not in a process: the web tier and the workers run as many
processes on many machines, and one scrape of any web process sees all of them. Recording is one
pipelined round trip; when Redis is down the request or task goes on and the sample is lost.

/metrics answers with METRICS_TOKEN as a bearer token (`Authorization: Bearer ...`), or, when no token
is set, only to requests from this machine (127.0.0.1 / ::1). Anyone else gets a 404.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse

from crm.lib.redis import get_redis

logger = logging.getLogger(__name__)

PREFIX = "crm:metrics:"
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
Labels = dict[str, str]


def _label_text(labels: Labels) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return ",".join(f'{k}="{escape(str(v))}"' for k, v in sorted(labels.items()))


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


# --- recording ---------------------------------------------------------------------------------

def observe(name: str, value: float, labels: Labels, *, pipe: Any = None) -> None:
    """Add one observation to the histogram `name` (seconds)."""
    key, series = f"{PREFIX}h:{name}", _label_text(labels)
    own = pipe is None
    p = get_redis().pipeline(transaction=False) if own else pipe
    for bound in SECONDS_BUCKETS:
        if value <= bound:
            p.hincrby(key, f"{series}\x1f{_fmt(bound)}", 1)
    p.hincrby(key, f"{series}\x1f+Inf", 1)
    p.hincrbyfloat(key, f"{series}\x1fsum", value)
    if own:
        _execute(p)


def increment(name: str, labels: Labels, amount: int = 1) -> None:
    """Add to the counter `name`."""
    p = get_redis().pipeline(transaction=False)
    p.hincrby(f"{PREFIX}c:{name}", _label_text(labels), amount)
    _execute(p)


def _execute(pipe: Any) -> None:
    try:
        pipe.execute()
    except Exception:  # a metric is never worth a failed request or task
        logger.debug("metrics: Redis unavailable, sample dropped", exc_info=True)


class MetricsMiddleware:
    """Times each request and adds it to `crm_http_request_duration_seconds` by view, method and
    status class (static files and /metrics itself are not counted)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.static_url = settings.STATIC_URL or "/static/"

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        path = request.path
        if path.startswith(self.static_url) or path == "/metrics":
            return response
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None and match.view_name else "unresolved"
        observe("crm_http_request_duration_seconds", time.perf_counter() - started,
                {"view": view, "method": request.method or "", "status": f"{response.status_code // 100}xx"})
        return response


def login_failed(sender: Any, credentials: Any = None, request: Any = None, **_: Any) -> None:
    """`user_login_failed` receiver: counts the failure by where it happened (staff, portal, partners)."""
    path = getattr(request, "path", "") or ""
    where = "portal" if path.startswith("/portal") else "partners" if path.startswith("/partners") else (
        "api" if path.startswith("/api") else "staff")
    increment("crm_login_failures_total", {"where": where})


# --- gauges read at scrape time -----------------------------------------------------------------

@dataclass(frozen=True)
class Gauge:
    name: str
    help: str
    collect: Callable[[], Iterable[tuple[Labels, float]]]


_GAUGES: dict[str, Gauge] = {}


def register_gauge(name: str, help_text: str, collect: Callable[[], Iterable[tuple[Labels, float]]]) -> None:
    """An app's figure read when /metrics is scraped: `collect()` gives (labels, value) pairs."""
    _GAUGES[name] = Gauge(name, help_text, collect)


def _queue_depths() -> Iterable[tuple[Labels, float]]:
    from crm.queues import worker_queues

    r = get_redis()
    for queue in worker_queues(default=settings.CELERY_TASK_DEFAULT_QUEUE):
        yield {"queue": queue, "kind": "celery"}, float(r.llen(queue))
    import django_rq

    for name in settings.RQ_QUEUES:
        yield {"queue": name, "kind": "rq"}, float(django_rq.get_queue(name).count)


def _outbox_backlog() -> Iterable[tuple[Labels, float]]:
    from django.db.models import Min
    from django.utils import timezone

    from crm.models import Event

    row = Event.objects.filter(dispatched_at__isnull=True).aggregate(oldest=Min("created_at"))
    count = Event.objects.filter(dispatched_at__isnull=True).count()
    yield {"measure": "events"}, float(count)
    age = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else 0.0
    yield {"measure": "oldest_seconds"}, age


register_gauge("crm_queue_depth", "Messages waiting in each Celery queue and RQ queue.", _queue_depths)
register_gauge("crm_event_outbox_backlog", "Domain events not yet delivered to every handler, and the oldest's age.",
               _outbox_backlog)


# --- the exposition -----------------------------------------------------------------------------

HELP = {
    "crm_http_request_duration_seconds": "Time to answer a request, by view, method and status class.",
    "crm_task_wait_seconds": "Time from publishing a Celery task to a worker starting it, by queue.",
    "crm_task_run_seconds": "Time a Celery task ran, by queue and task.",
    "crm_login_failures_total": "Failed logins, by where (staff, portal, partners, api).",
}


def render() -> str:
    """Every metric in Prometheus's text format (version 0.0.4)."""
    r = get_redis()
    lines: list[str] = []
    for key in sorted(k.decode() if isinstance(k, bytes) else k for k in r.scan_iter(f"{PREFIX}h:*")):
        name = key[len(PREFIX) + 2:]
        lines += [f"# HELP {name} {HELP.get(name, name)}", f"# TYPE {name} histogram"]
        series: dict[str, dict[str, float]] = {}
        for field, value in r.hgetall(key).items():
            labels, _sep, part = (field.decode() if isinstance(field, bytes) else field).rpartition("\x1f")
            series.setdefault(labels, {})[part] = float(value)
        for labels, parts in sorted(series.items()):
            sep = "," if labels else ""
            for bound in [*(_fmt(b) for b in SECONDS_BUCKETS), "+Inf"]:
                lines.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {_fmt(parts.get(bound, 0))}')
            lines.append(f"{name}_sum{{{labels}}} {parts.get('sum', 0.0)!r}")
            lines.append(f"{name}_count{{{labels}}} {_fmt(parts.get('+Inf', 0))}")
    for key in sorted(k.decode() if isinstance(k, bytes) else k for k in r.scan_iter(f"{PREFIX}c:*")):
        name = key[len(PREFIX) + 2:]
        lines += [f"# HELP {name} {HELP.get(name, name)}", f"# TYPE {name} counter"]
        for field_name, value in sorted(r.hgetall(key).items()):
            text = field_name.decode() if isinstance(field_name, bytes) else str(field_name)
            lines.append(f"{name}{{{text}}} {_fmt(float(value))}")
    for gauge in _GAUGES.values():
        try:
            samples = list(gauge.collect())
        except Exception:
            logger.exception("metrics: %s could not be read", gauge.name)
            continue
        lines += [f"# HELP {gauge.name} {gauge.help}", f"# TYPE {gauge.name} gauge"]
        lines += [f"{gauge.name}{{{_label_text(labels)}}} {_fmt(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _allowed(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "") or ""
    if token:
        given = request.headers.get("Authorization", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), token)
    return request.META.get("REMOTE_ADDR") in {"127.0.0.1", "::1"}


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method != "GET" or not _allowed(request):
        raise Http404
    return HttpResponse(render(), content_type="text/plain; version=0.0.4; charset=utf-8")
