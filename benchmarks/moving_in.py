"""Moving in from another CRM (integrations.moving_in): rows imported per second.

Setup (not measured): a fresh benchmark database with one brand, its desk, an administrator and a
trading server; a generated export (tests/integrations/export_builder.py, the tests' builder) of
--clients clients (2,000; --quick 500; --tiny 10) with a note each, a call for one in four, a task for
one in five, a USD balance each (EUR too for one in ten), 100 trading accounts, and one bad row of
each kind the import refuses.

Measured, one after the other on the same database, each the whole `crm_import` as the command runs
it (every row through the owning app's services):
- moving_in.dry_run: rows/s of a dry run (one transaction, each row a savepoint, rolled back);
- moving_in.run: rows/s of the run (each row its own transaction, committed);
- moving_in.rerun: rows/s of the same folder again (every row found unchanged, nothing written);
- moving_in.difference: the reconciliation's total difference (wallets minus the old balances), in
  the currency's units. Goal: 0.

Goals: a run of at least 20 rows/s (a brokerage of 100,000 clients, about 350,000 rows, moves in
within five hours); a re-run at least 5 times as fast as the run.

Run: python benchmarks/moving_in.py [--quick | --tiny] [--keep] [--clients N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    argument_parser,
    finish,
    log,
    prepare,
    record,
    sized,
    timed,
)

GOAL_RUN_ROWS_PER_S = 20.0
GOAL_RERUN_SPEEDUP = 5.0
TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "EUR"}}


def _setup() -> tuple[Any, Any]:
    from crm.services import brand_create, user_create
    from crm.staff_services import desk_create
    from tests.integrations.export_builder import DESK, SERVER
    from trading.services import platform_server_save

    brand = brand_create(actor=None, code="acme", name="Acme Markets")
    admin = user_create(actor=None, email="admin@acme.example.com", full_name="Ada Admin", role_code="admin",
                        all_brands=True)
    desk_create(actor=admin, brand=brand, name=DESK)
    platform_server_save(actor=None, manager_password="x-secret-1", brand=brand, name=SERVER, kind="mt5_web",
                         is_active=True, host="127.0.0.1", port=1, manager_login=1000, account_types=TYPES)
    return brand, admin


def main(argv: list[str]) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--clients", type=int, default=None, help="clients in the export (2,000; --quick 500)")
    args = parser.parse_args(argv)
    env = prepare(args)
    clients = args.clients or sized(args, 2000, 500, 30)

    from integrations.moving_in.folder import Folder
    from integrations.moving_in.importer import crm_import
    from tests.integrations.export_builder import build_export

    with timed("setup"):
        brand, admin = _setup()
        folder = Path(tempfile.mkdtemp(prefix="bench-moving-in-"))
        export = build_export(folder / "export", n=clients, accounts=min(100, clients))
    size = f"{clients} clients"
    rates: dict[str, float] = {}
    failed = 0
    difference = Decimal(0)
    for label, dry_run in (("dry_run", True), ("run", False), ("rerun", False)):
        began = time.perf_counter()
        report = crm_import(folder=Folder(export.path), brand=brand, actor=admin, dry_run=dry_run,
                            send_links=False)
        seconds = time.perf_counter() - began
        rows = sum(sum(counter.values()) for counter in report.counts.values())
        rates[label] = rows / seconds
        log(f"{label}: {rows} rows in {seconds:.1f} s, {len(report.problems)} bad rows")
        if len(report.problems) != len(export.bad):
            failed += 1
            log(f"{label}: expected {len(export.bad)} bad rows, found {len(report.problems)}")
        if label != "dry_run":
            difference = sum((new - old for old, new in report.totals().values()), Decimal(0))
    record("moving_in.dry_run", value=rates["dry_run"], unit="rows/s", limit=None, goal="informational", size=size)
    record("moving_in.run", value=rates["run"], unit="rows/s", limit=None, goal=f">= {GOAL_RUN_ROWS_PER_S:g}",
           size=size)
    record("moving_in.rerun", value=rates["rerun"], unit="rows/s", limit=rates["run"],
           goal=f"ratio >= {GOAL_RERUN_SPEEDUP:g} (times the run)", size=size)
    record("moving_in.difference", value=float(difference), unit="currency units", limit=None, goal="== 0",
           size=size)
    finish(env)
    return 1 if failed or difference else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
