"""Marketing's email sequences (drips, marketing.sequences): a brand's series of emails that starts
for a client when something happens to them (they register, are verified, deposit first, or stay
idle N days) and stops when they reach the sequence's goal. Imported by marketing.models, so that
Django finds them there."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.states import StateMachine, TransitionRefused


class SequenceTransitionRefused(TransitionRefused):
    default_code = "sequence_transition_refused"


class EnrollmentTransitionRefused(TransitionRefused):
    default_code = "sequence_enrollment_transition_refused"


class SequenceTrigger(models.TextChoices):
    REGISTERED = "registered", _("Registered in the trader's room")
    KYC_VERIFIED = "kyc_verified", _("KYC verified")
    FIRST_DEPOSIT = "first_deposit", _("First deposit")
    INACTIVE_DAYS = "inactive_days", _("Idle for N days")


class SequenceGoal(models.TextChoices):
    KYC_VERIFIED = "kyc_verified", _("KYC verified")
    FIRST_DEPOSIT = "first_deposit", _("First deposit")
    TRADE = "trade", _("First trade")
    NONE = "none", _("None: every step is sent")


class SequenceStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")


class Sequence(models.Model):
    """A brand's drip: clients are enrolled by `trigger` while it is active, mailed its steps, and
    leave it when `goal` happens. Paused: nobody is enrolled and no step is sent (due steps wait)."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    trigger = models.CharField(_("starts when"), max_length=16, choices=SequenceTrigger.choices)
    inactive_days = models.PositiveSmallIntegerField(_("idle days"), null=True, blank=True)
    goal = models.CharField(_("ends when"), max_length=16, choices=SequenceGoal.choices)
    status = models.CharField(max_length=8, choices=SequenceStatus.choices, default=SequenceStatus.ACTIVE)
    channel = models.CharField(_("channel"), max_length=8, default="email")
    # The day the idle clients were last looked for (trigger inactive_days: once a day).
    inactive_checked_on = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["name"]
        constraints: ClassVar = [
            # A sequence is found by name on the brand's list and in the demo.
            models.UniqueConstraint(fields=["brand", "name"], name="marketing_sequence_unique_name"),
            # Idle days belong to the idle trigger, and it needs them.
            models.CheckConstraint(
                condition=Q(trigger="inactive_days", inactive_days__gte=1)
                | (~Q(trigger="inactive_days") & Q(inactive_days__isnull=True)),
                name="marketing_sequence_inactive_days",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SequenceStep(models.Model):
    """One email of a sequence, sent `delay_hours` after the client was enrolled (steps are in
    `order`, their delays never decreasing); subject and body in the emails app's sandboxed
    template language, as campaign variants."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    delay_hours = models.PositiveIntegerField(_("after (hours from enrolment)"))
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("body"))

    class Meta:
        ordering: ClassVar = ["order"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["sequence", "order"], name="marketing_sequence_step_order"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence_id} #{self.order}"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", _("In the sequence")
    COMPLETED = "completed", _("Completed: every step sent")
    GOAL_REACHED = "goal_reached", _("Goal reached")
    STOPPED_NO_CONSENT = "stopped_no_consent", _("Stopped: no consent")
    EXITED = "exited", _("Exited")


class SequenceEnrollment(models.Model):
    """A client in a sequence: the step due next (its `order`) and when. A client is in a sequence
    once, ever: a second trigger does not start it again."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=20, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE)
    started_at = models.DateTimeField()
    next_step = models.PositiveSmallIntegerField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints: ClassVar = [
            # In a sequence once, ever: a re-trigger (or two deliveries of one event) enrols nobody twice.
            models.UniqueConstraint(fields=["sequence", "client"], name="marketing_enrollment_once"),
        ]
        indexes: ClassVar = [
            # The minute's sender: active enrolments whose step is due.
            models.Index(
                fields=["next_due_at"], condition=Q(status="active"), name="marketing_enrollment_due"
            ),
            # A goal event ends the client's active enrolments; removing a client.
            models.Index(fields=["client"], name="marketing_enrollment_client"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence_id}: {self.client_id} {self.status}"


class StepDeliveryStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    SKIPPED_NO_CONSENT = "skipped_no_consent", _("Not sent: no consent")
    FAILED = "failed", _("Failed")


class SequenceDelivery(models.Model):
    """What became of one step for one enrolled client: its email, or why none was sent."""

    enrollment = models.ForeignKey(SequenceEnrollment, on_delete=models.CASCADE, related_name="deliveries")
    step = models.ForeignKey(SequenceStep, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=20, choices=StepDeliveryStatus.choices)
    reason = models.CharField(max_length=200, blank=True)
    email_code = models.UUIDField(null=True, blank=True)  # the emails app's OutboundEmail it became
    at = models.DateTimeField()

    class Meta:
        constraints: ClassVar = [
            # A step reaches a client once: two senders cannot both record it.
            models.UniqueConstraint(fields=["enrollment", "step"], name="marketing_sequence_delivery_once"),
        ]

    def __str__(self) -> str:
        return f"{self.enrollment_id} {self.step_id} {self.status}"


def _sequence_refused(old: str, new: str) -> str:
    return gettext("A sequence that is %(from)s cannot become %(to)s.") % {
        "from": str(SequenceStatus(old).label).lower(),
        "to": str(SequenceStatus(new).label).lower(),
    }


def _enrollment_refused(old: str, new: str) -> str:
    return gettext("An enrolment that is %(from)s cannot become %(to)s.") % {
        "from": str(EnrollmentStatus(old).label).lower(),
        "to": str(EnrollmentStatus(new).label).lower(),
    }


SEQUENCE_STATES = StateMachine(
    name="marketing sequence",
    model="marketing.Sequence",
    states=SequenceStatus,
    transitions={
        SequenceStatus.ACTIVE: frozenset({SequenceStatus.PAUSED}),
        SequenceStatus.PAUSED: frozenset({SequenceStatus.ACTIVE}),
    },
    terminal=frozenset(),
    error=SequenceTransitionRefused,
    message=_sequence_refused,
    error_field="status",
)

# An enrolment is active until its last step is sent (completed), its goal happens (goal_reached),
# a step finds no consent (stopped_no_consent) or cannot be sent at all (exited). Every end is final.
ENROLLMENT_STATES = StateMachine(
    name="marketing sequence enrollment",
    model="marketing.SequenceEnrollment",
    states=EnrollmentStatus,
    transitions={
        EnrollmentStatus.ACTIVE: frozenset(
            {
                EnrollmentStatus.COMPLETED,
                EnrollmentStatus.GOAL_REACHED,
                EnrollmentStatus.STOPPED_NO_CONSENT,
                EnrollmentStatus.EXITED,
            }
        ),
        EnrollmentStatus.COMPLETED: frozenset(),
        EnrollmentStatus.GOAL_REACHED: frozenset(),
        EnrollmentStatus.STOPPED_NO_CONSENT: frozenset(),
        EnrollmentStatus.EXITED: frozenset(),
    },
    terminal=frozenset(
        {
            EnrollmentStatus.COMPLETED,
            EnrollmentStatus.GOAL_REACHED,
            EnrollmentStatus.STOPPED_NO_CONSENT,
            EnrollmentStatus.EXITED,
        }
    ),
    error=EnrollmentTransitionRefused,
    message=_enrollment_refused,
)
