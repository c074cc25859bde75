"""A per-process cache of each desk's SLA setup (its business calendar, its SLA policies per priority
and its assignment rules), so that opening a ticket (one per new mail) does not read them again
each time: three round trips of the eighteen a new mail took.

Kept in a plumbing.process_cache.SharedVersionCache for at most CACHE_SECONDS: saving or deleting a
desk, a holiday, a policy or a rule (anywhere: service, admin, shell; a model signal) bumps its
version now and again when the transaction commits, so the process that made the change drops its
entries at once and every other process within a second. Without Redis nothing is cached.

A calendar is also keyed by the desk's zone and hours as the caller's desk row has them, so a desk
changed behind the signals' back (a queryset update) gets its new calendar as soon as it is read
again. Rules are cached without their assignee: whether that person may still work the ticket is
read when a rule is used (support.services.assignee_for).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from crm.lib.redis import get_redis
from plumbing.process_cache import SharedVersionCache
from support.models import AssignmentRule, DeskHoliday, SLAPolicy, SupportDesk
from support.sla import BusinessCalendar

CACHE_SECONDS = 60.0

_cache = SharedVersionCache("support:desk-setup:version", client=lambda: get_redis(), ttl=CACHE_SECONDS,
                            after_commit=lambda bump: transaction.on_commit(bump, robust=True))
_cached = _cache.cached


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


def invalidate() -> None:
    """Drop every process's cached desk setup, now and again once the current transaction commits
    (a reader in between could cache what is about to change)."""
    _cache.invalidate()


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
