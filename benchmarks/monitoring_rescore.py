"""The nightly rescore through the product: 500 agents x 180 days of recorded activity rescored by the
Celery task's own code (monitoring.pipeline.brand_rescore), in the database.

Setup (not measured): a brand with desks of 20 agents each and their managers (crm services), the
synthetic desk's six months of activity (monitoring.scenarios, no injected anomalies) written through
the activity table's bulk path (monitoring.recording.activity_write), and what the managers recorded
(shifts with their changes, leave with cover, campaign days, holidays) through monitoring.services.
The last day's activity is held back and written after the first pass, as a new day arrives.

- monitoring_rescore.full_s: seconds for the first brand_rescore, which finds no stored features: every
  agent-day of the 180-day window aggregated from the partitioned activity table (records untouched
  for 90 days, out-of-book net of cover, context around large money movements) and stored, peer
  baselines fitted, every agent-day scored, thresholds calibrated to the alert budget, every score
  written. What a rebuild (`rebuild=True`, or the history's start moving) costs.
- monitoring_rescore.nightly_s: seconds for the next night's brand_rescore, one new day recorded: only
  the days not yet final aggregated (the new day), every agent-day of the window scored again from
  the stored features, thresholds recalibrated, every score rewritten. Goal <= 60 s.

limit (both): one plain GROUP BY (agent, day, hour) over the window's rows with plain SQL, the least a
from-scratch scoring must read; ratio = value / limit.

Run: python benchmarks/monitoring_rescore.py [--quick | --tiny] [--keep]   (--quick: 100 agents x 100 days; --tiny 4 x 90)
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    BenchEnv,
    argument_parser,
    finish,
    log,
    log_phases,
    prepare,
    raw_connection,
    record,
)

DESK_SIZE = 20
WRITE_BATCH = 50_000


def main() -> None:
    args = argument_parser(__doc__).parse_args()
    env = prepare(args)
    try:
        _run(env, agents_days=(4, 90) if args.tiny else (100, 100) if args.quick else (500, 180))
    finally:
        finish(env)


def _run(env: BenchEnv, *, agents_days: tuple[int, int]) -> None:
    from django.utils import timezone

    from crm.models import Brand
    from crm.roles import roles_sync
    from crm.services import user_create
    from crm.staff_services import desk_create
    from monitoring import scenarios
    from monitoring.demo import scenario_context_record, scenario_rows
    from monitoring.pipeline import SCORING_WINDOW_DAYS, brand_rescore
    from monitoring.recording import activity_write
    from plumbing import context as actor_context

    agents, days = agents_days
    today = timezone.now().date()
    # `days` days up to the day before yesterday for the first pass, then yesterday for the nightly one
    start = today - timedelta(days=days + 1)
    log(f"generating {agents} agents x {days} days")
    scenario = scenarios.generate(agents=agents, days=days + 1, seed=11, injections_per_kind=0, start=start,
                                  shift_history=True)
    roles_sync()
    brand = Brand.objects.create(code="atlas", name="Atlas")
    admin = user_create(actor=None, email="admin@bench.example", full_name="Bench Admin", role_code="admin",
                        all_brands=True)
    by_id = {}
    specs = scenario.context["agents"]
    with actor_context.acting_as(admin, source="seed"):
        for d in range(0, len(specs), DESK_SIZE):
            manager = user_create(actor=admin, email=f"manager{d}@bench.example", full_name=f"Manager {d}",
                                  role_code="desk_manager", brands=[brand])
            desk = desk_create(actor=admin, brand=brand, name=f"Desk {d // DESK_SIZE + 1}", manager=manager)
            for n, spec in enumerate(specs[d:d + DESK_SIZE]):
                role = "retention_agent" if spec["role"] == "retention" else "sales_agent"
                by_id[spec["id"]] = user_create(actor=admin, email=f"agent{d + n}@bench.example",
                                                full_name=f"Agent {d + n}", role_code=role, desk=desk, brands=[brand])
            desk_scenario = scenarios.Scenario(
                events=[], labels={}, context={**scenario.context, "agents": specs[d:d + DESK_SIZE],
                                               "leave": [x for x in scenario.context["leave"]
                                                         if x["agent"] in {s["id"] for s in specs[d:d + DESK_SIZE]}],
                                               "cover": [x for x in scenario.context["cover"]
                                                         if x["agent"] in {s["id"] for s in specs[d:d + DESK_SIZE]}
                                                         and x["covers"] in {s["id"] for s in specs[d:d + DESK_SIZE]}],
                                               "holidays": scenario.context["holidays"] if d == 0 else []})
            scenario_context_record(scenario=desk_scenario, by_id=by_id, manager=manager, desk=desk, brand=brand,
                                    start=start)
    rows = scenario_rows(scenario, by_id, brand)
    last = today - timedelta(days=1)
    held = [r for r in rows if r.time.astimezone(UTC).date() >= last]
    rows = [r for r in rows if r.time.astimezone(UTC).date() < last]
    log(f"writing {len(rows)} activity rows (and {len(held)} of the last day after the first pass)")
    t0 = time.perf_counter()
    for i in range(0, len(rows), WRITE_BATCH):
        activity_write(rows[i:i + WRITE_BATCH])
    log(f"written in {time.perf_counter() - t0:.1f} s")
    del rows
    with raw_connection(env) as conn, conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE monitoring_activity")

    log_phases("monitoring.pipeline")
    t0 = time.perf_counter()
    full = brand_rescore(brand.pk, today=last - timedelta(days=1), now=_day_start(last) + timedelta(hours=3))
    full_s = time.perf_counter() - t0
    log(f"first pass: {full.aggregated_agent_days} agent-days aggregated, {full.scored} scored, "
        f"{full.alerted} alerted, in {full_s:.1f} s")

    activity_write(held)
    t0 = time.perf_counter()
    report = brand_rescore(brand.pk, today=last, now=_day_start(today) + timedelta(hours=3))
    nightly_s = time.perf_counter() - t0
    log(f"nightly: {report.aggregated_days} day ({report.aggregated_agent_days} agent-days) aggregated, "
        f"{report.scored} agent-days scored, {report.alerted} alerted, in {nightly_s:.1f} s")

    with raw_connection(env) as conn, conn.cursor() as cur:
        cur.execute("ANALYZE monitoring_activity")
        t0 = time.perf_counter()
        cur.execute("""SELECT agent_id, (time AT TIME ZONE 'UTC')::date, extract(hour FROM time AT TIME ZONE 'UTC'),
                              count(*)
                       FROM monitoring_activity WHERE time >= %s AND time < %s GROUP BY 1, 2, 3""",
                    [_day_start(last - timedelta(days=SCORING_WINDOW_DAYS)), _day_start(today)])
        cur.fetchall()
        floor = time.perf_counter() - t0

    size = f"{agents} agents x {days} days, {len(scenario.events)} events"
    record("monitoring_rescore.full_s", value=full_s, unit="s", limit=floor, ratio=full_s / floor, goal="<= 60",
           size=f"{size}, {full.aggregated_agent_days} agent-days aggregated, {full.scored} scored")
    record("monitoring_rescore.nightly_s", value=nightly_s, unit="s", limit=floor, ratio=nightly_s / floor,
           goal="<= 60", size=f"{size}, {report.aggregated_agent_days} agent-days aggregated (1 new day), "
                               f"{report.scored} scored")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


if __name__ == "__main__":
    main()
