"""Errors the KYC services raise (crm.exceptions.DomainError: a code, a human message, fields)."""

from __future__ import annotations

from django.utils.translation import gettext

from crm.exceptions import DomainError, ExternalCallFailed, ValidationFailed, WebhookNotBelieved
from crm.lib.states import TransitionRefused


class UploadRefused(ValidationFailed):
    """An uploaded file that is not an acceptable document: nothing was stored."""

    default_code = "upload_refused"

    def default_message(self) -> str:
        return gettext("The file was refused.")


class KycError(DomainError):
    default_code = "kyc_error"
    status_code = 409


class KycTransitionRefused(TransitionRefused, KycError):
    """The verification status may not move this way (kyc.models.KYC_STATES): the message names both
    statuses; nothing was written."""

    default_code = "kyc_transition_refused"
    status_code = 409


class SubmissionTransitionRefused(TransitionRefused, KycError):
    """A submission's status may not move this way (kyc.models.SUBMISSION_STATES): a decided one is
    decided once (only a vendor's later result reopens it for review). Nothing was written."""

    default_code = "kyc_submission_refused"
    status_code = 409


class QuestionnaireVersionTransitionRefused(TransitionRefused, KycError):
    """A questionnaire version may not move this way (kyc.models.questionnaire.VERSION_STATES): only a
    draft is published, only the published one retired."""

    default_code = "version_not_draft"
    status_code = 409


class QuestionnaireRetakeRefused(KycError):
    """The client answered the questionnaire too recently (kyc.questionnaire.RETAKE_RULE)."""

    default_code = "retake_too_soon"
    status_code = 429


class VendorError(ExternalCallFailed, KycError):
    """A call to an external verification vendor failed. `request_sent` and not `refused`: the vendor
    may have taken it; the reference (our submission's code) makes sending it again safe."""

    default_code = "kyc_vendor_failed"
    status_code = 502

    def default_message(self) -> str:
        return gettext("The verification vendor did not accept the request.")


class VendorUnavailable(VendorError):
    """The vendor could not be reached or turned the request away for now (5xx, 429)."""

    default_code = "kyc_vendor_unavailable"

    def default_message(self) -> str:
        return gettext("The verification vendor is not available; the documents will be sent again later.")


class VendorTimeout(VendorError):
    default_code = "kyc_vendor_timeout"

    def default_message(self) -> str:
        return gettext("The verification vendor did not answer in time.")


class VendorRejected(VendorError):
    """The vendor refuses the request (bad input, unknown reference); nothing was applied."""

    default_code = "kyc_vendor_rejected"

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code, request_sent=True, refused=True, status=status)


class VendorProtocolError(VendorError):
    """The vendor's answer did not have the documented shape."""

    default_code = "kyc_vendor_protocol"


class VendorWebhookRefused(WebhookNotBelieved, KycError):
    """A vendor's webhook we do not believe or cannot read: `reason` is bad_signature, stale or malformed."""

    default_code = "kyc_vendor_webhook_refused"
    code_prefix = "kyc_vendor_webhook_"
    status_code = 400
