"""The commission engine's SQL (ib/sql/engine/, plumbing.sqlfiles): a month whose plan reaches every
branch runs every statement file of the engine, split over two connections and then incremented;
and the plans of the heavy statements keep what their comments promise."""

from __future__ import annotations

import itertools
import logging
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection

from crm.lib.money import Money
from ib import commissions as cs
from ib import engine
from plumbing import sqlfiles
from tests.ib.engine_world import (
    MARCH,
    add_account,
    add_client,
    deal,
    make_world,
    round_trip,
    store,
    t,
    totals,
)

ENGINE = [name for name in sqlfiles.sql_names("ib") if name.startswith("engine/")]
_positions = itertools.count(7_000_000)

# Per lot on fx with a volume tier, per lot on metals with an active-clients tier and a cap, a CPA
# clawed back by a chargeback; net hedging and a cap per client.
RULES = [
    {"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"],
     "tiers": [{"min_lots": "3", "factor": "2"}], "tier_window_days": 7},
    {"code": "gold", "kind": "per_lot", "group": "metals", "level_rates": ["1"], "period_cap": "100",
     "tiers": [{"min_clients": "2", "factor": "1.5"}], "tier_window_days": 10},
    {"code": "cpa", "kind": "cpa", "level_rates": ["200", "50"], "cpa_min_deposit": "100"},
]


def gold(account: Any, day: int, volume: str = "1") -> list[Any]:
    position = next(_positions)
    return [deal(account, time=t(day, 10), entry="in", side="buy", position=position, volume=volume, symbol="XAUUSD"),
            deal(account, time=t(day, 11), entry="out", side="sell", position=position, volume=volume,
                 symbol="XAUUSD")]


def month() -> Any:
    w = make_world(plan_rules=RULES, hedge_mode="net", client_cap="1000")
    sub_account = add_account(w, add_client(w, w.sub))
    cs.deposit_record(client=w.client, amount=Money("250", "USD"), at=t(2, 9), reference="dep-1")
    cs.chargeback_record(client=w.client, amount=Money("250", "USD"), at=t(12, 9), reference="cb-1")
    store(w, [
        # A hedged pair (a 5-lot buy, then a 3-lot sell against it), a gold lot of each client.
        *round_trip(w.account, opened=t(3, 10), closed=t(3, 13), side="buy", volume="5"),
        *round_trip(w.account, opened=t(3, 11), closed=t(3, 12), side="sell", volume="3"),
        *gold(w.account, 4), *gold(sub_account, 5),
        *round_trip(sub_account, opened=t(6, 10), closed=t(6, 11)),
    ])
    return w


class Explained:
    """The engine's `_execute` that first explains the named statements (their SET LOCALs applied)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.plans: dict[str, dict[str, Any]] = {}
        self.execute = engine._execute

    def __call__(self, name: str, params: dict[str, Any], db: Any = None, **parts: Any) -> int:
        if name in self.names and db is None and name not in self.plans:
            with connection.cursor() as cursor:
                for statement in sqlfiles.sql_statements("ib", f"engine/{name}", **parts):
                    if statement.startswith("SET"):
                        cursor.execute(statement, params)
                        continue
                    cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
                    self.plans[name] = cursor.fetchone()[0][0]["Plan"]
                    break
        return self.execute(name, params, db, **parts)


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in nodes(child))]


@pytest.mark.django_db(transaction=True)
def test_a_month_split_over_two_connections_then_incremented_runs_every_statement_of_the_engine(settings, caplog):
    w = month()
    connection.close()  # the rows just written counted as committed (see test_engine_two_connections)
    settings.IB_ENGINE_PARALLEL_DEALS = 1
    sqlfiles.used.clear()
    with caplog.at_level(logging.INFO, logger="ib.engine"):
        split = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert "on a second connection" in caplog.text
    paid, as_of = totals(split), split.as_of
    store(w, round_trip(w.account, opened=t(20, 10), closed=t(20, 11)))
    cs.commission_run_increment(brand=w.brand, period=MARCH)  # tiered: the whole period again
    plain = make_world()  # without tiers an increment recomputes only what changed
    cs.commission_run(actor=None, brand=plain.brand, period=MARCH)
    store(plain, round_trip(plain.account, opened=t(20, 10), closed=t(20, 11)))
    assert totals(cs.commission_run_increment(brand=plain.brand, period=MARCH)) == {
        "Leaf": D("5.00"), "Sub": D("2.00"), "Master": D("1.00")}
    with connection.cursor() as cursor:
        cursor.execute(sqlfiles.sql_text("ib", "engine/bench_baseline"), {"start": t(1, 0), "end": t(1, 0, month=4)})
        volumes = dict(cursor.fetchall())
    assert (volumes[w.leaf.pk], volumes[w.sub.pk], volumes[plain.leaf.pk]) == (D("20"), D("4"), D("2"))
    ran = {name for app, name in sqlfiles.used if app == "ib"}
    assert not set(ENGINE) - ran, f"not run: {sorted(set(ENGINE) - ran)}"
    # What the split run paid (before its increment), one connection pays as of then.
    settings.IB_ENGINE_PARALLEL_DEALS = 0
    assert paid == totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH, as_of=as_of))


@pytest.mark.django_db
def test_the_month_s_heavy_statements_plan_as_their_comments_say(monkeypatch):
    w = month()
    explained = Explained(("pos", "src", "batches"))
    monkeypatch.setattr(engine, "_execute", explained)
    cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    pos, src, batches = (nodes(explained.plans[name]) for name in ("pos", "src", "batches"))
    # The positions: one aggregate over the deals, in this process alone (no workers).
    assert [n["Node Type"] for n in pos].count("Aggregate") == 1
    assert not any(n["Node Type"].startswith("Gather") for n in pos)
    # The sources: the deals joined to the small tables by hashes, never a loop over the deals.
    assert not any(n["Node Type"] == "Nested Loop" for n in src)
    assert [n["Node Type"] for n in src].count("Hash Join") >= 3
    # The batches: the sources grouped by a hash, never sorted (a sort of one chargeback's few is no matter).
    grouping = [n for n in batches if n["Node Type"] == "Aggregate"
                and any("partner_id" in key for key in n.get("Group Key", []))]
    assert grouping and all(n["Strategy"] == "Hashed" for n in grouping)
    assert not any(n["Node Type"] in ("Sort", "Incremental Sort") and any(m.get("Relation Name") == "_src"
                                                                        for m in nodes(n)) for n in batches)
