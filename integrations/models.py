"""Outbound webhooks: integrators' subscribers to the domain event stream and the delivery log
(integrations.services sends them). Moved from crm with their rows (crm 0034 renamed the tables)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.states import StateMachine
from integrations.exceptions import WebhookDeliveryTransitionRefused
from plumbing.context import history_user


class SubscriberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")


class WebhookSubscriber(models.Model):
    """An API client's (an ApiKey's) wish to receive events of some types at a URL.

    Signing secrets are stored encrypted (integrations.services.CIPHER). During a key change both the new
    `secret` and the `previous_secret` sign every delivery until the previous one is retired.
    `failing_since` is the first failed attempt since the last delivered one: a subscriber that
    has failed for CRM_WEBHOOK_PAUSE_AFTER is paused and its owner told.
    """

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    api_key = models.ForeignKey("crm.ApiKey", on_delete=models.PROTECT, related_name="webhook_subscribers")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")  # the key's brand
    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    event_types = ArrayField(models.CharField(max_length=80), default=list)
    scopes = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    secret = models.TextField()  # encrypted
    previous_secret = models.TextField(blank=True)  # encrypted; "" when no key change is under way
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=SubscriberStatus.choices, default=SubscriberStatus.ACTIVE)
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=300, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(get_user=history_user, excluded_fields=["failing_since", "secret", "previous_secret"])

    class Meta:
        ordering = ["name", "id"]
        indexes: ClassVar = [
            # The event handler looks up a brand's active subscribers for every event.
            models.Index(fields=["brand"], condition=Q(status="active"), name="webhooksub_active_brand_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    FAILED = "failed", _("Failed, will retry")
    DELIVERED = "delivered", _("Delivered")
    DEAD = "dead", _("Failed, gave up")


OPEN_STATUSES = ("pending", "sending", "failed")


class WebhookDelivery(models.Model):
    """One event for one subscriber: the body built once, then sent until the receiver answers 2xx.

    `delivery_id` is what the receiver dedupes by (the X-CRM-Delivery header and the body's
    `delivery_id`); a replay sends the same id again. `order_key` is the event's client (0 for
    an event without one): a delivery waits while an earlier one of its subscriber with the same
    key is still open (pending, sending or failed).
    """

    delivery_id = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    subscriber = models.ForeignKey(WebhookSubscriber, on_delete=models.CASCADE, related_name="deliveries")
    # No constraint in the database: crm_event is partitioned (the cascade is the ORM's).
    event = models.ForeignKey("crm.Event", on_delete=models.CASCADE, related_name="+", db_index=False,
                              db_constraint=False)
    event_name = models.CharField(max_length=80)
    order_key = models.BigIntegerField(default=0)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=WebhookDeliveryStatus.choices,
                              default=WebhookDeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    replay_requested = models.BooleanField(default=False)  # the next attempt is a person's replay
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_response = models.CharField(max_length=500, blank=True)  # an excerpt of the receiver's answer
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["subscriber", "event"], name="webhookdelivery_once_per_event"),
        ]
        indexes: ClassVar = [
            # The sender's scan: the open head of each (subscriber, client) queue. Tiny, since
            # delivered and dead rows leave it.
            models.Index(fields=["subscriber", "order_key", "id"], condition=Q(status__in=OPEN_STATUSES),
                         name="webhookdelivery_open_idx"),
            models.Index(fields=["subscriber", "-id"], name="webhookdelivery_log_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} -> {self.subscriber_id} ({self.status})"


# --- the delivery's lifecycle (crm.lib.states) ---------------------------------------------------------

def _delivery_refused(old: str, new: str) -> str:
    return gettext("A webhook delivery that is %(from)s cannot become %(to)s.") % {
        "from": str(WebhookDeliveryStatus(old).label).lower(), "to": str(WebhookDeliveryStatus(new).label).lower()}


REPLAY_ROUTE = "replay"
# Pending until a sender claims it (sending); the attempt's outcome makes it delivered, failed (tried
# again after a backoff, claimed again) or dead (out of attempts). A claim that runs out (the worker
# died) goes back as failed; one given back unsent goes back as it was (pending before its first
# attempt, failed after). A person's replay (the route) queues any delivery not being sent again,
# delivered and dead ones too, so no state is an end. integrations.services moves them set-based:
# each statement's WHERE is the sources of its new status (WEBHOOK_DELIVERY_STATES.sources).
WEBHOOK_DELIVERY_STATES = StateMachine(
    name="webhook delivery", model="integrations.WebhookDelivery", states=WebhookDeliveryStatus,
    transitions={
        WebhookDeliveryStatus.PENDING: frozenset({WebhookDeliveryStatus.SENDING}),
        WebhookDeliveryStatus.SENDING: frozenset({WebhookDeliveryStatus.DELIVERED, WebhookDeliveryStatus.FAILED,
                                                  WebhookDeliveryStatus.DEAD, WebhookDeliveryStatus.PENDING}),
        WebhookDeliveryStatus.FAILED: frozenset({WebhookDeliveryStatus.SENDING}),
        WebhookDeliveryStatus.DELIVERED: frozenset(),
        WebhookDeliveryStatus.DEAD: frozenset(),
    },
    routes={REPLAY_ROUTE: {state: frozenset({WebhookDeliveryStatus.PENDING}) for state in (
        WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.FAILED, WebhookDeliveryStatus.DELIVERED,
        WebhookDeliveryStatus.DEAD)}},
    terminal=frozenset(),  # none: a replay sends a delivered or dead delivery again
    error=WebhookDeliveryTransitionRefused, message=_delivery_refused,
)


class WebhookAttempt(models.Model):
    """One POST of a delivery and what came back (an append-only log; a replay adds attempts)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)  # "timeout", a connection error
    response = models.CharField(max_length=500, blank=True)
    replay = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"


class ImportedRef(models.Model):
    """What one row of another CRM's export became here (integrations.moving_in): the old system's id
    kept for good, so that a second run of the same export changes nothing and a later export (the
    same ids, changed fields, new rows) changes only what changed. `values` are the row's values as
    last imported (a later row is compared with them); `object_code` is the CRM object's code (a
    client's, a note's ...) or, for money, the last posting's idempotency key."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=64)  # the old system's name, from the folder's mapping.json
    kind = models.CharField(max_length=20)  # staff, client, note, call, task, account, balance, transaction
    old_id = models.CharField(max_length=200)
    object_code = models.CharField(max_length=200, blank=True)
    client_code = models.UUIDField(null=True, blank=True)  # the client the object belongs to
    values = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            # One CRM object per old id: the idempotency of a re-run rests on it.
            models.UniqueConstraint(fields=["brand", "source", "kind", "old_id"], name="imported_ref_once"),
        ]
        indexes: ClassVar = [
            # "Which old record is this client?" from the client's page and the search by old id.
            models.Index(fields=["client_code"], name="imported_ref_client_idx"),
            models.Index(fields=["old_id"], name="imported_ref_old_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.kind} {self.old_id}"
