"""Marketing's email campaigns (marketing.campaigns): a campaign to a segment, its A/B variants, and
one row per member of the segment's snapshot saying what became of them (a variant's email, held
out, skipped for want of consent). Imported by marketing.models, so that Django finds them there."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.money import money_fields
from crm.lib.states import StateMachine, TransitionRefused


class CampaignTransitionRefused(TransitionRefused):
    default_code = "campaign_transition_refused"


class RecipientTransitionRefused(TransitionRefused):
    default_code = "campaign_recipient_transition_refused"


class CampaignChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


class WinnerMetric(models.TextChoices):
    OPEN = "open", _("Opens")
    CLICK = "click", _("Clicks")
    DEPOSIT = "deposit", _("First deposits")


class Campaign(models.Model):
    """An email to the members of a segment, as recorded in a snapshot taken when sending starts.
    Its life: draft -> scheduled -> sending -> sent, or cancelled on the way (CAMPAIGN_STATES)."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    segment = models.ForeignKey("marketing.Segment", on_delete=models.PROTECT, related_name="campaigns")
    channel = models.CharField(
        _("channel"), max_length=8, choices=CampaignChannel.choices, default=CampaignChannel.EMAIL
    )
    status = models.CharField(max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    holdout_percent = models.PositiveSmallIntegerField(
        _("hold-out %"), default=10, validators=[MaxValueValidator(50)]
    )
    attribution_days = models.PositiveSmallIntegerField(
        _("attribution window (days)"), default=14, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    winner_metric = models.CharField(
        _("winner by"), max_length=8, choices=WinnerMetric.choices, default=WinnerMetric.CLICK
    )
    cost_amount, cost_currency = money_fields(amount_verbose="cost", null=True)
    # Who was sent to and why: the segment's members as recorded when sending started.
    snapshot = models.ForeignKey(
        "marketing.SegmentSnapshot", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    job = models.ForeignKey("crm.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        permissions: ClassVar = [("send_campaign", "Can send marketing campaigns")]
        constraints: ClassVar = [
            # A campaign is found by name on the brand's list and in the demo; two of one name would be confused.
            models.UniqueConstraint(fields=["brand", "name"], name="marketing_campaign_unique_name"),
            models.CheckConstraint(condition=Q(holdout_percent__lte=50), name="marketing_campaign_holdout"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignVariant(models.Model):
    """One version of the email (A, B): subject and body in the emails app's sandboxed template
    language, rendered per client; `share_percent` of the members not held out get it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(max_length=1)
    subject = models.CharField(_("subject"), max_length=255, blank=True)  # empty on an SMS campaign
    body = models.TextField(_("body"))
    share_percent = models.PositiveSmallIntegerField(_("share %"), validators=[MaxValueValidator(100)])

    class Meta:
        ordering: ClassVar = ["label"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["campaign", "label"], name="marketing_variant_unique_label"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.label}"


class RecipientStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    HELD_OUT = "held_out", _("Held out")
    SKIPPED_NO_CONSENT = "skipped_no_consent", _("Skipped: no consent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Not sent: campaign cancelled")


class CampaignRecipient(models.Model):
    """A member of the campaign's snapshot and what became of them. `variant` is None for the hold-out
    group (never mailed: the baseline the variants' results are compared with). `sent_at` is when
    the email was handed to the emails app's pipeline; delivery, opens and clicks follow."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    variant = models.ForeignKey(
        CampaignVariant, on_delete=models.CASCADE, null=True, blank=True, related_name="recipients"
    )
    status = models.CharField(max_length=20, choices=RecipientStatus.choices, default=RecipientStatus.QUEUED)
    reason = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    email_code = models.UUIDField(null=True, blank=True)  # the emails app's OutboundEmail it became
    sms_code = models.UUIDField(null=True, blank=True)  # or, on an SMS campaign, its SmsMessage
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_failed_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)  # texted STOP after this campaign's SMS

    class Meta:
        constraints: ClassVar = [
            # A member is recorded once: a send job run twice cannot mail them twice.
            models.UniqueConstraint(fields=["campaign", "client"], name="marketing_recipient_once"),
        ]
        indexes: ClassVar = [
            # The send job's next batch: the campaign's members still waiting.
            models.Index(
                fields=["campaign", "id"], condition=Q(status="queued"), name="marketing_recipient_queued"
            ),
            # "email.sent" / "email.failed" find the recipient by its email.
            models.Index(
                fields=["email_code"], condition=Q(email_code__isnull=False), name="marketing_recipient_email"
            ),
            # "sms.sent" / "sms.delivered" / "sms.failed" find the recipient by its SMS.
            models.Index(
                fields=["sms_code"], condition=Q(sms_code__isnull=False), name="marketing_recipient_sms"
            ),
            # A client's campaigns, and removing a client.
            models.Index(fields=["client"], name="marketing_recipient_client"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.client_id} {self.status}"


def _campaign_refused(old: str, new: str) -> str:
    return gettext("A campaign that is %(from)s cannot become %(to)s.") % {
        "from": str(CampaignStatus(old).label).lower(),
        "to": str(CampaignStatus(new).label).lower(),
    }


def _recipient_refused(old: str, new: str) -> str:
    return gettext("A recipient who is %(from)s cannot become %(to)s.") % {
        "from": str(RecipientStatus(old).label).lower(),
        "to": str(RecipientStatus(new).label).lower(),
    }


# A draft is scheduled or sent at once; a scheduled one goes back to draft or starts sending. Sending
# ends as sent once no member waits, or cancelled (the members not yet mailed stay unmailed).
CAMPAIGN_STATES = StateMachine(
    name="marketing campaign",
    model="marketing.Campaign",
    states=CampaignStatus,
    transitions={
        CampaignStatus.DRAFT: frozenset(
            {CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.CANCELLED}
        ),
        CampaignStatus.SCHEDULED: frozenset(
            {CampaignStatus.DRAFT, CampaignStatus.SENDING, CampaignStatus.CANCELLED}
        ),
        CampaignStatus.SENDING: frozenset({CampaignStatus.SENT, CampaignStatus.CANCELLED}),
        CampaignStatus.SENT: frozenset(),
        CampaignStatus.CANCELLED: frozenset(),
    },
    terminal=frozenset({CampaignStatus.SENT, CampaignStatus.CANCELLED}),
    error=CampaignTransitionRefused,
    message=_campaign_refused,
    error_field="status",
)

# A member waits (queued) until the send job mails them (sent), finds no consent (skipped) or cannot
# render or address their email (failed); a cancel leaves the waiting ones cancelled. The hold-out
# group is recorded as held out and stays so. The job moves them set-based (sources()).
RECIPIENT_STATES = StateMachine(
    name="marketing campaign recipient",
    model="marketing.CampaignRecipient",
    states=RecipientStatus,
    transitions={
        RecipientStatus.QUEUED: frozenset(
            {
                RecipientStatus.SENT,
                RecipientStatus.SKIPPED_NO_CONSENT,
                RecipientStatus.FAILED,
                RecipientStatus.CANCELLED,
            }
        ),
        RecipientStatus.SENT: frozenset(),
        RecipientStatus.HELD_OUT: frozenset(),
        RecipientStatus.SKIPPED_NO_CONSENT: frozenset(),
        RecipientStatus.FAILED: frozenset(),
        RecipientStatus.CANCELLED: frozenset(),
    },
    terminal=frozenset(
        {
            RecipientStatus.SENT,
            RecipientStatus.HELD_OUT,
            RecipientStatus.SKIPPED_NO_CONSENT,
            RecipientStatus.FAILED,
            RecipientStatus.CANCELLED,
        }
    ),
    error=RecipientTransitionRefused,
    message=_recipient_refused,
)
