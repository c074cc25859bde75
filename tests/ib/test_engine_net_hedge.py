"""Net hedging (plan version `hedge_mode: net`, issue 61 item 1): only the volume not offset earns.
On an account and symbol the open buys and sells offset each other at every moment; a closing deal
earns on its volume x the smallest share of its side's open volume left unoffset from its
position's opening to just before the deal (ib/sql/engine/net_hedge.sql). On the three-level tree of
tests.ib.engine_world (Master → Sub → Leaf, the client is Leaf's), 5 / 2 / 1 a lot of fx, amounts
computed by hand in the comments."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ib import commissions as cs
from tests.ib.engine_world import MARCH, deal, make_world, round_trip, store, t, totals

D = Decimal
CENT = D("0.01")
RULES = [{"code": "lot", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"]}]


def lines(w: SimpleNamespace, run: Any) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
    """Each line as (hour of its deal, partner) → (lots it earns on, amount), to the cent."""
    names = {w.leaf.pk: "Leaf", w.sub.pk: "Sub", w.master.pk: "Master"}
    return {(x.business_time.hour, names[x.beneficiary_id]): (x.basis.quantize(CENT), x.amount.quantize(CENT))
            for x in cs.run_lines(run)}


@pytest.mark.django_db
def test_a_buy_offset_by_two_sells_one_after_the_other_earns_on_the_volume_never_offset() -> None:
    w = make_world(plan_rules=RULES, hedge_mode="net")
    # A 1.00-lot buy open 08:00-18:00; 0.60-lot sells open 09:00-10:00 and 13:00-14:00.
    store(w, [*round_trip(w.account, opened=t(3, 8), closed=t(3, 18), side="buy", volume="1"),
              *round_trip(w.account, opened=t(3, 9), closed=t(3, 10), side="sell", volume="0.6"),
              *round_trip(w.account, opened=t(3, 13), closed=t(3, 14), side="sell", volume="0.6")])
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # The buy's unoffset share: 1 from 08:00, (1 - 0.6) / 1 = 0.4 at 09:00, 1 at 10:00, 0.4 at
    # 13:00, 1 at 14:00: 0.4 at its lowest, so its close earns on 1 x 0.4 = 0.4 lot: Leaf 2.00,
    # Sub 0.80, Master 0.40. Each sell is offset whole while open (0.6 against the buy's 1): its
    # close earns on 0 lots: no line (never a negative one; the engine used to pay -0.60 lot on each).
    assert lines(w, run) == {
        (18, "Leaf"): (D("0.40"), D("2.00")), (18, "Sub"): (D("0.40"), D("0.80")),
        (18, "Master"): (D("0.40"), D("0.40")),
    }
    assert totals(run) == {"Leaf": D("2.00"), "Sub": D("0.80"), "Master": D("0.40")}


@pytest.mark.django_db
@pytest.mark.parametrize(("buy", "sell", "buy_lots", "sell_lots"), [
    # A 5-lot buy (10:00-13:00) and a 3-lot sell opened while it was open (11:00-12:00): the buy's
    # share is 2/5 at 11:00 → 2 lots; the sell is offset whole → 0. Both 2 lots in all, as before.
    ("5", "3", D("2.00"), D("0.00")),
    # A 3-lot buy and a 5-lot sell opened against it: the buy is offset whole → 0; the sell's share
    # is (5 - 3) / 5 → 2 lots (the engine used to pay the buy 3 and the sell -1).
    ("3", "5", D("0.00"), D("2.00")),
])
def test_a_single_opposite_position_pays_the_volume_not_offset(buy: str, sell: str, buy_lots: Decimal,
                                                                sell_lots: Decimal) -> None:
    w = make_world(plan_rules=RULES, hedge_mode="net")
    store(w, [*round_trip(w.account, opened=t(3, 10), closed=t(3, 13), side="buy", volume=buy),
              *round_trip(w.account, opened=t(3, 11), closed=t(3, 12), side="sell", volume=sell)])
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    found = lines(w, run)
    # A deal earning on 0 lots has no line.
    assert {level: found.get((13, level), (D("0.00"),))[0] for level in ("Leaf", "Sub", "Master")} == dict.fromkeys(
        ("Leaf", "Sub", "Master"), buy_lots)
    assert {level: found.get((12, level), (D("0.00"),))[0] for level in ("Leaf", "Sub", "Master")} == dict.fromkeys(
        ("Leaf", "Sub", "Master"), sell_lots)
    # 2 lots in all: Leaf 10, Sub 4, Master 2.
    assert totals(run) == {"Leaf": D("10.00"), "Sub": D("4.00"), "Master": D("2.00")}


@pytest.mark.django_db
def test_a_part_closed_before_the_opposite_position_opened_keeps_its_line() -> None:
    """A closing deal reads only what happened before it: a sell opened later does not take from
    the part of the buy already closed."""
    w = make_world(plan_rules=RULES, hedge_mode="net")
    position = 7_000_001
    store(w, [
        # A 1-lot buy at 10:00; 0.5 lot closed at 11:00 (nothing offset it yet: 0.5 lot earns).
        deal(w.account, time=t(3, 10), entry="in", side="buy", position=position, volume="1"),
        deal(w.account, time=t(3, 11), entry="out", side="sell", position=position, volume="0.5"),
        # A 0.6-lot sell 12:00-13:00 against the 0.5 left: the buy's share 0 → its 14:00 close earns
        # nothing; the sell's share (0.6 - 0.5) / 0.6 → 0.6 x 1/6 = 0.1 lot.
        *round_trip(w.account, opened=t(3, 12), closed=t(3, 13), side="sell", volume="0.6"),
        deal(w.account, time=t(3, 14), entry="out", side="sell", position=position, volume="0.5"),
    ])
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    found = lines(w, run)
    assert [found.get((hour, "Leaf"), (D("0.00"),))[0] for hour in (11, 13, 14)] == [D("0.50"), D("0.10"), D("0.00")]
    # 0.6 lot in all: Leaf 3.00, Sub 1.20, Master 0.60.
    assert totals(run) == {"Leaf": D("3.00"), "Sub": D("1.20"), "Master": D("0.60")}


trade = st.tuples(st.integers(3, 4), st.integers(0, 17), st.integers(1, 6),
                  st.sampled_from(["0.1", "0.6", "1", "2.5"]), st.sampled_from(["buy", "sell"]))


@pytest.mark.django_db
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trades=st.lists(trade, min_size=2, max_size=10))
def test_hedging_never_makes_a_line_negative_nor_larger_than_its_deal(
        trades: list[tuple[int, int, int, str, str]]) -> None:
    """Overlapping buys and sells on one account and symbol, however many: every line earns on
    between 0 and its deal's lots, and the whole never exceeds what both legs earn (`both`)."""
    w = make_world(plan_rules=RULES, hedge_mode="net", min_hold_seconds=0)
    deals: list[Any] = []
    for day, hour, hours, volume, side in trades:
        deals += round_trip(w.account, opened=t(day, hour), closed=t(day, hour + hours), side=side, volume=volume)
    store(w, deals)
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    found = cs.run_lines(run)
    largest = max(D(volume) for *_, volume, _side in trades)
    assert all(D(0) <= x.basis <= largest and x.amount >= 0 for x in found)
    leaf = sum(x.basis for x in found if x.beneficiary_id == w.leaf.pk)
    assert leaf <= sum(D(volume) for *_, volume, _side in trades)
    # Re-running changes nothing.
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == totals(run)
