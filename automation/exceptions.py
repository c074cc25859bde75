"""Errors the automation services raise (crm.exceptions.DomainError: a code, a human message, fields)."""

from __future__ import annotations

from crm.lib.states import TransitionRefused


class RunTransitionRefused(TransitionRefused):
    """An automation run's status may not move this way (automation.models.RUN_STATES): a run that was
    settled (fired and done, failed, skipped or cancelled) is never settled again. Nothing was written."""

    default_code = "automation_run_refused"
