"""Celery tasks of KYC: thin, ids in, a call into kyc.services."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="kyc.tasks.submission_check", ignore_result=True, acks_late=True)
def submission_check(submission_id: int) -> str:
    """Run the automatic checks on a submission and record the report (a second run does nothing)."""
    from kyc.vendor_services import submission_checks_run

    submission = submission_checks_run(submission_id=submission_id)
    return "skipped" if submission is None else submission.status


@shared_task(name="kyc.tasks.kyc_expiry_run", ignore_result=True)
def kyc_expiry_run() -> dict[str, Any]:
    """Beat, daily: expiry warnings and expiries (idempotent)."""
    from kyc import services

    report = services.kyc_expiry_run()
    return {"warned": report.warned, "expired": report.expired}


@shared_task(name="kyc.tasks.vendor_checks_resolve_due", ignore_result=True)
def vendor_checks_resolve_due() -> dict[str, int]:
    """Beat: external checks whose webhook has not come are looked up, unsent ones sent again."""
    from kyc.vendor_services import vendor_checks_resolve_due as resolve

    report = resolve()
    return {"sent": report.sent, "resolved": report.resolved, "waiting": report.waiting, "failed": report.failed}
