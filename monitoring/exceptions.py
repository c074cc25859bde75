"""Errors of the monitoring services, with a code and a message for the reviewers."""

from __future__ import annotations

from crm.lib.states import TransitionRefused


class AlertTransitionRefused(TransitionRefused):
    """A monitoring alert was decided already (monitoring.models.ALERT_STATES)."""

    default_code = "alert_decided"
