"""Errors the email services raise (crm.exceptions.DomainError: a code, a human message, fields)."""

from __future__ import annotations

from crm.lib.states import TransitionRefused


class EmailTransitionRefused(TransitionRefused):
    """An outgoing email's status may not move this way (emails.models.EMAIL_STATES): one sent or
    failed is never sent again. Nothing was written."""

    default_code = "email_refused"
