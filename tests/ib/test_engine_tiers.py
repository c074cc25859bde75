"""Volume and active-client tiers over a rolling window: the factor a partner reaches at each
trade, climbing as volume builds and falling back as old deals leave the window, with amounts
computed by hand (the three-level tree of engine_world: per lot Leaf 5, Sub 2, Master 1)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.exceptions import ValidationFailed
from ib import commissions as cs
from ib.models import CommissionLine
from tests.ib.engine_world import MARCH, add_account, add_client, make_world, round_trip, store, t, totals

D = Decimal
pytestmark = pytest.mark.django_db


def lots_world():
    """Tiers on the Leaf's clients' lots over 7 days: from 3 lots the rate doubles."""
    return make_world(plan_rules=[{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"],
                                   "tiers": [{"min_lots": "3", "factor": "2"}], "tier_window_days": 7}])


def test_a_partner_climbs_a_tier_as_volume_builds_and_falls_back_as_the_window_moves_on():
    w = lots_world()
    store(w, [
        # 28 February: 2 lots, before the period but inside the window of early March.
        *round_trip(w.account, opened=t(28, 9, month=2), closed=t(28, 10, month=2), volume="2"),
        # 2 March: 1 lot; the window (23 Feb - 2 Mar) holds 3 lots: ×2 → Leaf 10, Sub 4, Master 2.
        *round_trip(w.account, opened=t(2, 10), closed=t(2, 11)),
        # 20 March: 1 lot; the window (13 - 20 Mar) holds only it: ×1 → Leaf 5, Sub 2, Master 1.
        *round_trip(w.account, opened=t(20, 10), closed=t(20, 11)),
    ])
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(run) == {"Leaf": D("15.00"), "Sub": D("6.00"), "Master": D("3.00")}
    early, late = CommissionLine.objects.filter(run=run, beneficiary=w.leaf).order_by("business_time")
    assert (early.tier_value, early.tier_min, early.tier_factor, early.rate) == (D("3"), D("3"), D("2"), D("10"))
    assert (late.tier_value, late.tier_min, late.tier_factor, late.rate) == (D("1"), None, D("1"), D("5"))
    # Every level is scaled by the Leaf's tier: the Master earned 1 x 2 on the early trade.
    assert CommissionLine.objects.get(run=run, beneficiary=w.master, source_id=early.source_id).amount == D("2")


def test_active_client_accounts_over_the_window_set_the_tier():
    w = make_world(plan_rules=[{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"],
                                "tiers": [{"min_clients": "2", "factor": "1.5"}], "tier_window_days": 10}])
    other = add_account(w, add_client(w, w.leaf))
    store(w, [
        # 3 March: the second client trades; one active account → ×1: Leaf 5, Sub 2, Master 1.
        *round_trip(other, opened=t(3, 10), closed=t(3, 11)),
        # 5 March: the first client trades; both active within 10 days → ×1.5: Leaf 7.5, Sub 3, Master 1.5.
        *round_trip(w.account, opened=t(5, 10), closed=t(5, 11)),
        # 25 March: the first client again; the other's last trade is 22 days old → ×1: 5, 2, 1.
        *round_trip(w.account, opened=t(25, 10), closed=t(25, 11)),
    ])
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(run) == {"Leaf": D("17.50"), "Sub": D("7.00"), "Master": D("3.50")}
    values = list(CommissionLine.objects.filter(run=run, beneficiary=w.leaf).order_by("business_time")
                  .values_list("tier_value", "tier_factor"))
    assert values == [(D("1"), D("1")), (D("2"), D("1.5")), (D("1"), D("1"))]


def test_reruns_and_increments_of_a_tiered_plan_end_where_a_full_run_ends():
    w = lots_world()
    store(w, [*round_trip(w.account, opened=t(2, 10), closed=t(2, 11), volume="2"),
              *round_trip(w.account, opened=t(20, 10), closed=t(20, 11))])
    first = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # 2 Mar: 2 lots (window 2) ×1 → Leaf 10; 20 Mar: 1 lot ×1 → Leaf 5.
    assert totals(first)["Leaf"] == D("15.00")
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == totals(first)
    # A late 2-lot trade on 19 March lifts 20 March into the tier: 19 Mar ×1 → 10; 20 Mar (3 lots) ×2 → 10.
    store(w, round_trip(w.account, opened=t(19, 10), closed=t(19, 11), volume="2"))
    inc = cs.commission_run_increment(brand=w.brand, period=MARCH)
    assert totals(inc) == {"Leaf": D("30.00"), "Sub": D("12.00"), "Master": D("6.00")}
    assert totals(inc) == totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH))


@pytest.mark.parametrize("rule, field", [
    ({"kind": "cpa", "rate": "50", "level_rates": ["50"], "tiers": [{"min_lots": "1", "factor": "2"}]}, "tiers"),
    ({"tiers": [{"min_lots": "1", "factor": "2"}, {"min_clients": "3", "factor": "3"}]}, "tiers"),
    ({"tiers": [{"min_lots": "5", "factor": "2"}, {"min_lots": "5", "factor": "3"}]}, "tiers[1].min_lots"),
    ({"tiers": [{"min_lots": "5", "factor": "-1"}]}, "tiers[0].factor"),
    ({"tiers": [{"min_lots": "5"}]}, "tiers[0]"),
    ({"tiers": [{"min_lots": "5", "factor": "2"}], "tier_window_days": 400}, "tier_window_days"),
])
def test_a_bad_tier_is_refused_and_named(rule, field):
    w = make_world()
    spec = {"code": "x", "kind": "per_lot", "group": "fx", "level_rates": ["5"], **rule}
    with pytest.raises(ValidationFailed) as refused:
        cs.plan_version_record(actor=None, plan=w.plan, effective_from=t(1, 0, month=4), rules=[spec])
    assert f"rules[0].{field}" in refused.value.fields


def test_the_partner_sees_the_tier_in_the_line_explanation():
    from tests.ib.test_partner_portal import PASSWORD, sign_in

    w = lots_world()
    w.login = w.services.partner_login_set_password(partner=w.leaf, password=PASSWORD)
    store(w, round_trip(w.account, opened=t(2, 10), closed=t(2, 11), volume="3"))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    line = CommissionLine.objects.get(run=run, beneficiary=w.leaf)
    http, _ = sign_in(w)
    page = http.get(f"/partners/earnings/{line.key}/").content.decode()
    assert "own partner's clients closed 3.00 lots in the 7 days up to this trade" in page
    assert "the rate × 2.00" in page
