"""Writes of the reporting hub: report schedules (with audit), the read models' rebuild."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from crm.audit import audit_record
from crm.jobs import job_start
from crm.models import Job
from reports.catalogue import REPORTS, Params
from reports.exceptions import ReportRefused
from reports.models import ExportFormat, Frequency, ReportSchedule
from reports.readmodel import deals_refresh, rebuild, rebuild_all, rebuild_recent
from reports.selectors import dashboard_scope


def _check(report: str, export_format: str, recipients: list[str]) -> list[str]:
    if report not in REPORTS:
        raise ReportRefused("report", f"There is no report {report!r}.")
    if export_format not in ExportFormat.values:
        raise ReportRefused("export_format", f"Choose CSV, XLSX or PDF, not {export_format!r}.")
    cleaned = []
    for email in recipients:
        email = email.strip()
        if not email:
            continue
        try:
            validate_email(email)
        except ValidationError:
            raise ReportRefused("recipients", f"{email!r} is not an email address.") from None
        cleaned.append(email.lower())
    if not cleaned:
        raise ReportRefused("recipients", "Give at least one recipient.")
    return cleaned


@transaction.atomic
def schedule_create(*, actor: Any, report: str, frequency: str, export_format: str, recipients: list[str],
                    params: dict[str, Any]) -> ReportSchedule:
    """A report sent on a schedule to staff, built with `actor`'s scope. Recipients must be staff."""
    dashboard_scope(actor)  # NotAllowed unless the actor may see the numbers
    if frequency not in Frequency.values:
        raise ReportRefused("frequency", f"Choose daily, weekly or monthly, not {frequency!r}.")
    emails = _check(report, export_format, recipients)
    from crm.models import User

    staff = set(User.objects.filter(email__in=emails, is_active=True).values_list("email", flat=True))
    strangers = [e for e in emails if e not in {s.lower() for s in staff}]
    if strangers:
        raise ReportRefused("recipients", f"Not active staff: {', '.join(strangers)}.")
    schedule = ReportSchedule.objects.create(report=report, params=params, frequency=frequency,
                                             export_format=export_format, recipients=emails, owner=actor)
    audit_record(action="report.schedule_create", obj=schedule, actor=actor,
                 after={"report": report, "frequency": frequency, "recipients": emails})
    return schedule


@transaction.atomic
def schedule_stop(*, actor: Any, schedule: ReportSchedule) -> ReportSchedule:
    schedule.is_active = False
    schedule.save(update_fields=["is_active"])
    audit_record(action="report.schedule_stop", obj=schedule, actor=actor, after={"is_active": False})
    return schedule


@transaction.atomic
def report_export_start(*, actor: Any, report: str, params: Params, export_format: str) -> Job:
    """Start building `report` as a file, a job on django-rq the person watches."""
    dashboard_scope(actor)
    _check(report, export_format, [actor.email or "staff@example.invalid"])
    return job_start(kind="reports.export", actor=actor, title=f"{REPORTS[report].title} {params.period.start}–"
                     f"{params.period.end} ({export_format.upper()})", func="reports.jobs.report_export",
                     kwargs={"report": report, "params": params.as_dict(), "export_format": export_format})


__all__ = ["deals_refresh", "rebuild", "rebuild_all", "rebuild_recent", "report_export_start", "schedule_create",
           "schedule_stop"]
