"""The plan shapes brokers run (issue 33), each a choice on the rule or plan version, on the
three-level tree of tests.ib.engine_world (Master → Sub → Leaf, the client is Leaf's), with the
amounts computed by hand in the comments. The default of each choice is the engine's earlier
behaviour, which the other engine tests pin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm.lib.money import Money
from ib import commissions as cs
from tests.ib.engine_world import APRIL, MARCH, make_world, round_trip, store, t, totals

D = Decimal
FEBRUARY = dt.date(2024, 2, 1)


def _carry(run):
    return {x.partner: x.carry_out for x in cs.run_totals(run)}


# --- negative totals ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_plan_without_carry_over_pays_each_month_on_its_own_over_three_months():
    w = make_world(plan_rules=[{"code": "rs", "kind": "revshare", "basis": "net_loss", "level_rates": ["30"],
                                "carry_negative": False}], min_hold_seconds=0)
    # February: the client wins 1,000 → Leaf 30% x -1,000 = -300: nothing paid, nothing carried.
    store(w, round_trip(w.account, opened=t(5, 10, month=2), closed=t(5, 11, month=2), profit="1000"))
    february = cs.commission_run(actor=None, brand=w.brand, period=FEBRUARY)
    assert totals(february) == {"Leaf": D("0")} and _carry(february) == {"Leaf": D("0")}
    # March: the client loses 600 → 180 paid in full (with carry-over it would be 180 - 300 < 0).
    store(w, round_trip(w.account, opened=t(5, 10), closed=t(5, 11), profit="-600"))
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {"Leaf": D("180.00")}
    # April: the client wins 100 and loses 50 → 30% x -50 = -15: 0, nothing carried into May.
    store(w, [*round_trip(w.account, opened=t(2, 10, month=4), closed=t(2, 11, month=4), profit="100"),
              *round_trip(w.account, opened=t(3, 10, month=4), closed=t(3, 11, month=4), profit="-50")])
    april = cs.commission_run(actor=None, brand=w.brand, period=APRIL)
    assert totals(april) == {"Leaf": D("0")} and _carry(april) == {"Leaf": D("0")}


@pytest.mark.django_db
def test_a_rule_without_carry_over_drops_only_its_own_negative_part():
    w = make_world(plan_rules=[{"code": "rs", "kind": "revshare", "basis": "net_loss", "level_rates": ["30"],
                                "carry_negative": False},
                               {"code": "lot", "kind": "per_lot", "group": "fx", "level_rates": ["40"]}],
                   min_hold_seconds=0)
    # March: one lot, the client wins 1,000 → lot +40, revshare -300: net -260, payable 0; the
    # revshare's -300 is not carried, so the carry is min(0, -260 + 300) = 0.
    store(w, round_trip(w.account, opened=t(5, 10), closed=t(5, 11), profit="1000"))
    march = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(march) == {"Leaf": D("0")} and _carry(march) == {"Leaf": D("0")}


@pytest.mark.django_db
def test_a_plan_where_the_partner_owes_a_negative_month_shows_and_settles_it_negative():
    w = make_world(plan_rules=[{"code": "rs", "kind": "revshare", "basis": "net_loss", "level_rates": ["30", "10"],
                                "negative_owed": True}], min_hold_seconds=0)
    # March: the client wins 200 → Leaf -60.00 and Sub -20.00 owed, nothing carried.
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), profit="200"))
    march = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(march) == {"Leaf": D("-60.00"), "Sub": D("-20.00")}
    assert _carry(march) == {"Leaf": D("0"), "Sub": D("0")}
    rows = cs.commission_run_settle(actor=None, run=march)
    assert sorted(r.amount for r in rows) == [D("-60.00"), D("-20.00")]
    # April starts clean: the client loses 100 → Leaf 30, Sub 10.
    store(w, round_trip(w.account, opened=t(3, 10, month=4), closed=t(3, 11, month=4), profit="-100"))
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=APRIL)) == {"Leaf": D("30.00"),
                                                                                 "Sub": D("10.00")}


# --- settling a run without totals ------------------------------------------------------------------

@pytest.mark.django_db
def test_a_run_without_totals_is_settled_once():
    from ib.exceptions import Conflict

    w = make_world()
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert cs.commission_run_settle(actor=None, run=run) == []
    run.refresh_from_db()
    assert run.settled_at is not None
    with pytest.raises(Conflict, match="settled already"):
        cs.commission_run_settle(actor=None, run=run)
    # The daily increment no longer adds to the settled run: it opens the next one.
    assert cs.commission_run_increment(brand=w.brand, period=MARCH).number == 2
