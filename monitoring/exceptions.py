"""Errors of the monitoring services, with a code and a message for the reviewers."""

from __future__ import annotations

from crm.exceptions import Conflict
from crm.lib.states import TransitionRefused


class AlertTransitionRefused(TransitionRefused):
    """A monitoring alert was decided already (monitoring.models.ALERT_STATES)."""

    default_code = "alert_decided"


class RestrictionFourEyesRefused(Conflict):
    """A restriction's second reviewer refused: its proposer, or nothing waiting (crm.lib.approvals)."""

    default_code = "restriction_four_eyes"
