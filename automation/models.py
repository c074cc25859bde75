"""Automation rules and their run log."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from automation.exceptions import RunTransitionRefused
from crm.lib.states import StateMachine
from plumbing.context import history_user


class AutomationRule(models.Model):
    """When `trigger` happens to a client of `brand` (or `delay_hours` after it, unless one of
    `cancel_on` happened in between) and every condition holds, run the actions in order.

    `conditions` is a list of {"field", "operator", "value"} (all must hold); `actions` a list of
    {"type", ...parameters}. Both are validated by automation.services before they are stored.
    """

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="automation_rules")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    trigger = models.CharField(max_length=80)
    delay_hours = models.PositiveIntegerField(default=0)
    cancel_on = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    conditions = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list)
    stop_processing = models.BooleanField(default=False)
    order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand__name", "order", "id"]
        constraints: ClassVar = [
            # Rules are named in the audit trail ("automation:<name>") and seeded by name.
            models.UniqueConstraint(fields=["brand", "name"], name="automation_rule_unique_name"),
        ]
        indexes: ClassVar = [
            # Every domain event asks: which active rules of this brand does it trigger, in order?
            models.Index(fields=["brand", "trigger", "order"], condition=Q(is_active=True),
                         name="automation_rule_trigger_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    FIRED = "fired", _("Fired")
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    SCHEDULED = "scheduled", _("Scheduled")


class AutomationRun(models.Model):
    """One rule's verdict on one event: fired, skipped (and why), failed, scheduled or cancelled.

    `why` holds the evaluated conditions, each action's result and a reason code with its
    parameters. `chain` is the id shared by an event and every event automation caused from it
    (it is the request id those events carry); it stops a rule from re-triggering itself for the
    same client.
    """

    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="runs")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    # No constraint in the database: the event outbox (crm.Event) is partitioned (the cascade is the ORM's).
    event = models.ForeignKey("crm.Event", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="automation_runs")
    status = models.CharField(max_length=10, choices=RunStatus.choices)
    why = models.JSONField(default=dict, blank=True)
    chain = models.CharField(max_length=64)
    depth = models.PositiveSmallIntegerField(default=0)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints: ClassVar = [
            # A rule judges an event once, however often the event is delivered.
            models.UniqueConstraint(fields=["rule", "event"], name="automation_run_once_per_event"),
            models.CheckConstraint(condition=~Q(status="scheduled") | Q(scheduled_for__isnull=False),
                                   name="automation_run_scheduled_has_time"),
        ]
        indexes: ClassVar = [
            # The beat task scans only runs still waiting; keep that index small.
            models.Index(fields=["scheduled_for"], condition=Q(status="scheduled"), name="automation_run_due_idx"),
            # A cancel event looks for the client's waiting runs.
            models.Index(fields=["client"], condition=Q(status="scheduled"), name="automation_run_waiting_idx"),
            models.Index(fields=["chain", "client"], name="automation_run_chain_idx"),
            # The run log: newest first, overall and narrowed by rule, client or status.
            models.Index(F("created_at").desc(), F("id").desc(), name="automation_run_recent_idx"),
            models.Index(F("rule"), F("created_at").desc(), name="automation_run_rule_idx"),
            models.Index(F("client"), F("created_at").desc(), name="automation_run_client_idx"),
            models.Index(F("status"), F("created_at").desc(), name="automation_run_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.event_id} {self.status}"


# --- the run's lifecycle (crm.lib.states) --------------------------------------------------------------

def _run_refused(old: str, new: str) -> str:
    return gettext("An automation run that is %(from)s cannot become %(to)s.") % {
        "from": str(RunStatus(old).label).lower(), "to": str(RunStatus(new).label).lower()}


# A run is written with the rule's verdict (automation.runner): fired (its actions run at once),
# skipped, or scheduled. A fired run whose action fails becomes failed (its actions rolled back). A
# scheduled run is settled once when it is due: fired (then failed if an action fails), skipped (its
# conditions no longer hold) or cancelled (a cancelling event, the rule switched off, the client gone).
RUN_STATES = StateMachine(
    name="automation run", model="automation.AutomationRun", states=RunStatus,
    transitions={
        RunStatus.SCHEDULED: frozenset({RunStatus.FIRED, RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.CANCELLED}),
        RunStatus.FIRED: frozenset({RunStatus.FAILED}),
        RunStatus.FAILED: frozenset(),
        RunStatus.SKIPPED: frozenset(),
        RunStatus.CANCELLED: frozenset(),
    },
    terminal=frozenset({RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.CANCELLED}),
    error=RunTransitionRefused, message=_run_refused,
)


__all__ = ["RUN_STATES", "AutomationRule", "AutomationRun", "RunStatus"]
