from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.exceptions import EventDeliveryTransitionRefused
from crm.lib.states import StateMachine


class Event(models.Model):
    """A domain event, written in the emitter's transaction (the outbox) and delivered after commit.

    Rows are never changed except `dispatched_at`, set once every registered handler has been
    given the event. A client's timeline is read from these rows.

    The table is partitioned by month on `occurred_at` (crm migration 0026, crm.lib.partitions): its
    primary key in the database is (id, occurred_at) and the uuid is unique with occurred_at (a
    partitioned table's unique keys hold its partition key). `id` stays the model's key: ids come
    from one sequence. Other tables' foreign keys to it are db_constraint=False; their cascades are
    the ORM's.
    """

    # Made by uuid4 here, never given from outside; receivers dedupe by it.
    uuid = models.UUIDField(editable=False, default=uuid.uuid4)
    name = models.CharField(max_length=80)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, null=True, blank=True, related_name="events",
                               db_index=False)  # event_client_timeline_idx
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["uuid", "occurred_at"], name="event_uuid_unique"),
        ]
        indexes: ClassVar = [
            models.Index(F("client"), F("occurred_at").desc(), F("id").desc(), name="event_client_timeline_idx"),
            # The dispatcher only ever scans undelivered events: keep that index tiny.
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True), name="event_undispatched_idx"),
            models.Index(fields=["name", "-occurred_at"], name="event_name_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class DeliveryStatus(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Failed, gave up")


class EventDelivery(models.Model):
    """One handler's receipt of one event. Its existence as SUCCEEDED is what makes a handler run once."""

    # No constraint in the database: Event is partitioned (its cascade is the ORM's).
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False)
    handler = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["event", "handler"], name="event_delivery_once_per_handler"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="failed"), name="delivery_retry_due_idx"),
            models.Index(fields=["-updated_at"], condition=~Q(status="succeeded"), name="delivery_problem_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.handler} ({self.status})"


# --- the delivery's lifecycle (crm.lib.states) -----------------------------------------------------

def _delivery_refused(old: str, new: str) -> str:
    return gettext("An event delivery that is %(from)s cannot become %(to)s.") % {
        "from": str(DeliveryStatus(old).label).lower(), "to": str(DeliveryStatus(new).label).lower()}


# A delivery row is written with its first attempt's outcome (crm.events: succeeded, failed, or dead
# when the attempts are used up). A failed one is tried again until it succeeds or gives up; an
# administrator may run a dead one again (it stays dead if it fails) or queue it for a retry
# (failed again, due now), many in one statement. One that succeeded is never run again.
EVENT_DELIVERY_STATES = StateMachine(
    name="event delivery", model="crm.EventDelivery", states=DeliveryStatus,
    transitions={
        DeliveryStatus.FAILED: frozenset({DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.DEAD}),
        DeliveryStatus.DEAD: frozenset({DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.DEAD}),
        DeliveryStatus.SUCCEEDED: frozenset(),
    },
    terminal=frozenset({DeliveryStatus.SUCCEEDED}),
    error=EventDeliveryTransitionRefused, message=_delivery_refused,
)
