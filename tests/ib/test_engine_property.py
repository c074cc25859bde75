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
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
