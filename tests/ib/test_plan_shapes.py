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


# --- hedged positions -------------------------------------------------------------------------------

HEDGE_RULES = [{"code": "lot", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"]}]


@pytest.mark.django_db
@pytest.mark.parametrize(("mode", "expected"), [
    # A 5-lot buy (10:00-13:00) and a 3-lot sell opened while it was open (11:00-12:00), 5 / 2 / 1 a lot:
    # the later-opened sell earns nothing: 5 lots → Leaf 25, Sub 10, Master 5;
    (None, {"Leaf": D("25.00"), "Sub": D("10.00"), "Master": D("5.00")}),
    # both legs: 8 lots → 40, 16, 8;
    ("both", {"Leaf": D("40.00"), "Sub": D("16.00"), "Master": D("8.00")}),
    # only the volume not offset: 5 - 3 = 2 lots → 10, 4, 2 (the buy earns on 5 x 2/5, the sell on 0:
    # tests/ib/test_engine_net_hedge.py).
    ("net", {"Leaf": D("10.00"), "Sub": D("4.00"), "Master": D("2.00")}),
])
def test_a_hedged_pair_under_each_choice(mode, expected):
    w = make_world(plan_rules=HEDGE_RULES, **({"hedge_mode": mode} if mode else {}))
    store(w, [*round_trip(w.account, opened=t(3, 10), closed=t(3, 13), side="buy", volume="5"),
              *round_trip(w.account, opened=t(3, 11), closed=t(3, 12), side="sell", volume="3")])
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == expected


@pytest.mark.django_db
def test_net_hedging_pays_the_volume_not_offset_when_the_later_leg_is_the_larger():
    w = make_world(plan_rules=HEDGE_RULES, hedge_mode="net")
    # A 3-lot buy, then a 5-lot sell opened against it: the buy is offset whole (0), the sell earns
    # on 5 x (5 - 3) / 5 = 2 lots → 10, 4, 2.
    store(w, [*round_trip(w.account, opened=t(3, 10), closed=t(3, 13), side="buy", volume="3"),
              *round_trip(w.account, opened=t(3, 11), closed=t(3, 12), side="sell", volume="5")])
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("10.00"), "Sub": D("4.00"), "Master": D("2.00")}


# --- sub-IB overrides -----------------------------------------------------------------------------

def _own_plan(w, name, rate, rules=None):
    plan = cs.plan_create(actor=None, brand=w.brand, name=name)
    cs.plan_version_record(actor=None, plan=plan, effective_from=t(1, 0, month=1), recorded_at=t(1, 0, month=1),
                           split_mode="differential", rules=rules or [
                               {"code": "lot", "kind": "per_lot", "group": "fx", "rate": rate},
                               {"code": "gold", "kind": "per_lot", "group": "metals", "rate": str(int(rate) * 2)}])
    return plan


@pytest.mark.django_db
def test_a_differential_override_pays_each_parent_its_rate_minus_the_highest_below():
    from tests.ib.engine_world import add_account, add_client

    w = make_world()
    # Master's plan: 10 a lot of fx (20 of metals); Sub's 7 (14); Leaf's 4 (8): two sub-IBs at different rates.
    for partner, name, rate in ((w.master, "Master 10", "10"), (w.sub, "Sub 7", "7"), (w.leaf, "Leaf 4", "4")):
        cs.plan_assign(actor=None, plan=_own_plan(w, name, rate), partner=partner, effective_from=t(1, 0, month=2))
    subs_client = add_account(w, add_client(w, w.sub))
    store(w, [*round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"),
              *round_trip(w.account, opened=t(4, 10), closed=t(4, 11), volume="1", symbol="XAUUSD"),
              *round_trip(subs_client, opened=t(3, 10), closed=t(3, 11), volume="2")])
    # Leaf's client, 1 lot fx: Leaf 4, Sub 7 - 4 = 3, Master 10 - 7 = 3; 1 lot gold (100 oz, 100 a lot):
    #   Leaf 8, Sub 14 - 8 = 6, Master 20 - 14 = 6.
    # Sub's client, 2 lots fx: Sub 2 x 7 = 14, Master 2 x (10 - 7) = 6.
    # Leaf 12; Sub 3 + 6 + 14 = 23; Master 3 + 6 + 6 = 15.
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("12.00"), "Sub": D("23.00"), "Master": D("15.00")}


@pytest.mark.django_db
def test_a_differential_parent_below_its_child_earns_nothing():
    w = make_world()
    for partner, name, rate in ((w.master, "Master 10", "10"), (w.sub, "Sub 3", "3"), (w.leaf, "Leaf 6", "6")):
        cs.plan_assign(actor=None, plan=_own_plan(w, name, rate), partner=partner, effective_from=t(1, 0, month=2))
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"))
    # Leaf 6; Sub max(0, 3 - 6) = 0; Master 10 - 6 = 4.
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("6.00"), "Master": D("4.00")}


@pytest.mark.django_db
def test_pass_up_on_top_of_the_childs_amount():
    w = make_world(plan_rules=[{"code": "r", "kind": "per_lot", "rate": "10"}], split_mode="pass_up",
                   pass_up_percent="20", pass_up_base="on_top")
    # Leaf the whole 10; Sub 20% of Leaf's 10 = 2 on top; Master 20% of Sub's 2 = 0.40.
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11)))
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("10.00"), "Sub": D("2.00"), "Master": D("0.40")}


# --- revenue-share basis ------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("flags", "leaf", "sub"), [
    # The client loses 100 on the trade, pays 10 commission, 5 swap and 2 fee; 30% / 10%:
    ({}, D("35.10"), D("11.70")),                                    # 117 x 30% = 35.10, x 10% = 11.70
    ({"net_with_commission": False}, D("32.10"), D("10.70")),       # 107
    ({"net_with_commission": False, "net_with_swap": False, "net_with_fee": False}, D("30.00"), D("10.00")),
])
def test_revenue_share_with_and_without_commissions_swaps_and_fees(flags, leaf, sub):
    w = make_world(plan_rules=[{"code": "rs", "kind": "revshare", "basis": "net_loss", "level_rates": ["30", "10"],
                                **flags}], min_hold_seconds=0)
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), profit="-100", commission="-10", swap="-5",
                        fee="-2"))
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {"Leaf": leaf, "Sub": sub}


@pytest.mark.django_db
def test_spread_share_from_the_deals_bid_and_ask_else_the_symbols_markup_per_lot():
    w = make_world(plan_rules=[{"code": "sp", "kind": "revshare", "basis": "spread", "level_rates": ["50", "10"]}])
    cs.instrument_save(actor=None, brand=w.brand, symbol="EURUSD", group=w.fx, contract_size="100000",
                       markup_per_lot="7")
    store(w, [
        # Reported bid and ask: (1.1002 - 1.1000) x 1 lot x 100 000 = 20 → Leaf 10, Sub 2.
        *round_trip(w.account, opened=t(3, 10), closed=t(3, 11), bid="1.1000", ask="1.1002"),
        # None reported (an MT5 deal report): 2 lots x 7 markup = 14 → Leaf 7, Sub 1.40.
        *round_trip(w.account, opened=t(4, 10), closed=t(4, 11), volume="2")])
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {"Leaf": D("17.00"),
                                                                                 "Sub": D("3.40")}


# --- minimum hold and caps per rule, cap per client ----------------------------------------------------------

@pytest.mark.django_db
def test_a_rules_own_minimum_hold_and_cap():
    w = make_world(plan_rules=[
        {"code": "lot", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"], "min_hold_seconds": 600,
         "period_cap": "12"},
        {"code": "gold", "kind": "per_lot", "group": "metals", "level_rates": ["8"]}])
    store(w, [
        # Held 5 minutes: over the version's 60 s, under the fx rule's 600 s: no fx rebate.
        *round_trip(w.account, opened=t(3, 10), closed=t(3, 10, 5), volume="1"),
        # Held an hour, 3 lots: Leaf 15 capped at the rule's 12; Sub 6, Master 3 (under the cap).
        *round_trip(w.account, opened=t(4, 10), closed=t(4, 11), volume="3"),
        # Gold held 5 minutes: its rule has no own minimum (the version's 60 s): 1 lot x 8 to Leaf.
        *round_trip(w.account, opened=t(5, 10), closed=t(5, 10, 5), volume="1", symbol="XAUUSD")])
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("20.00"), "Sub": D("6.00"), "Master": D("3.00")}


@pytest.mark.django_db
def test_a_cap_per_client():
    from tests.ib.engine_world import add_account, add_client

    w = make_world(client_cap="8")
    second = add_account(w, add_client(w, w.leaf))
    # 5 / 2 / 1 a lot. First client 1 lot: Leaf 5, Sub 2, Master 1; second client 3 lots: Leaf 15 → 8,
    # Sub 6, Master 3. Leaf 13, Sub 8, Master 4.
    store(w, [*round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"),
              *round_trip(second, opened=t(3, 10), closed=t(3, 11), volume="3")])
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("13.00"), "Sub": D("8.00"), "Master": D("4.00")}


# --- contract size per symbol ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_symbols_own_lot_size_within_its_group():
    w = make_world(plan_rules=[{"code": "gold", "kind": "per_lot", "group": "metals", "level_rates": ["8"]}])
    metals = w.fx.__class__.objects.get(brand=w.brand, code="metals")
    # Silver: 5 000 oz a platform lot, in the metals group (100 units a lot, gold's): its own standard
    # lot is 5 000 oz, so 2 platform lots are 2 lots (not 2 x 5 000 / 100 = 100) → Leaf 16.
    cs.instrument_save(actor=None, brand=w.brand, symbol="XAGUSD", group=metals, contract_size="5000",
                       units_per_lot="5000")
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="2", symbol="XAGUSD"))
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {"Leaf": D("16.00")}


# --- CPA ----------------------------------------------------------------------------------------------------

def _kyc_approved_at(client, when, settings, tmp_path):
    import time_machine

    from kyc.services import submission_checks_record
    from tests.kyc.conftest import report, submit

    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    with time_machine.travel(when, tick=False):
        submission_checks_record(submission=submit(client), report=report(expiry=dt.date(2030, 1, 1)))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT approved_at FROM kyc_public_approvals WHERE client_id = %s", [client.pk])
        assert cursor.fetchall() == [(when,)]


def _registered_client(w, when):
    import time_machine

    from tests.ib.engine_world import add_client

    with time_machine.travel(when, tick=False):
        return add_client(w, w.leaf)


@pytest.mark.django_db
@pytest.mark.parametrize(("anchor", "kyc_day", "paid"), [
    # Registered 1 March 09:00, first deposit 8 March 10:00, a 10-day window, KYC approved at noon of kyc_day.
    ("registration", 5, True),     # window to 11 March 09:00: KYC inside; qualified at the deposit (8 March)
    ("registration", 14, False),   # KYC after the window: never qualifies
    ("first_deposit", 14, True),   # window to 18 March 10:00: KYC inside; qualified at the approval (14 March)
    ("first_deposit", 20, False),  # KYC after the window
])
def test_cpa_window_from_registration_or_first_deposit_with_kyc_inside_or_outside_it(anchor, kyc_day, paid,
                                                                                     settings, tmp_path):
    w = make_world(plan_rules=[{"code": "cpa", "kind": "cpa", "level_rates": ["200", "50"], "cpa_within_days": 10,
                                "cpa_window_from": anchor, "cpa_kyc_within_window": True}])
    client = _registered_client(w, t(1, 9))
    cs.deposit_record(client=client, amount=Money("250", "USD"), at=t(8, 10), reference=f"dep-{anchor}")
    _kyc_approved_at(client, t(kyc_day, 12), settings, tmp_path)
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(run) == ({"Leaf": D("200.00"), "Sub": D("50.00")} if paid else {})
    if paid:
        qualified = t(8, 10) if anchor == "registration" else t(kyc_day, 12)
        assert {line.business_time for line in run.lines.all()} == {qualified}


@pytest.mark.django_db
@pytest.mark.parametrize(("scope", "clawed"), [("any", True), ("qualifying", False)])
def test_a_chargeback_of_a_second_deposit_under_each_clawback_choice(scope, clawed):
    w = make_world(plan_rules=[{"code": "cpa", "kind": "cpa", "level_rates": ["200", "50"], "cpa_min_deposit": "100",
                                "clawback_scope": scope}])
    # The first deposit (100, qualifying) on 8 March, a second (500) on 9 March: CPA 200 / 50 in March.
    cs.deposit_record(client=w.client, amount=Money("100", "USD"), at=t(8, 10), reference="dep-1")
    cs.deposit_record(client=w.client, amount=Money("500", "USD"), at=t(9, 10), reference="dep-2")
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {"Leaf": D("200.00"),
                                                                                 "Sub": D("50.00")}
    # The second deposit is charged back on 10 April: any deposit's chargeback claws the CPA back
    # (Leaf -200, Sub -50 carried); under "qualifying deposit only" April has nothing.
    cs.chargeback_record(client=w.client, amount=Money("500", "USD"), at=t(10, 12, month=4), reference="cb-2",
                         deposit_reference="dep-2")
    april = cs.commission_run(actor=None, brand=w.brand, period=APRIL)
    if clawed:
        assert _carry(april) == {"Leaf": D("-200"), "Sub": D("-50")}
    else:
        assert totals(april) == {}
    # A chargeback of the qualifying deposit claws back under either choice.
    cs.chargeback_record(client=w.client, amount=Money("100", "USD"), at=t(11, 12, month=4), reference="cb-1",
                         deposit_reference="dep-1")
    assert _carry(cs.commission_run(actor=None, brand=w.brand, period=APRIL)) == {"Leaf": D("-200"), "Sub": D("-50")}
