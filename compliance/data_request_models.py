"""Data-subject requests (issue 64, section 2): a client's request for a copy of their personal data
(subject access) or for its erasure, the clock it runs on, who decided it, and what the copy held and
what was withheld. Loaded by compliance.models; written only through compliance.data_requests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance.exceptions import DataRequestTransitionRefused
from crm.lib.states import StateMachine, history_writer


class DataRequestKind(models.TextChoices):
    ACCESS = "access", _("Copy of my data (access)")
    ERASURE = "erasure", _("Erasure of my data")


class DataRequestStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    IN_PROGRESS = "in_progress", _("In progress")
    FULFILLED = "fulfilled", _("Fulfilled")
    REFUSED = "refused", _("Refused")


class DataRequestChannel(models.TextChoices):
    PORTAL = "portal", _("Trader's room")
    STAFF = "staff", _("Recorded by staff")


OPEN_DATA_REQUEST_STATUSES = (DataRequestStatus.RECEIVED, DataRequestStatus.IN_PROGRESS)


class DataSubjectRequest(models.Model):
    """One request of a client about their personal data. Its clock: due one month after it was
    received (settings.DATA_REQUEST_DAYS, 30 by default). An access request is fulfilled by the
    export (a ZIP stored privately, encrypted with the brand's key, that only the client and the
    brand's officers download); what the export leaves out under AML confidentiality is listed in
    `withheld` (kinds and counts, never the content)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=DataRequestKind.choices)
    status = models.CharField(max_length=12, choices=DataRequestStatus.choices, default=DataRequestStatus.RECEIVED)
    channel = models.CharField(max_length=8, choices=DataRequestChannel.choices)
    details = models.TextField(blank=True, help_text=_("What the client said, in their words"))
    received_at = models.DateTimeField()
    due_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")  # None: the client, in the trader's room
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    refusal_reason = models.TextField(blank=True)
    job = models.ForeignKey("crm.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The archive: a private file (compliance.data_requests' store), by its random storage name.
    archive_name = models.CharField(max_length=80, blank=True)
    archive_size = models.PositiveBigIntegerField(null=True, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    contents = models.JSONField(default=dict, blank=True)  # file in the archive -> rows (or 1 for a document)
    withheld = models.JSONField(default=list, blank=True)  # [{"kind", "label", "count", "ground"}]
    outcome = models.JSONField(default=dict, blank=True)  # an erasure's result, as the erasure engine gave it
    fulfilled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["due_at", "pk"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=models.Q(kind__in=["access", "erasure"]), name="compliance_dsr_kind_valid"),
            models.CheckConstraint(condition=models.Q(status__in=["received", "in_progress", "fulfilled", "refused"]),
                                   name="compliance_dsr_status_valid"),
            models.CheckConstraint(condition=models.Q(due_at__gt=models.F("received_at")),
                                   name="compliance_dsr_due_after_received"),
            # A refusal always says why (the client is told).
            models.CheckConstraint(condition=~models.Q(status="refused") | ~models.Q(refusal_reason=""),
                                   name="compliance_dsr_refusal_has_reason"),
            # One open request of a kind per client: a second click adds nothing to the queue.
            models.UniqueConstraint(fields=["client", "kind"], condition=models.Q(status__in=["received", "in_progress"]),
                                    name="compliance_dsr_one_open_per_kind"),
        ]
        indexes: ClassVar = [
            # The officers' queue: open requests by due date.
            models.Index(fields=["due_at"], condition=models.Q(status__in=["received", "in_progress"]),
                         name="compliance_dsr_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"data request {self.code} ({self.kind}) of client {self.client_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DATA_REQUEST_STATUSES

    def days_left(self, when: dt.datetime) -> int:
        """Whole days to the due date, counted from `when`; negative: overdue by that many whole days
        (at least one)."""
        return (self.due_at - when).days if self.due_at >= when else -max(1, (when - self.due_at).days)

    def overdue_at(self, when: dt.datetime) -> bool:
        return self.is_open and when > self.due_at


class DataRequestStep(models.Model):
    """Each move of a data-subject request (received, started, fulfilled, refused): who, when, why. Never
    changed."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="steps")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering: ClassVar = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


def _label(value: str) -> str:
    return str(DataRequestStatus(value).label).lower()


# A request's life: received -> in progress (an officer starts the export or the erasure) -> fulfilled;
# refused (with the reason) from either open state. Nothing leaves fulfilled or refused.
DATA_REQUEST_STATES = StateMachine(
    name="data-subject request", model="compliance.DataSubjectRequest", states=DataRequestStatus,
    error=DataRequestTransitionRefused,
    transitions={
        DataRequestStatus.RECEIVED: frozenset({DataRequestStatus.IN_PROGRESS, DataRequestStatus.REFUSED}),
        DataRequestStatus.IN_PROGRESS: frozenset({DataRequestStatus.FULFILLED, DataRequestStatus.REFUSED}),
        DataRequestStatus.FULFILLED: frozenset(),
        DataRequestStatus.REFUSED: frozenset(),
    },
    terminal=frozenset({DataRequestStatus.FULFILLED, DataRequestStatus.REFUSED}),
    record=history_writer(DataRequestStep, owner="request"),
    message=lambda old, new: gettext("A data request that is %(from)s cannot become %(to)s.") % {
        "from": _label(old), "to": _label(new)},
)
