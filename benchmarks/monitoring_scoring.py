"""Agent behaviour scoring (monitoring.scoring): events scored per second, and the nightly rescore.

- monitoring_scoring.events_per_second: activity events of a synthetic desk (monitoring.scenarios)
  turned into daily features and scored, all agent-days, per second of wall clock. limit: the same
  events only bucketed per agent-day in a plain loop (the least any scorer does with them); ratio =
  limit / value (how many times slower than that floor). Goal >= 5,000/s.
- monitoring_scoring.nightly_rescore_s: seconds to rescore 500 agents x 180 days from their stored
  daily features (peer baselines refitted, every agent-day scored again). limit: one plain pass over
  the same features; ratio = value / limit. Goal <= 60 s.

Pure Python, no database: python benchmarks/monitoring_scoring.py [--quick]
"""

from __future__ import annotations

import copy
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import argument_parser, log, print_figures, record  # noqa: E402


def main() -> None:
    args = argument_parser(__doc__).parse_args()
    from monitoring import scenarios, scoring

    agents, days = (20, 90) if args.quick or args.tiny else (80, 180)
    log(f"generating {agents} agents x {days} days")
    scenario = scenarios.generate(agents=agents, days=days, seed=3)
    context = scoring.context_from_dict(scenario.context)
    events = scenario.events
    log(f"{len(events)} events")

    start = time.perf_counter()
    buckets: dict[tuple[str, object], int] = defaultdict(int)
    for e in sorted(events, key=lambda e: e.time):
        buckets[(e.agent, e.time.date())] += 1
    floor_s = time.perf_counter() - start

    start = time.perf_counter()
    features, first, last = scoring.extract_features(events, context)
    scores = scoring.score_features(features, context, first, last)
    elapsed = time.perf_counter() - start
    rate, floor_rate = len(events) / elapsed, len(events) / floor_s
    record("monitoring_scoring.events_per_second", value=rate, unit="events/s", limit=floor_rate,
           ratio=floor_rate / rate, goal=">= 5000", size=f"{len(events)} events, {len(scores)} agent-days")

    # the nightly rescore: 500 agents x 180 days of stored features (copies of the desk's agents)
    target = 10 if args.tiny else 100 if args.quick else 500
    base = sorted(features)
    stored: dict[str, dict] = {}
    ctx = copy.deepcopy(scenario.context)
    extra = []
    for i in range(target):
        src = base[i % len(base)]
        name = f"{src}-x{i}"
        stored[name] = features[src]
        info = next(a for a in scenario.context["agents"] if a["id"] == src)
        extra.append({**info, "id": name})
    ctx["agents"] = extra
    context500 = scoring.context_from_dict(ctx)
    start = time.perf_counter()
    total = 0.0
    for per_agent in stored.values():
        for f in per_agent.values():
            total += f.counts["opens"]
    floor = time.perf_counter() - start
    start = time.perf_counter()
    rescored = scoring.score_features(stored, context500, first, last)
    elapsed = time.perf_counter() - start
    record("monitoring_scoring.nightly_rescore_s", value=elapsed, unit="s", limit=floor, goal="<= 60",
           size=f"{target} agents x {days} days ({len(rescored)} agent-days)")
    print_figures()


if __name__ == "__main__":
    main()
