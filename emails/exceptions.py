"""Errors the email services raise (crm.exceptions.DomainError: a code, a human message, fields)."""

from __future__ import annotations

from crm.exceptions import WebhookNotBelieved
from crm.lib.errors import DomainError
from crm.lib.states import TransitionRefused


class EmailTransitionRefused(TransitionRefused):
    """An outgoing email's status may not move this way (emails.models.EMAIL_STATES): one sent or
    failed is never sent again. Nothing was written."""

    default_code = "email_refused"


class SmsTransitionRefused(TransitionRefused):
    """An SMS's status may not move this way (emails.sms_models.SMS_STATES): forward only, and the
    ends (delivered, undelivered, failed) are not left. Nothing was written."""

    default_code = "sms_refused"


class SmsNotConfigured(DomainError):
    """The brand has no active SMS provider (or its auth token cannot be read)."""

    default_code = "sms_not_configured"
    status_code = 409


class SmsWebhookRefused(WebhookNotBelieved):
    """A request from the SMS provider we do not believe (``X-Twilio-Signature`` does not match the
    URL and parameters with the provider's auth token) or cannot read: `reason` is bad_signature or
    malformed."""

    code_prefix = "sms_webhook_"
