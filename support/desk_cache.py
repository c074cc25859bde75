"""A per-process cache of each desk's SLA setup (its business calendar, its SLA policies per priority
and its assignment rules), so that opening a ticket (one per new mail) does not read them again
each time: three round trips of the eighteen a new mail took.

An entry is used only while the shared version in Redis is the one it was cached under and for at
most CACHE_SECONDS. Saving or deleting a desk, a holiday, a policy or a rule (anywhere: service,
admin, shell; a model signal) bumps the version now and again when the transaction commits: the
process that made the change drops its entries at once, every other process within
VERSION_CHECK_SECONDS (it reads the version at most that often). Without Redis nothing is cached.

A calendar is also keyed by the desk's zone and hours as the caller's desk row has them, so a desk
changed behind the signals' back (a queryset update) gets its new calendar as soon as it is read
again. Rules are cached without their assignee: whether that person may still work the ticket is
read when a rule is used (support.services.assignee_for).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.db import transaction

from crm.lib.redis import get_redis
from support.models import AssignmentRule, DeskHoliday, SLAPolicy, SupportDesk
from support.sla import BusinessCalendar

logger = logging.getLogger(__name__)

VERSION_KEY = "support:desk-setup:version"
VERSION_CHECK_SECONDS = 1.0
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class _Entry:
    version: str
    at: float
    value: Any


_entries: dict[tuple[Any, ...], _Entry] = {}
_version: tuple[str, float] | None = None
_lock = threading.Lock()


def _current_version() -> str | None:
    """The shared version, read from Redis at most every VERSION_CHECK_SECONDS per process; None
    without Redis (then nothing is cached)."""
    global _version
    now = time.monotonic()
    if _version is not None and now - _version[1] < VERSION_CHECK_SECONDS:
        return _version[0]
    try:
        value = get_redis().get(VERSION_KEY)
    except redis.RedisError:
        _version = None
        return None
    if isinstance(value, bytes):
        value = value.decode()
    text = str(value) if value is not None else "0"
    _version = (text, now)
    return text


def _cached(key: tuple[Any, ...], load: Any) -> Any:
    version = _current_version()
    entry = _entries.get(key)
    if (
        version is not None
        and entry is not None
        and entry.version == version
        and time.monotonic() - entry.at <= CACHE_SECONDS
    ):
        return entry.value
    value = load()
    if version is not None:
        with _lock:
            if len(_entries) > 10_000:  # desks are few; this only bounds memory
                _entries.clear()
            _entries[key] = _Entry(version, time.monotonic(), value)
    return value


def desk_calendar(desk: SupportDesk) -> BusinessCalendar:
    """The desk's business calendar: its zone and weekly hours (as `desk` has them) and its holidays.
    Raises crm.lib.validation.InvalidValue as BusinessCalendar does for stored settings that are not
    a calendar (never cached)."""

    def load() -> BusinessCalendar:
        holidays = DeskHoliday.objects.filter(desk_id=desk.pk).values_list("day", flat=True)
        return BusinessCalendar(
            time_zone=desk.time_zone, business_hours=desk.business_hours, holidays=list(holidays)
        )

    hours = json.dumps(desk.business_hours, sort_keys=True, default=str)
    calendar: BusinessCalendar = _cached(("calendar", desk.pk, desk.time_zone, hours), load)
    return calendar


def desk_policies(desk_id: int) -> dict[str, SLAPolicy]:
    """The desk's SLA policies by priority (treat as read-only: they are shared)."""

    def load() -> dict[str, SLAPolicy]:
        return {p.priority: p for p in SLAPolicy.objects.filter(desk_id=desk_id).order_by("pk")}

    policies: dict[str, SLAPolicy] = _cached(("policies", desk_id), load)
    return policies


def desk_rules(desk_id: int) -> list[AssignmentRule]:
    """The desk's assignment rules in their order, without their assignees (read-only, shared)."""

    def load() -> list[AssignmentRule]:
        return list(AssignmentRule.objects.filter(desk_id=desk_id).order_by("order", "pk"))

    rules: list[AssignmentRule] = _cached(("rules", desk_id), load)
    return rules


def _bump() -> None:
    global _version
    with _lock:
        _entries.clear()
    _version = None
    try:
        get_redis().incr(VERSION_KEY)
    except redis.RedisError:
        logger.warning("support desk setup cache version not bumped: Redis unavailable", exc_info=True)


def invalidate() -> None:
    """Drop every process's cached desk setup, now and again once the current transaction commits
    (a reader in between could cache what is about to change)."""
    _bump()
    transaction.on_commit(_bump, robust=True)


def on_changed(sender: Any, **kwargs: Any) -> None:
    # Cache invalidation only (no domain behaviour hangs on it), so a model signal is the safe
    # place: it also catches a desk changed in the Django admin or a shell.
    invalidate()


def connect() -> None:
    """Bump the version whenever a desk, holiday, policy or rule is saved or deleted (SupportConfig.ready)."""
    from django.db.models.signals import post_delete, post_save

    for model in (SupportDesk, DeskHoliday, SLAPolicy, AssignmentRule):
        post_save.connect(on_changed, sender=model, dispatch_uid=f"support-desk-cache-{model.__name__}-save")
        post_delete.connect(
            on_changed, sender=model, dispatch_uid=f"support-desk-cache-{model.__name__}-delete"
        )
