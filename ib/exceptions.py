"""Errors of the partner programme's services."""

from __future__ import annotations

from django.utils.translation import gettext

from crm.exceptions import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from crm.lib.states import TransitionRefused

__all__ = ["ApplicationTransitionRefused", "Conflict", "DisputeTransitionRefused", "DomainError", "HierarchyCycle",
           "InvitationUnusable", "NotAllowed", "NotFound", "PartnerLoginRefused", "PartnerLoginThrottled",
           "PartnerNotActive", "PartnerTransitionRefused", "PayoutTransitionRefused", "ValidationFailed",
           "InvitationTransitionRefused", "AttributionConflictTransitionRefused", "CommissionRunTransitionRefused",
           "PostbackTransitionRefused"]


class HierarchyCycle(ValidationFailed):
    """A partner cannot be moved under itself or one of its own sub-partners."""

    default_code = "hierarchy_cycle"


class InvitationUnusable(DomainError):
    """An invitation link that was tampered with, has expired, was revoked or already used."""

    default_code = "invitation_unusable"
    status_code = 400

    def default_message(self) -> str:
        return gettext("This invitation link cannot be used.")


class PartnerLoginRefused(DomainError):
    """A partner portal sign-in with an unknown address or a wrong password (one answer for both)."""

    default_code = "login_refused"

    def default_message(self) -> str:
        return gettext("The email address or password is not right.")


class PartnerLoginThrottled(DomainError):
    """Too many sign-in attempts from one network, or too many wrong passwords for one address."""

    default_code = "rate_limited"
    status_code = 429

    def default_message(self) -> str:
        return gettext("Too many attempts. Please wait a while and try again.")


class PartnerNotActive(DomainError):
    """The password was right, but the partner (or its login) may not sign in now. Said plainly:
    the person proved who they are."""

    default_code = "partner_not_active"
    status_code = 403


class ResetLinkRefused(NotFound):
    """A partner's password reset link that is used, superseded by a sign-in, expired or forged."""

    default_code = "reset_link_refused"

    def default_message(self) -> str:
        return gettext("This password reset link is no longer valid. Ask for a new one.")


class PartnerTransitionRefused(TransitionRefused):
    """A partner's status may not move this way (ib.models.PARTNER_STATES)."""

    default_code = "partner_transition_refused"


class ApplicationTransitionRefused(TransitionRefused):
    """A partner application was decided already (ib.models.APPLICATION_STATES)."""

    default_code = "application_decided"


class PayoutTransitionRefused(TransitionRefused):
    """A partner payout was decided already (ib.models.PAYOUT_STATES)."""

    default_code = "payout_decided"


class DisputeTransitionRefused(TransitionRefused):
    """A commission dispute was answered already (ib.models.DISPUTE_STATES)."""

    default_code = "dispute_decided"


class InvitationTransitionRefused(InvitationUnusable, TransitionRefused):
    """An invitation used or withdrawn already (ib.models.INVITATION_STATES): unusable, as the link is,
    and (a refused move) a conflict with its state."""

    default_code = "invitation_unusable"
    status_code = 409


class AttributionConflictTransitionRefused(TransitionRefused):
    """An attribution conflict resolved already (ib.models.ATTRIBUTION_CONFLICT_STATES)."""

    default_code = "attribution_conflict_resolved"


class CommissionRunTransitionRefused(TransitionRefused):
    """A commission run finished (done or failed) already (ib.models.RUN_STATES)."""

    default_code = "commission_run_finished"


class PostbackTransitionRefused(TransitionRefused):
    """A postback delivery's status may not move this way (ib.models.POSTBACK_STATES)."""

    default_code = "postback_transition_refused"
