"""Errors of the partner programme's services."""

from __future__ import annotations

from django.utils.translation import gettext

from crm.exceptions import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed

__all__ = ["Conflict", "DomainError", "HierarchyCycle", "InvitationUnusable", "NotAllowed", "NotFound",
           "ValidationFailed"]


class HierarchyCycle(ValidationFailed):
    """A partner cannot be moved under itself or one of its own sub-partners."""

    default_code = "hierarchy_cycle"


class InvitationUnusable(DomainError):
    """An invitation link that was tampered with, has expired, was revoked or already used."""

    default_code = "invitation_unusable"
    status_code = 400

    def default_message(self) -> str:
        return gettext("This invitation link cannot be used.")
