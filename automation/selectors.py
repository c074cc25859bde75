"""Reads of rules and runs for the pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from automation.models import AutomationRule, AutomationRun, RunStatus
from automation.playbook import playbook_events
from automation.rules import EVENT_NAME_RE
from crm.events.catalogue import RuleListener
from crm.models import Brand


def automation_rules(*, brand: Brand | None = None) -> QuerySet[AutomationRule]:
    qs = AutomationRule.objects.select_related("brand")
    if brand is not None:
        qs = qs.filter(brand=brand)
    return qs.order_by("brand__name", "order", "id")


def automation_run_list() -> QuerySet[AutomationRun]:
    """The run log, newest first (its page narrows it with automation.filters.RunFilter). Not joined
    to the events: a run whose event's month was archived stays in the log (RunTable loads the
    events of the page it shows)."""
    return AutomationRun.objects.select_related("rule", "client").order_by("-created_at", "-id")


def known_event_names() -> list[str]:
    """Event names a trigger can be chosen from: the event catalogue, the timeline's registry and
    those rules already use."""
    from crm.events.catalogue import declared
    from crm.registry import TIMELINE

    names = {str(name) for name in TIMELINE.keys()} | {event.name for event in declared()}
    names.update(AutomationRule.objects.values_list("trigger", flat=True).distinct())
    names.update(playbook_events())
    return sorted(n for n in names if EVENT_NAME_RE.match(n))


def catalogue_rule_listeners() -> Iterator[tuple[str, RuleListener]]:
    """The rules listening to each event, for the event catalogue: a rule's trigger, and the events
    that cancel its delayed run. One query."""
    for rule in AutomationRule.objects.select_related("brand").order_by("brand__name", "name"):
        for name, cancels in [(rule.trigger, False), *((n, True) for n in rule.cancel_on or [])]:
            yield name, RuleListener(brand=rule.brand.name, name=rule.name, code=str(rule.code),
                                     is_active=rule.is_active, cancels=cancels)


def automation_archive_check(cur: Any, candidate: Any) -> None:
    """Before a month of the event outbox is archived (a crm.lib.partitions ArchiveHook): refused while
    runs waiting on its events are scheduled (firing one reads its event)."""
    from crm.events import archive_refusal
    from crm.lib.partitions import PartitionArchiveError, month_range

    if not candidate.attached:
        return
    start, end = month_range(candidate.month)
    waiting = AutomationRun.objects.filter(status=RunStatus.SCHEDULED, event__occurred_at__gte=start,
                                           event__occurred_at__lt=end).count()
    if waiting:
        raise PartitionArchiveError(archive_refusal(candidate.month, [f"{waiting} automation runs scheduled"]))
