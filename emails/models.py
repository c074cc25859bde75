"""Email templates and outgoing emails."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.fieldcrypt import EncryptedTextField
from crm.lib.states import StateMachine
from emails.exceptions import EmailTransitionRefused
from plumbing.context import history_user

template_key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,59}$", _("Use lower-case letters, digits and underscores, starting with a letter."),
)


class EmailTemplate(models.Model):
    """One email of one brand in one language, e.g. ("kyc_reminder", "ar").

    Subject and body are text in a restricted Django template language (emails.services);
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
    # The recipient and the message as sent (names, the client's own details) are encrypted in their
    # columns (crm.lib.fieldcrypt): read whole, never searched.
    to_email: Any = EncryptedTextField(max_length=254)
    subject: Any = EncryptedTextField(max_length=255)
    body_text: Any = EncryptedTextField()
    body_html: Any = EncryptedTextField()
    status = models.CharField(max_length=8, choices=EmailStatus.choices, default=EmailStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Who asked for it: a user's email or "automation:<rule>"; request_id ties "email.sent" to its chain.
    sent_by = models.CharField(max_length=200, blank=True)
    # The member of staff who wrote it (the composer on the profile); none for automation's emails.
    author = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    request_id = models.CharField(max_length=64, blank=True)
    # Extra headers to send with it, name -> value (email_queue's `headers`: a support answer's
    # Message-ID, In-Reply-To/References and loop marker); the pipeline's X-CRM-Email is set over them.
    headers = models.JSONField(default=dict, blank=True)
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


# --- the email's lifecycle (crm.lib.states) ------------------------------------------------------------

def _email_refused(old: str, new: str) -> str:
    return gettext("An email that is %(from)s cannot become %(to)s.") % {
        "from": str(EmailStatus(old).label).lower(), "to": str(EmailStatus(new).label).lower()}


# Queued until the worker sends it (sent) or gives up on it (failed: a permanent refusal, or the last
# attempt); the attempts in between leave it queued. Neither end is left: an email is sent once.
EMAIL_STATES = StateMachine(
    name="outbound email", model="emails.OutboundEmail", states=EmailStatus,
    transitions={
        EmailStatus.QUEUED: frozenset({EmailStatus.SENT, EmailStatus.FAILED}),
        EmailStatus.SENT: frozenset(),
        EmailStatus.FAILED: frozenset(),
    },
    terminal=frozenset({EmailStatus.SENT, EmailStatus.FAILED}),
    error=EmailTransitionRefused, message=_email_refused,
)


__all__ = ["EMAIL_STATES", "EmailStatus", "EmailTemplate", "OutboundEmail"]

from emails.sms_models import (  # noqa: E402, F401 - imported here so that Django finds them
    SmsMessage,
    SmsProvider,
    SmsWebhook,
)
