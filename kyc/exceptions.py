"""Errors the KYC services raise (crm.exceptions.DomainError: a code, a human message, fields)."""

from __future__ import annotations

from django.utils.translation import gettext

from crm.exceptions import DomainError, ValidationFailed


class UploadRefused(ValidationFailed):
    """An uploaded file that is not an acceptable document: nothing was stored."""

    default_code = "upload_refused"

    def default_message(self) -> str:
        return gettext("The file was refused.")


class KycError(DomainError):
    default_code = "kyc_error"
    status_code = 409


class QuestionnaireRetakeRefused(KycError):
    """The client answered the questionnaire too recently (kyc.questionnaire.RETAKE_RULE)."""

    default_code = "retake_too_soon"
    status_code = 429
