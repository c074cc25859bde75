"""Reads that can wait a moment go to a read replica, when one is configured (DATABASE_REPLICA_URL).

Which reads: the heavy read-only pages (dashboards, reports, lists: REPLICA_READ_VIEWS, or a view
marked with `@replica_reads`) on GET, and any code inside `with reads_from_replica():` (exports and
report builds). Everything else, and every write, uses the primary.

Three guards keep a user from seeing stale data or an error:

- read-your-writes: after a user's POST (or PUT, PATCH, DELETE) a cookie keeps their next requests
  on the primary for REPLICA_PIN_SECONDS, and a write inside a request keeps the rest of that
  request on the primary;
- lag: the replica is used only while its replay is less than REPLICA_MAX_LAG_SECONDS behind (asked
  of the replica itself, at most every REPLICA_LAG_CHECK_SECONDS per process);
- failure: a replica that does not answer counts as lagging, and the primary serves.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse

from crm.lib.middleware import Middleware

logger = logging.getLogger(__name__)

REPLICA = "replica"
PIN_COOKIE = "crm_primary_until"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_wants_replica: ContextVar[bool] = ContextVar("crm_wants_replica", default=False)
_pinned: ContextVar[bool] = ContextVar("crm_pinned_to_primary", default=False)
_lag_checked: dict[str, float] = {"at": -1e9, "ok": 0.0}

LAG_SQL = """
SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9) END
"""


def replica_configured() -> bool:
    return REPLICA in connections.settings


def replica_lag_seconds() -> float | None:
    """How far the replica's replay is behind (0 when caught up); None when it does not answer."""
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL)
            row = cursor.fetchone()
            return float(row[0]) if row else None
    except Exception:
        logger.warning("read replica not answering; reads stay on the primary", exc_info=True)
        with contextlib.suppress(Exception):
            connections[REPLICA].close()
        return None


def replica_usable() -> bool:
    """Whether the replica is within the lag limit (checked at most every REPLICA_LAG_CHECK_SECONDS)."""
    now = time.monotonic()
    if now - _lag_checked["at"] >= float(getattr(settings, "REPLICA_LAG_CHECK_SECONDS", 2)):
        lag = replica_lag_seconds()
        _lag_checked["ok"] = float(lag is not None and lag <= float(getattr(settings, "REPLICA_MAX_LAG_SECONDS", 5)))
        _lag_checked["at"] = now
    return bool(_lag_checked["ok"])


@contextlib.contextmanager
def reads_from_replica() -> Iterator[None]:
    """Reads inside go to the replica (when configured, caught up, and nothing was written here)."""
    token = _wants_replica.set(True)
    try:
        yield
    finally:
        _wants_replica.reset(token)


@contextlib.contextmanager
def scope(*, pinned: bool = False) -> Iterator[None]:
    """One unit of work (a request, a task): nothing marked for the replica yet, pinned to the primary
    only if told; whatever it writes pins only itself."""
    pin, wants = _pinned.set(pinned), _wants_replica.set(False)
    try:
        yield
    finally:
        _pinned.reset(pin)
        _wants_replica.reset(wants)


def pin_to_primary() -> None:
    """The rest of this request (or task) reads from the primary."""
    _pinned.set(True)


def replica_reads[F: Callable[..., Any]](view: F) -> F:
    """Mark a read-only view whose GETs may be served from the replica."""
    view.replica_reads = True  # type: ignore[attr-defined]  # a mark on the function, read by the router
    return view


class ReplicaRouter:
    """DATABASE_ROUTERS entry: see the module docstring."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if not _wants_replica.get() or _pinned.get() or not replica_configured():
            return None
        return REPLICA if replica_usable() else None

    def db_for_write(self, model: Any, **hints: Any) -> str:
        pin_to_primary()  # read-your-writes within the request
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica is a copy of the same database

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db != REPLICA and None


class ReplicaMiddleware(Middleware):
    """Per request: which reads may go to the replica, and the read-your-writes cookie."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured():
            return self.get_response(request)
        try:
            until = float(request.COOKIES.get(PIN_COOKIE, "0"))
        except ValueError:
            until = 0.0
        with scope(pinned=until > time.time() or request.method in UNSAFE_METHODS):
            response = self.get_response(request)
        if request.method in UNSAFE_METHODS:
            seconds = int(getattr(settings, "REPLICA_PIN_SECONDS", 5))
            response.set_cookie(PIN_COOKIE, f"{time.time() + seconds:.3f}", max_age=seconds, httponly=True,
                                samesite="Lax", secure=request.is_secure())
        return response

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        if request.method not in ("GET", "HEAD"):
            return
        match = request.resolver_match
        named = match.url_name if match is not None else None
        if getattr(view_func, "replica_reads", False) or named in getattr(settings, "REPLICA_READ_VIEWS", ()):
            _wants_replica.set(True)
