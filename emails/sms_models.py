"""Outgoing SMS: the brand's SMS provider (Twilio), each message sent, and the provider's webhook
inbox (status callbacks and inbound messages). The services are emails.sms."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.crypto import FieldCipher
from crm.lib.fieldcrypt import EncryptedTextField
from crm.lib.states import StateMachine
from crm.lib.webhooks import accepted_once
from crm.models import ReceivedWebhook
from emails.exceptions import SmsTransitionRefused
from plumbing.context import history_user

SMS_CIPHER = FieldCipher(salt=b"brokerage-crm/emails.sms", info=b"sms provider secrets v1",
                         what="SMS provider credentials")
TWILIO_LIVE_URL = "https://api.twilio.com"


class SmsProvider(models.Model):
    """A brand's account with an SMS provider (Twilio's Messaging API, version 2010-04-01) and how to
    reach it: the account SID, the auth token (encrypted, never shown again once saved; it also
    signs what Twilio posts to us), the sender (a number, or a messaging service) and how many
    messages a second the account may send. Status callbacks and inbound messages come to
    /hooks/sms/<code>/status/ and /hooks/sms/<code>/inbound/."""

    code = models.SlugField(_("code"), max_length=40, unique=True,
                            help_text=_("Short name in the webhook addresses: /hooks/sms/<code>/."))
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    base_url = models.URLField(_("API base URL"), max_length=300, default=TWILIO_LIVE_URL,
                               help_text=_("https://api.twilio.com, or a sandbox or simulator's address."))
    account_sid = models.CharField(_("account SID"), max_length=64)
    auth_token_encrypted = models.TextField(blank=True, editable=False)
    from_number = models.CharField(_("sender number"), max_length=20, blank=True,
                                   help_text=_("E.164, e.g. +15005550006; or give a messaging service."))
    messaging_service_sid = models.CharField(_("messaging service SID"), max_length=64, blank=True)
    rate_per_second = models.DecimalField(_("messages per second"), max_digits=6, decimal_places=2,
                                          default=Decimal("1"), validators=[MinValueValidator(Decimal("0.01"))])
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The token stays out of the history: a new token must leave no copy of the old one behind.
    history = HistoricalRecords(get_user=history_user, excluded_fields=["auth_token_encrypted"])

    class Meta:
        ordering = ["brand__name", "name"]
        permissions: ClassVar = [("manage_smsprovider", "Manage SMS providers")]
        constraints: ClassVar = [
            # A brand sends through one provider at a time: sms_send picks it without a choice.
            models.UniqueConstraint(fields=["brand"], condition=Q(is_active=True), name="sms_provider_one_active"),
        ]

    def __str__(self) -> str:
        return self.name

    def set_auth_token(self, token: str) -> None:
        self.auth_token_encrypted = SMS_CIPHER.encrypt(token) if token else ""

    set_auth_token.alters_data = True  # type: ignore[attr-defined]  # Django's mark for templates

    def auth_token(self) -> str:
        """The token, decrypted ("" when none is kept or it cannot be read with the keys we have)."""
        from crm.lib.crypto import Undecryptable

        try:
            return SMS_CIPHER.decrypt(self.auth_token_encrypted) if self.auth_token_encrypted else ""
        except Undecryptable:
            return ""


class SmsPurpose(models.TextChoices):
    TRANSACTIONAL = "transactional", _("Transactional")
    MARKETING = "marketing", _("Marketing")


class SmsStatus(models.TextChoices):
    PENDING = "pending", _("Pending")  # written; not yet accepted by the provider
    QUEUED = "queued", _("Queued")  # the provider took it (Twilio's queued or accepted)
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")  # handed to the carrier
    DELIVERED = "delivered", _("Delivered")
    UNDELIVERED = "undelivered", _("Undelivered")
    FAILED = "failed", _("Failed")  # refused by the provider, or never sent


# How far along each status is: a status callback moves a message forward only (callbacks come out
# of order: "sent" may arrive after "delivered" and then changes nothing).
SMS_RANK = {SmsStatus.PENDING: 0, SmsStatus.QUEUED: 1, SmsStatus.SENDING: 2, SmsStatus.SENT: 3,
            SmsStatus.DELIVERED: 4, SmsStatus.UNDELIVERED: 4, SmsStatus.FAILED: 4}


class SmsMessage(models.Model):
    """One SMS to one number, written in the sender's transaction and sent by a Celery task after
    commit. The number and the text are encrypted in their columns. ``provider_sid`` is Twilio's
    message SID once it took the message: the status callbacks find it by that."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("crm.Client", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    provider = models.ForeignKey(SmsProvider, on_delete=models.PROTECT, related_name="messages")
    to_number: Any = EncryptedTextField(max_length=20)
    body: Any = EncryptedTextField()
    purpose = models.CharField(max_length=16, choices=SmsPurpose.choices, default=SmsPurpose.TRANSACTIONAL)
    reference = models.CharField(max_length=64, blank=True)  # the campaign's code, a notice's key
    provider_sid = models.CharField(max_length=34, null=True, blank=True, unique=True)
    status = models.CharField(max_length=12, choices=SmsStatus.choices, default=SmsStatus.PENDING)
    segments = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=10, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)  # the provider took it
    status_at = models.DateTimeField(null=True, blank=True)  # the last status change

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(F("client"), F("created_at").desc(), name="sms_message_client_idx"),
            # The sweep that re-queues messages whose task was lost looks only at pending ones.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="sms_message_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"SMS {self.code} ({self.status})"


def _sms_refused(old: str, new: str) -> str:
    return gettext("An SMS that is %(from)s cannot become %(to)s.") % {
        "from": str(SmsStatus(old).label).lower(), "to": str(SmsStatus(new).label).lower()}


_LATER = {SmsStatus.SENDING, SmsStatus.SENT, SmsStatus.DELIVERED, SmsStatus.UNDELIVERED, SmsStatus.FAILED}
# Forward only (SMS_RANK): pending until the provider takes it (queued) or refuses it (failed); the
# callbacks then move it on, skipping steps whose callback was lost. The three ends are not left.
SMS_STATES = StateMachine(
    name="sms message", model="emails.SmsMessage", states=SmsStatus,
    transitions={
        SmsStatus.PENDING: frozenset({SmsStatus.QUEUED, *_LATER}),
        SmsStatus.QUEUED: frozenset(_LATER),
        SmsStatus.SENDING: frozenset(_LATER - {SmsStatus.SENDING}),
        SmsStatus.SENT: frozenset({SmsStatus.DELIVERED, SmsStatus.UNDELIVERED, SmsStatus.FAILED}),
        SmsStatus.DELIVERED: frozenset(),
        SmsStatus.UNDELIVERED: frozenset(),
        SmsStatus.FAILED: frozenset(),
    },
    terminal=frozenset({SmsStatus.DELIVERED, SmsStatus.UNDELIVERED, SmsStatus.FAILED}),
    error=SmsTransitionRefused, message=_sms_refused,
)


class SmsWebhookOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate")
    REFUSED_BAD_SIGNATURE = "bad_signature", _("Refused: bad signature")
    REFUSED_STALE = "stale", _("Refused: stale")
    REFUSED_MALFORMED = "malformed", _("Refused: malformed")
    UNKNOWN_PROVIDER = "unknown_provider", _("Unknown provider")
    UNKNOWN_MESSAGE = "unknown_message", _("Unknown message")


class SmsWebhook(ReceivedWebhook):
    """One request the SMS provider made to us (emails.sms, through crm.lib.webhooks' inbox): a
    status callback (event id "<MessageSid>:<status>") or an inbound message (its MessageSid).
    Accepted ones are unique per provider and event id: a repeat changes nothing. The body holds
    phone numbers (and a client's words), so it is stored encrypted."""

    provider = models.CharField(max_length=40)  # as in the URL, also for a provider nobody configured
    kind = models.CharField(max_length=10, blank=True)  # status or inbound
    message = models.ForeignKey(SmsMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhooks")
    outcome = models.CharField(max_length=20, choices=SmsWebhookOutcome.choices)
    body: Any = EncryptedTextField(blank=True)

    class Meta(ReceivedWebhook.Meta):
        constraints: ClassVar = [accepted_once("provider", name="emails_sms_webhook_accepted_once")]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.outcome}"


__all__ = ["SMS_RANK", "SMS_STATES", "SmsMessage", "SmsProvider", "SmsPurpose", "SmsStatus", "SmsWebhook",
           "SmsWebhookOutcome"]
