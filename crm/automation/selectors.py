"""Reads of rules and runs for the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from crm.automation.playbook import playbook_events
from crm.automation.rules import EVENT_NAME_RE
from crm.models import AutomationRule, AutomationRun, Brand


def automation_rules(*, brand: Brand | None = None) -> QuerySet[AutomationRule]:
    qs = AutomationRule.objects.select_related("brand")
    if brand is not None:
        qs = qs.filter(brand=brand)
    return qs.order_by("brand__name", "order", "id")


def automation_run_list() -> QuerySet[AutomationRun]:
    """The run log, newest first (its page narrows it with crm.filters.RunFilter)."""
    return AutomationRun.objects.select_related("rule", "event", "client").order_by("-created_at", "-id")


def known_event_names() -> list[str]:
    """Event names a trigger can be chosen from: the event catalogue, the timeline's registry and
    those rules already use."""
    from crm.event_catalogue import declared
    from crm.timeline import registered_names

    names = set(registered_names()) | {event.name for event in declared()}
    names.update(AutomationRule.objects.values_list("trigger", flat=True).distinct())
    names.update(playbook_events())
    return sorted(n for n in names if EVENT_NAME_RE.match(n))
