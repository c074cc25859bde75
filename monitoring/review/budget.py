"""The alert budget: how many alerts per 100 agent-days a desk can review, the threshold that meets
it on the desk's history of agent-day scores, and what it costs in missed signals.

The threshold is set on the desk's own past: the lowest score at which no more than the budget's
share of the past agent-days would have alerted (the scores are -log10 tail probabilities, so a
higher score is rarer). The cost is read two ways: on the desk's past, the agent-days that twice the
budget would have alerted and this budget does not (signals left unseen); and on the synthetic desk
with injected scenarios (monitoring.scenarios), the recall of the injected agent-days at this budget
and at twice it, per scenario kind, since only there is it known which days were real.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from monitoring import scenarios, scoring

BUDGET_MIN = Decimal("0.05")
BUDGET_MAX = Decimal("50")
# The budgets the page's chart draws (alerts per 100 agent-days).
CURVE = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
SYNTHETIC = {"agents": 40, "days": 120, "seed": 7, "injections_per_kind": 4}


@dataclass(frozen=True)
class Calibration:
    budget: float          # alerts per 100 agent-days asked for
    threshold: float       # a day alerts at this score or above
    notice_threshold: float  # for agents under notice (and their last 30 days): lower
    agent_days: int        # the history read
    alerts: int            # how many of its days the threshold alerts
    rate_per_100: float    # alerts per 100 agent-days on the history


def threshold_for_budget(scores: Sequence[float], budget: float) -> Calibration:
    """The lowest threshold at which at most `budget` per 100 of `scores` alert (a score alerts when
    it is at or above the threshold). Ties are never split: a threshold that would alert part of a
    run of equal scores moves above all of them. An empty history gets scoring's default (3.0)."""
    if not budget > 0:
        raise ValueError("the budget must be positive")
    values = sorted((float(s) for s in scores if not math.isnan(float(s))), reverse=True)
    n = len(values)
    if n == 0:
        return Calibration(budget=budget, threshold=3.0, notice_threshold=2.0, agent_days=0, alerts=0,
                           rate_per_100=0.0)
    allowed = math.floor(budget * n / 100.0 + 1e-9)
    if allowed >= n:
        threshold = values[-1]
    else:
        cut = values[allowed]          # the highest score that must not alert
        above = [v for v in values[:allowed] if v > cut]
        # Half-way to the next score up (a tenth above the cut when nothing above may alert), so
        # that a day like the last one alerted still alerts and one like the cut still does not.
        threshold = round((cut + min(above)) / 2 if above else cut + 0.1, 3)
        if threshold <= cut:
            threshold = cut + 0.001
    threshold = max(threshold, 1.0)    # never alert on what is one day in ten
    alerts = sum(1 for v in values if v >= threshold)
    return Calibration(budget=budget, threshold=threshold,
                       notice_threshold=round(max(threshold - scoring.NOTICE_THRESHOLD_DROP, 1.0), 3),
                       agent_days=n, alerts=alerts, rate_per_100=round(100.0 * alerts / n, 3))


@dataclass(frozen=True)
class DeskCost:
    at_budget: Calibration
    at_double: Calibration
    unseen: int            # agent-days twice the budget alerts and this budget does not


def desk_cost(scores: Sequence[float], budget: float) -> DeskCost:
    """What the budget leaves unseen on the desk's own past, against twice the budget."""
    one, two = threshold_for_budget(scores, budget), threshold_for_budget(scores, 2 * budget)
    return DeskCost(at_budget=one, at_double=two, unseen=max(two.alerts - one.alerts, 0))


@dataclass(frozen=True)
class SyntheticDay:
    score: float
    watched: bool
    kind: str              # the injected scenario's kind, "" for a benign day


@functools.cache
def synthetic_history() -> tuple[SyntheticDay, ...]:
    """The synthetic desk's agent-days, scored once per process. The budget page reads them through
    monitoring.review.selectors.synthetic_days, which keeps them in the shared cache."""
    return synthetic_history_compute()


def synthetic_history_version() -> str:
    """A digest of what the synthetic desk's scored days depend on: the scenarios' and the scoring's
    code and SYNTHETIC. A kept copy is good while this is the same."""
    digest = hashlib.sha256(repr(sorted(SYNTHETIC.items())).encode())
    for module in (scenarios, scoring):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:20]


def synthetic_history_compute() -> tuple[SyntheticDay, ...]:
    """Generate the synthetic desk (SYNTHETIC: 40 agents, 120 days, injected scenarios) and score
    every agent-day: several seconds, 15 or more on a busy machine."""
    scenario = scenarios.generate(**SYNTHETIC)  # type: ignore[arg-type]  # SYNTHETIC's values fit generate's parameters
    scored = scoring.score_history(scenario.events, scoring.context_from_dict(scenario.context))
    return tuple(SyntheticDay(score=s.score, watched=s.watched,
                              kind=(scenario.labels.get((s.agent, s.day)) or ("",))[0]) for s in scored)


def recall_at(days: Sequence[SyntheticDay], budget: float) -> dict[str, float]:
    """Recall per injected kind (and "all") when the threshold is calibrated to `budget` on the
    benign and injected days together, as on a real desk, without the labels."""
    cal = threshold_for_budget([d.score for d in days if not d.watched], budget)
    hits: dict[str, list[int]] = {}
    for d in days:
        if not d.kind:
            continue
        alerted = d.score >= (cal.notice_threshold if d.watched else cal.threshold)
        for key in (d.kind, "all"):
            hits.setdefault(key, [0, 0])
            hits[key][0] += int(alerted)
            hits[key][1] += 1
    return {k: round(v[0] / v[1], 3) for k, v in sorted(hits.items())}


@dataclass(frozen=True)
class SyntheticCost:
    recall: dict[str, float]
    recall_double: dict[str, float]
    curve: list[tuple[float, float]]    # (budget, recall of every injected day)


def synthetic_cost(budget: float, days: Sequence[SyntheticDay] | None = None) -> SyntheticCost:
    days = synthetic_history() if days is None else days
    curve = sorted({*CURVE, budget, 2 * budget})
    return SyntheticCost(recall=recall_at(days, budget), recall_double=recall_at(days, 2 * budget),
                         curve=[(b, recall_at(days, b).get("all", 0.0)) for b in curve])
