"""Aggregates PostgreSQL has and Django's ORM lacks, so that no app writes raw SQL for them."""

from __future__ import annotations

from typing import Any

from django.db.models import Aggregate, FloatField


class PercentileCont(Aggregate):
    """``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``: the continuous percentile
    (0.5: the median, interpolated between the two middle values); NULL over no rows. `fraction`
    is a number in [0, 1] written into the SQL (never user input)."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)%(filter)s"
    output_field = FloatField()

    def __init__(self, expression: Any, percentile: float, **extra: Any) -> None:
        if not 0 <= percentile <= 1:
            raise ValueError(f"a percentile is a fraction in [0, 1], not {percentile!r}")
        super().__init__(expression, percentile=float(percentile), **extra)
