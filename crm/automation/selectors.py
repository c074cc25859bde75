"""Reads of rules and runs for the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from crm.automation.playbook import PLAYBOOK_EVENTS
from crm.automation.rules import EVENT_NAME_RE
from crm.models import AutomationRule, AutomationRun, Brand, Client


def automation_rules(*, brand: Brand | None = None) -> QuerySet[AutomationRule]:
    qs = AutomationRule.objects.select_related("brand")
    if brand is not None:
        qs = qs.filter(brand=brand)
    return qs.order_by("brand__name", "order", "id")


def automation_run_list(*, rule: AutomationRule | None = None, status: str = "", client: Client | None = None,
                        brand: Brand | None = None) -> QuerySet[AutomationRun]:
    """The run log, newest first, narrowed by each given filter."""
    qs = AutomationRun.objects.select_related("rule", "event", "client")
    if rule is not None:
        qs = qs.filter(rule=rule)
    if status:
        qs = qs.filter(status=status)
    if client is not None:
        qs = qs.filter(client=client)
    if brand is not None:
        qs = qs.filter(brand=brand)
    return qs.order_by("-created_at", "-id")


def known_event_names() -> list[str]:
    """Event names a trigger can be chosen from: the event catalogue, the timeline's registry and
    those rules already use."""
    from crm.event_catalogue import declared
    from crm.timeline import registered_names

    names = set(registered_names()) | {event.name for event in declared()}
    names.update(AutomationRule.objects.values_list("trigger", flat=True).distinct())
    names.update(PLAYBOOK_EVENTS)
    return sorted(n for n in names if EVENT_NAME_RE.match(n))
