"""Agent behaviour scoring on the synthetic desk (monitoring.scenarios): recall per injected kind at
the alert budget, false alert-days, newcomers' false alerts.

The desk: 80 agents over 182 days with benign confounders (campaign days, overtime evenings, leave
with recorded cover, holidays, newcomers ramping up, shift changes, reporting-heavy agents, retention
agents opening other books, large deposits worked by their owners), and agent-days injected of each
detector's kind at two intensities. The whole history goes through the backtest: a replay, each day
scored and alerted with what was known by its end (thresholds calibrated to a budget of 0.5 alerts
per 100 agent-days on the days before, without the labels; the first 28 days learnt from only, and
not counted).

- monitoring_scenarios.recall: share of injected agent-days alerted. Goal >= 0.85.
  limit: the recall of an oracle threshold set with the labels at exactly 0.5 false alert-days per
  100 (what a perfect calibration would give the same scores); ratio = value / limit.
- monitoring_scenarios.recall.<kind> and .<kind>.<intensity>: the same per kind.
- monitoring_scenarios.false_alerts_per_100: alerts on agent-days not injected, per 100 agent-days.
  Goal <= 0.5.
- monitoring_scenarios.newcomer_false_alerts_per_100: the same over agents' first 30 days. Goal: no
  more than the average agent's (limit = false_alerts_per_100).
- monitoring_scenarios.no_departure_context.recall(.<kind>(.<intensity>)) / .false_alerts_per_100:
  the same desk with no notice and no last day in the context (no future context at all); limit: the
  figure with them.
- monitoring_scenarios.shift_history.recall / .false_alerts_per_100: the same desk with the shift
  changes given with their dates (`shifts` in CONTEXT.json, as the product's records give them);
  limit: the figure with only the last shift known.

Run: python benchmarks/monitoring_scenarios.py [--quick] [--seed N]   (--quick: 40 agents x 120 days)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import argument_parser, log, print_figures, record  # noqa: E402


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=float, default=0.5)
    args = parser.parse_args()
    from monitoring import scenarios, scoring

    agents, days, per_kind = (10, 90, 1) if args.tiny else (40, 120, 4) if args.quick else (80, 182, 8)
    size = f"{agents} agents x {days} days, seed {args.seed}"
    log(f"generating {size}")
    scenario = scenarios.generate(agents=agents, days=days, seed=args.seed, injections_per_kind=per_kind)
    log(f"{len(scenario.events)} events, {len(scenario.labels)} injected agent-days")
    start = time.perf_counter()
    scores, thresholds = scoring.backtest(scenario.events, scoring.context_from_dict(scenario.context),
                                          budget=args.budget)
    log(f"scored in {time.perf_counter() - start:.1f} s; thresholds {thresholds}")
    result = scenarios.evaluate(scenario, scores)
    oracle_t = scenarios.threshold_at_false_rate(scenario, scores, args.budget)
    oracle = scenarios.evaluate(scenario, scores, threshold=oracle_t)
    for key, value in result.recall.items():
        name = "monitoring_scenarios.recall" + ("" if key == "all" else "." + key.replace("/", "."))
        record(name, value=value, unit="share", limit=oracle.recall.get(key), goal=">= 0.85", size=size)
    record("monitoring_scenarios.false_alerts_per_100", value=result.false_per_100, unit="per 100 agent-days",
           limit=args.budget, goal="<= 0.5", size=f"{size}, {result.agent_days} agent-days")
    record("monitoring_scenarios.newcomer_false_alerts_per_100", value=result.newcomer_false_per_100,
           unit="per 100 agent-days", limit=result.false_per_100, goal="<= the average agent's", size=size)

    # The same desk with no word of any departure: no notice, no last day.
    bare = scoring.context_from_dict(scenarios.without_departure_context(scenario.context))
    scores, _ = scoring.backtest(scenario.events, bare, budget=args.budget)
    blind = scenarios.evaluate(scenario, scores)
    for key, value in blind.recall.items():
        name = "monitoring_scenarios.no_departure_context.recall" + ("" if key == "all" else "." + key.replace("/", "."))
        record(name, value=value, unit="share", limit=result.recall.get(key), goal=">= 0.85",
               size=f"{size}, no notice or last day (limit: with them)")
    record("monitoring_scenarios.no_departure_context.false_alerts_per_100", value=blind.false_per_100,
           unit="per 100 agent-days", limit=result.false_per_100, goal="<= 0.5",
           size=f"{size}, {blind.agent_days} agent-days, no notice or last day")

    # The same desk with the shift changes recorded with their dates (as the product's own records give
    # them): each day judged against that day's hours.
    dated = scenarios.generate(agents=agents, days=days, seed=args.seed, injections_per_kind=per_kind,
                               shift_history=True)
    scores, _ = scoring.backtest(dated.events, scoring.context_from_dict(dated.context), budget=args.budget)
    with_history = scenarios.evaluate(dated, scores)
    record("monitoring_scenarios.shift_history.recall", value=with_history.recall["all"], unit="share",
           limit=result.recall["all"], goal=">= 0.85", size=f"{size}, dated shift changes")
    record("monitoring_scenarios.shift_history.false_alerts_per_100", value=with_history.false_per_100,
           unit="per 100 agent-days", limit=result.false_per_100, goal="<= 0.5",
           size=f"{size}, dated shift changes (limit: the same desk with only the last shift)")
    print_figures()


if __name__ == "__main__":
    main()
