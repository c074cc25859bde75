"""Celery tasks of alert review: thin, a call into monitoring.review.services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="monitoring.review.tasks.budgets_calibrate", ignore_result=True)
def budgets_calibrate() -> int:
    """Beat, nightly (after the nightly rescore): every desk with a budget gets its threshold
    calibrated again on its latest history. Returns how many desks."""
    from monitoring.review.models import DeskAlertBudget
    from monitoring.review.services import desk_budget_calibrate

    done = 0
    for budget in DeskAlertBudget.objects.select_related("desk"):
        desk_budget_calibrate(desk=budget.desk)
        done += 1
    return done
