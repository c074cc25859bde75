"""Email templates, outgoing emails, automation rules and their run log."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.context import history_user

template_key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,59}$", _("Use lower-case letters, digits and underscores, starting with a letter."),
)


class EmailTemplate(models.Model):
    """One email of one brand in one language, e.g. ("kyc_reminder", "ar").

    Subject and body are text in a restricted Django template language (crm.email_templates);
    the HTML version is made from the text. Sending picks the client's language, then the
    brand's default language, then English.
    """

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="email_templates")
    key = models.CharField(max_length=60, validators=[template_key_validator])
    language = models.CharField(max_length=8)
    description = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=255)
    body = models.TextField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand__name", "key", "language"]
        constraints: ClassVar = [
            # The fallback chain looks a template up by exactly these three.
            models.UniqueConstraint(fields=["brand", "key", "language"], name="email_template_one_per_language"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.language})"


class EmailStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class OutboundEmail(models.Model):
    """An email rendered for one client and handed to a Celery worker to send.

    The row is written in the sender's transaction; the worker locks it, sends, and marks it sent
    (emitting "email.sent"), so a message queued twice is still sent once. SMTP failures are
    retried with backoff; the last one marks it failed ("email.failed").
    """

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="outbound_emails")
    template = models.ForeignKey(EmailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    template_key = models.CharField(max_length=60, blank=True)
    language = models.CharField(max_length=8, blank=True)
    to_email = models.EmailField()
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField()
    status = models.CharField(max_length=8, choices=EmailStatus.choices, default=EmailStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Who asked for it: a user's email or "automation:<rule>"; request_id ties "email.sent" to its chain.
    sent_by = models.CharField(max_length=200, blank=True)
    # The member of staff who wrote it (the composer on the profile); none for automation's emails.
    author = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(F("client"), F("created_at").desc(), name="outbound_email_client_idx"),
            # The sweep that re-queues messages whose task was lost looks only at queued ones.
            models.Index(fields=["next_attempt_at"], condition=Q(status="queued"), name="outbound_email_queued_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to_email}"


class AutomationRule(models.Model):
    """When `trigger` happens to a client of `brand` (or `delay_hours` after it, unless one of
    `cancel_on` happened in between) and every condition holds, run the actions in order.

    `conditions` is a list of {"field", "operator", "value"} (all must hold); `actions` a list of
    {"type", ...parameters}. Both are validated by crm.automation before they are stored.
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
    event = models.ForeignKey("crm.Event", on_delete=models.CASCADE, related_name="+")
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


__all__ = ["AutomationRule", "AutomationRun", "EmailStatus", "EmailTemplate", "OutboundEmail", "RunStatus"]
