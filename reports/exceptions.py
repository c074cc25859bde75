"""Errors of the reporting hub."""

from __future__ import annotations

from crm.exceptions import ValidationFailed


class ReportRefused(ValidationFailed):
    """A report, schedule or export asked with a bad value; `fields` names the field."""

    default_code = "report_refused"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, fields={field: message})
