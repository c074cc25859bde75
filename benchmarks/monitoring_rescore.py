"""The nightly rescore through the product: 500 agents x 180 days of recorded activity rescored by the
Celery task's own code (monitoring.pipeline.brand_rescore), in the database.

Setup (not measured): a brand with desks of 20 agents each and their managers (crm services), the
synthetic desk's six months of activity (monitoring.scenarios, no injected anomalies) written through
the activity table's bulk path (monitoring.recording.activity_write), and what the managers recorded
(shifts with their changes, leave with cover, campaign days, holidays) through monitoring.services.

- monitoring_rescore.nightly_s: seconds for brand_rescore: the window aggregated from the partitioned
  activity table (stale records, out-of-book net of cover, context around large money movements), the
  daily features stored, peer baselines refitted, every agent-day scored again, thresholds calibrated
  to the alert budget and every score rewritten. limit: one plain GROUP BY (agent, day, hour) over the
  same rows with plain SQL, the least any scoring must read; ratio = value / limit. Goal <= 60 s.

Run: python benchmarks/monitoring_rescore.py [--quick] [--keep]   (--quick: 100 agents x 100 days)
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import argument_parser, finish, log, prepare, raw_connection, record  # noqa: E402

DESK_SIZE = 20
WRITE_BATCH = 50_000


def main() -> None:
    args = argument_parser(__doc__).parse_args()
    env = prepare(args)
    try:
        _run(env, quick=args.quick)
    finally:
        finish(env)


def _run(env: object, *, quick: bool) -> None:
    from django.utils import timezone

    from crm.lib import context as actor_context
    from crm.models import Brand
    from crm.roles import roles_sync
    from crm.services import user_create
    from crm.staff_services import desk_create
    from monitoring import scenarios
    from monitoring.demo import scenario_context_record, scenario_rows
    from monitoring.pipeline import brand_rescore
    from monitoring.recording import activity_write

    agents, days = (100, 100) if quick else (500, 180)
    today = timezone.now().date()
    start = today - timedelta(days=days)
    log(f"generating {agents} agents x {days} days")
    scenario = scenarios.generate(agents=agents, days=days, seed=11, injections_per_kind=0, start=start,
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
    log(f"writing {len(rows)} activity rows")
    t0 = time.perf_counter()
    for i in range(0, len(rows), WRITE_BATCH):
        activity_write(rows[i:i + WRITE_BATCH])
    log(f"written in {time.perf_counter() - t0:.1f} s")
    del rows
    with raw_connection(env) as conn, conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE monitoring_activity")
        t0 = time.perf_counter()
        cur.execute("""SELECT agent_id, (time AT TIME ZONE 'UTC')::date, extract(hour FROM time AT TIME ZONE 'UTC'),
                              count(*)
                       FROM monitoring_activity WHERE time >= %s GROUP BY 1, 2, 3""",
                    [timezone.now() - timedelta(days=days + 1)])
        cur.fetchall()
        floor = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = brand_rescore(brand.pk, today=today)
    elapsed = time.perf_counter() - t0
    log(f"rescored {report.scored} agent-days, {report.alerted} alerted, in {elapsed:.1f} s")
    record("monitoring_rescore.nightly_s", value=elapsed, unit="s", limit=floor, ratio=elapsed / floor,
           goal="<= 60", size=f"{agents} agents x {days} days, {len(scenario.events)} events, "
                              f"{report.scored} agent-days")


if __name__ == "__main__":
    main()
