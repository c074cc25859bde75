"""Marketing's records: segments (a brand's named definition, versioned) and their snapshots (who
matched at a moment, under which version), which a campaign will name as whom it was sent to and why."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.lib.fieldcrypt import EncryptedTextField, KeyedHashField, update_fields_with_hashes
from crm.lib.webhooks import accepted_once
from crm.models import ReceivedWebhook


class Segment(models.Model):
    """A brand's named group of clients, defined by facts (marketing.engine). Every change of the
    definition is a new version (SegmentVersion); `version` is the current one's number."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    definition = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["name"]
        constraints: ClassVar = [
            # A segment is chosen by name in a brand's campaigns: two of one name would be confused.
            models.UniqueConstraint(fields=["brand", "name"], name="marketing_segment_unique_name"),
        ]
        permissions: ClassVar = [("segment_on_risk_band", "Can segment clients on their risk band")]

    def __str__(self) -> str:
        return self.name


class SegmentVersion(models.Model):
    """A segment's definition as saved once: what a snapshot says it matched by."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    saved_at = models.DateTimeField(auto_now_add=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering: ClassVar = ["-number"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["segment", "number"], name="marketing_segmentversion_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} v{self.number}"


class SegmentSnapshot(models.Model):
    """Who matched a segment's version at `taken_at`, kept: the members as of that moment, whatever
    the clients' facts or the segment's definition later become."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshots")
    version = models.ForeignKey(SegmentVersion, on_delete=models.PROTECT, related_name="snapshots")
    taken_at = models.DateTimeField()
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    member_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering: ClassVar = ["-taken_at", "-id"]

    def __str__(self) -> str:
        return f"{self.segment_id} at {self.taken_at:%Y-%m-%d %H:%M}"


class SegmentSnapshotMember(models.Model):
    snapshot = models.ForeignKey(SegmentSnapshot, on_delete=models.CASCADE, related_name="members")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints: ClassVar = [
            # Also the index "was this client in that snapshot" reads.
            models.UniqueConstraint(fields=["snapshot", "client"], name="marketing_snapshotmember_once"),
        ]
        indexes: ClassVar = [
            # A client's snapshots (what they were sent, and why), and removing a client.
            models.Index(fields=["client"], name="marketing_snapmember_client"),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}: {self.client_id}"


# -- consent, unsubscribe and suppression (marketing.consent) -----------------------------------------


class Channel(models.TextChoices):
    """How a marketing message reaches a client: consent and suppression are per channel."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class ConsentDecision(models.Model):
    """One decision of a client about marketing on one channel: given or withdrawn, appended and never
    changed. The client's consent on a channel is their latest decision (by `at`, then id); no
    decision at all is no consent."""

    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    given = models.BooleanField(_("given"))
    # Where it was decided: "portal", "unsubscribe", "preference_page", "lead_intake", "staff", "demo"...
    source = models.CharField(_("source"), max_length=40)
    campaign_code = models.CharField(max_length=64, blank=True)  # the campaign an unsubscribe came from
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-at", "-id"]
        indexes: ClassVar = [
            # The latest decision of each client on a channel (DISTINCT ON in allowed_recipients), and
            # one client's history.
            models.Index(
                F("channel"), F("client"), F("at").desc(), F("id").desc(), include=["given"],
                name="marketing_consent_latest",
            ),
            models.Index(F("client"), F("at").desc(), name="marketing_consent_client"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="marketing_consent_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.channel} {'given' if self.given else 'withdrawn'}"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", _("Hard bounce")
    COMPLAINT = "complaint", _("Complaint")
    MANUAL = "manual", _("Manual")


class Suppression(models.Model):
    """An address of a brand that no marketing message goes to on a channel (a hard bounce, a
    complaint, staff's decision), whoever holds it and whatever their consent. The address is kept
    encrypted and matched by its keyed hash (the email lower-cased, the phone in E.164), as the
    clients' are. Transactional mail ignores it."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+", db_index=False)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    email = EncryptedTextField(blank=True, max_length=254)  # for the email channel
    phone = EncryptedTextField(blank=True, max_length=20)  # for the SMS channel
    email_hash = KeyedHashField(source="email", kind="email", db_default="")
    phone_hash = KeyedHashField(source="phone", kind="phone", db_default="")
    reason = models.CharField(_("reason"), max_length=16, choices=SuppressionReason.choices)
    source = models.CharField(_("source"), max_length=80)
    at = models.DateTimeField(_("when"))

    class Meta:
        ordering: ClassVar = ["-at", "-id"]
        constraints: ClassVar = [
            # One suppression per address and channel of a brand; also the index the sends' check reads.
            models.UniqueConstraint(
                fields=["brand", "email_hash"], condition=Q(channel="email"), name="marketing_suppression_email"
            ),
            models.UniqueConstraint(
                fields=["brand", "phone_hash"], condition=Q(channel="sms"), name="marketing_suppression_phone"
            ),
            models.CheckConstraint(
                condition=Q(channel="email", phone_hash="") & ~Q(email_hash="")
                | Q(channel="sms", email_hash="") & ~Q(phone_hash=""),
                name="marketing_suppression_address",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id} {self.channel} {self.reason}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)


class MailEventOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate (already received)")
    REFUSED_BAD_SIGNATURE = "refused_bad_signature", _("Refused: bad signature")
    REFUSED_STALE = "refused_stale", _("Refused: stale timestamp")
    REFUSED_MALFORMED = "refused_malformed", _("Refused: malformed")
    UNKNOWN_BRAND = "unknown_brand", _("Refused: unknown brand")
    UNKNOWN_PROVIDER = "unknown_provider", _("Refused: unknown provider")


class MailEvent(ReceivedWebhook):
    """One bounce or complaint notification from the email provider (marketing.consent's inbox),
    kept raw with what we made of it; accepted ones are unique per provider and event id."""

    provider = models.CharField(max_length=40)  # as in the URL, also for an unknown provider
    kind = models.CharField(max_length=30, blank=True)  # hard_bounce, soft_bounce, complaint
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    suppression = models.ForeignKey(
        Suppression, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    outcome = models.CharField(max_length=30, choices=MailEventOutcome.choices)

    class Meta(ReceivedWebhook.Meta):
        constraints: ClassVar = [accepted_once("provider", name="marketing_mail_event_accepted_once")]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.outcome}"


# -- email campaigns (marketing.campaigns), kept in a module of their own ------------------------------
from marketing.campaign_models import (  # noqa: E402, F401 - imported here so that Django finds them
    Campaign,
    CampaignRecipient,
    CampaignVariant,
)

# -- email sequences (marketing.sequences), kept in a module of their own -------------------------------
from marketing.sequence_models import (  # noqa: E402, F401 - imported here so that Django finds them
    Sequence,
    SequenceDelivery,
    SequenceEnrollment,
    SequenceStep,
)
