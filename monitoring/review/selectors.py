"""Reads of alert review for monitoring's scoring and pages."""

from __future__ import annotations

from monitoring.review.models import DeskAlertBudget


def desk_thresholds() -> dict[int, tuple[float, float]]:
    """Each calibrated desk's (threshold, threshold under notice), by desk id: the scoring alerts an
    agent-day of that desk's agents at these instead of the brand's when a desk has a budget."""
    out: dict[int, tuple[float, float]] = {}
    for row in DeskAlertBudget.objects.filter(threshold__isnull=False):
        if row.threshold is not None:
            out[row.desk_id] = (row.threshold, row.notice_threshold if row.notice_threshold is not None else row.threshold)
    return out
