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
    if done:
        synthetic_days_keep.delay()  # the budget page's recall figures, scored by a worker, not on a visit
    return done


@shared_task(name="monitoring.review.tasks.synthetic_days_keep", ignore_result=True)
def synthetic_days_keep() -> int:
    """Score the synthetic desk the budget page reads its recall from, unless the shared cache has it
    for this version of the code (monitoring.review.selectors.synthetic_days). How many agent-days."""
    from monitoring.review.selectors import synthetic_days

    return len(synthetic_days())
