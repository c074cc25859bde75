"""However many times the engine runs over the same deals, the totals do not change."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ib import commissions as cs
from tests.ib.engine_world import MARCH, make_world, round_trip, store, t, totals

trade = st.tuples(st.integers(1, 28), st.integers(0, 22), st.integers(0, 119),
                  st.sampled_from(["0.01", "0.1", "0.33", "1", "2.5"]), st.sampled_from(["buy", "sell"]))


@pytest.mark.django_db
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trades=st.lists(trade, min_size=1, max_size=12), runs=st.integers(2, 4))
def test_rerunning_the_engine_never_changes_the_totals(trades, runs):
    w = make_world(plan_rules=[{"code": "r", "kind": "per_lot", "level_rates": ["3.3", "1.1", "0.7"]},
                               {"code": "rs", "kind": "revshare", "basis": "commission", "level_rates": ["25"]}])
    deals = []
    for day, hour, minutes, volume, side in trades:
        opened = t(day, hour)
        deals += round_trip(w.account, opened=opened, closed=t(day, hour, minutes % 60, minutes // 60 * 30),
                            side=side, volume=volume, commission="-3.5")
    store(w, deals)
    first = totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH))
    for _ in range(runs - 1):
        assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == first
    assert totals(cs.commission_run_increment(brand=w.brand, period=MARCH)) == first


change = st.tuples(st.integers(0, 1), st.integers(1, 28), st.integers(0, 22), st.sampled_from(["0.1", "1", "2.5"]))


@pytest.mark.django_db
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(before=st.lists(change, min_size=1, max_size=8), after=st.lists(change, max_size=6),
       edit=st.booleans(), delete=st.booleans())
def test_an_increment_after_new_edited_and_deleted_deals_equals_a_full_run(before, after, edit, delete):
    """The daily increment corrects the totals from the lines it removes and adds: whatever arrived,
    changed or disappeared since, it ends where a full run over the same deals ends."""
    from dataclasses import replace

    from tests.ib.engine_world import add_account, add_client
    from trading.sync import _mark_deleted

    w = make_world(plan_rules=[{"code": "r", "kind": "per_lot", "level_rates": ["3.3", "1.1", "0.7"]},
                               {"code": "rs", "kind": "revshare", "basis": "commission", "level_rates": ["25", "5"]}])
    accounts = [w.account, add_account(w, add_client(w, w.sub))]

    def trips(spec):
        out = []
        for which, day, hour, volume in spec:
            out.append(round_trip(accounts[which], opened=t(day, hour), closed=t(day, hour, 30), volume=volume,
                                  commission="-1.5"))
        return out

    first = trips(before)
    store(w, [d for pair in first for d in pair])
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    later = trips(after)
    store(w, [d for pair in later for d in pair])
    if edit:
        store(w, [replace(first[0][1], volume=first[0][1].volume * 2)])
    if delete and len(first) > 1:
        gone = first[-1]
        account = accounts[before[-1][0]]
        kept = {d.deal_id for pair in first + later for d in pair if d not in gone}
        _mark_deleted(w.server, [account], kept, t(1, 0), t(31, 23))

    def figures(r):
        return {(x.partner_id, x.currency): (x.gross, x.lines, x.payable) for x in r.totals.all()}

    inc = cs.commission_run_increment(brand=w.brand, period=MARCH)
    assert inc.pk == run.pk
    assert figures(inc) == figures(cs.commission_run(actor=None, brand=w.brand, period=MARCH))


# The plan shapes of issue 33, each in a version the property below runs under.
SHAPES = {
    "net hedging, caps per rule and client, a rule's own hold": (
        [{"code": "r", "kind": "per_lot", "level_rates": ["3.3", "1.1", "0.7"], "min_hold_seconds": 1800,
          "period_cap": "9"},
         {"code": "rs", "kind": "revshare", "basis": "net_loss", "level_rates": ["25", "5"], "carry_negative": False,
          "net_with_commission": False}],
        {"hedge_mode": "net", "client_cap": "7"}),
    "both legs, pass-up on top, spread from the markup, owed negatives": (
        [{"code": "r", "kind": "per_lot", "rate": "3.3"},
         {"code": "rs", "kind": "revshare", "basis": "spread", "rate": "40", "negative_owed": True}],
        {"hedge_mode": "both", "split_mode": "pass_up", "pass_up_percent": "15", "pass_up_base": "on_top"}),
    "differential": ([{"code": "r", "kind": "per_lot", "rate": "3.3"}], {"split_mode": "differential"}),
    # Issue 61, items 3 and 4: a pass-up chain, and the spread of each deal (the buys' closes carry one).
    "pass-up chain out of, spread per deal": (
        [{"code": "r", "kind": "per_lot", "rate": "3.3"}, {"code": "rs", "kind": "revshare", "basis": "spread",
                                                         "rate": "40"}],
        {"split_mode": "pass_up", "pass_up_percents": ["25", "10"]}),
    "pass-up chain on top": (
        [{"code": "r", "kind": "per_lot", "rate": "3.3"}],
        {"split_mode": "pass_up", "pass_up_base": "on_top", "pass_up_percents": ["10", "5"]}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("shape", list(SHAPES))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trades=st.lists(trade, min_size=1, max_size=10))
def test_rerunning_the_engine_under_each_plan_shape_never_changes_the_totals(shape, trades):
    rules, version = SHAPES[shape]
    w = make_world(plan_rules=rules, **version)
    cs.instrument_save(actor=None, brand=w.brand, symbol="EURUSD", group=w.fx, contract_size="100000",
                       markup_per_lot="1.7")
    if shape == "differential":
        # The Sub's own plan pays 2.2 a lot, below the Master's 3.3 and above the Leaf's nothing.
        sub_plan = cs.plan_create(actor=None, brand=w.brand, name="Sub's own")
        cs.plan_version_record(actor=None, plan=sub_plan, effective_from=t(1, 0, month=1), recorded_at=t(1, 0, month=1),
                               split_mode="differential", rules=[{"code": "r", "kind": "per_lot", "rate": "2.2"}])
        cs.plan_assign(actor=None, plan=sub_plan, partner=w.sub, effective_from=t(1, 0, month=2))
    deals = []
    for day, hour, minutes, volume, side in trades:
        spread = {"spread": "0.00013"} if "spread per deal" in shape and side == "buy" else {}
        deals += round_trip(w.account, opened=t(day, hour), closed=t(day, hour, minutes % 60, minutes // 60 * 30),
                            side=side, volume=volume, commission="-3.5", profit="-2" if side == "buy" else "1.5",
                            **spread)
    store(w, deals)
    first = totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH))
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == first
    assert totals(cs.commission_run_increment(brand=w.brand, period=MARCH)) == first
