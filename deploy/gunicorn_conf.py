"""Gunicorn settings: `gunicorn -c python:deploy.gunicorn_conf crm.wsgi:application`.

Threaded workers (gthread): most of a request's time is spent waiting on PostgreSQL and Redis,
so a few processes with several threads each serve many requests at once with little memory.
Every log line, the access log included, is JSON in the format of plumbing.jsonlog.

Environment: HOST (127.0.0.1), PORT (8000), WEB_CONCURRENCY (worker processes),
WEB_THREADS (threads per worker), WEB_TIMEOUT (seconds), LOG_LEVEL, FORWARDED_ALLOW_IPS.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any

from gunicorn import glogging


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number (got {value!r}).") from None


bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{_int('PORT', 8000)}"
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", min(2 * (os.cpu_count() or 1) + 1, 4))
threads = _int("WEB_THREADS", 4)
timeout = _int("WEB_TIMEOUT", 30)
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so that a slow leak can never grow without bound.
max_requests = 2000
max_requests_jitter = 200
# Trust X-Forwarded-* only from the local reverse proxy unless told otherwise (FORWARDED_ALLOW_IPS).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "crm-web"
# Gunicorn 25.1+ opens a control socket under $HOME by default: one per user, so two CRMs on one
# machine would fight over it, and the image's home is read-only. Nothing here uses it.
control_socket_disable = True
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

_LEVEL = loglevel.upper()
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "plumbing.jsonlog.RequestIdFilter"}},
    "formatters": {"json": {"()": "plumbing.jsonlog.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
            "stream": "ext://sys.stderr",
        },
        # No request-id filter here: the access line carries the id of the request it describes.
        "access": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
    },
    "root": {"level": _LEVEL, "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": _LEVEL, "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}


class JsonAccessLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn ships no types
    """One structured access line per request.

    The query string is left out on purpose: searches put names, emails and phone numbers there.
    """

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        try:
            status_code: int | str = int(status)
        except (TypeError, ValueError):
            status_code = str(status)
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), None)
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        self.access_log.info(
            "%s %s %s",
            method,
            path,
            status_code,
            extra={
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status_code,
                "duration_ms": round(request_time.total_seconds() * 1000, 2),
                "bytes": getattr(resp, "sent", None),
                "remote_addr": environ.get("REMOTE_ADDR"),
                "user_agent": environ.get("HTTP_USER_AGENT", "")[:200],
            },
        )


logger_class = JsonAccessLogger


def post_fork(server: Any, worker: Any) -> None:
    """Hand the interpreter lock over after 1 ms instead of 5. A worker's threads mostly wait on
    PostgreSQL; when one comes back holding a row or advisory lock (the audit chain's, a contact
    key's) it should not queue behind a busy neighbour for a whole 5 ms slice while every other
    request waits on that lock."""
    sys.setswitchinterval(0.001)


def post_worker_init(worker: Any) -> None:
    """Once the application is loaded: the collector settled for a long-running process
    (plumbing.heap: start-up's objects frozen out of its sight, young objects collected less often),
    and the PDF engine loaded in the background (crm.lib.pdf.pdf_warm)."""
    import threading

    from crm.lib.pdf import pdf_warm
    from plumbing.heap import settle_after_startup

    settle_after_startup()
    # The PDF engine loaded beside the first requests rather than in the first PDF's (seconds).
    threading.Thread(target=pdf_warm, name="pdf-warm", daemon=True).start()
