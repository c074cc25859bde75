"""Reads of alert review for monitoring's scoring and pages."""

from __future__ import annotations

from django.core.cache import cache

from crm.models import Desk
from monitoring.review import budget as budget_math
from monitoring.review.models import DeskAlertBudget

DEFAULT_BUDGET = 0.5         # alerts per 100 agent-days of a desk without a budget of its own
SYNTHETIC_CACHE_KEY = "monitoring.review.synthetic_days:{version}"


def desk_thresholds() -> dict[int, tuple[float, float]]:
    """Each calibrated desk's (threshold, threshold under notice), by desk id: the scoring alerts an
    agent-day of that desk's agents at these instead of the brand's when a desk has a budget."""
    out: dict[int, tuple[float, float]] = {}
    for row in DeskAlertBudget.objects.filter(threshold__isnull=False):
        if row.threshold is not None:
            out[row.desk_id] = (row.threshold, row.notice_threshold if row.notice_threshold is not None else row.threshold)
    return out



def desk_budget(desk: Desk) -> DeskAlertBudget | None:
    """The desk's own alert budget, if it has one (DEFAULT_BUDGET holds otherwise)."""
    return DeskAlertBudget.objects.filter(desk=desk).first()


def synthetic_days() -> tuple[budget_math.SyntheticDay, ...]:
    """The synthetic desk's scored agent-days that the budget page reads its recall from. Scoring them
    takes seconds (15 or more on a busy machine: the page's first load took that long in every new
    web process), so they are kept in the shared cache under the version of the code that makes them,
    for every process and restart; the nightly calibration and the demo's budget loader put them
    there before anyone opens the page."""
    key = SYNTHETIC_CACHE_KEY.format(version=budget_math.synthetic_history_version())
    kept = cache.get(key)
    if kept is not None:
        return tuple(budget_math.SyntheticDay(score=score, watched=watched, kind=kind) for score, watched, kind in kept)
    days = budget_math.synthetic_history_compute()
    cache.set(key, [(d.score, d.watched, d.kind) for d in days], timeout=None)
    return days
