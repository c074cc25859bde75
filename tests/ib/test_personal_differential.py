"""A personal plan on a trading account under differential plans (issue 61, item 2), on the
three-level tree of tests.ib.engine_world: the client is Leaf's (the sub-IB, 6.50 a lot of fx in its
own plan), Sub is its parent (8.00), Master the top (10.00). Each level earns its own rate minus the
highest rate below it, never below 0 (README, "Sub-IB overrides"); level 0's rate is the rate of the
plan chosen for the account: its personal plan when it has one in force at the deal's time, else its
partner's. The amounts are computed by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from ib import commissions as cs
from tests.ib.engine_world import MARCH, make_world, round_trip, store, t, totals

D = Decimal


def _plan(w, name, rate):
    plan = cs.plan_create(actor=None, brand=w.brand, name=name)
    cs.plan_version_record(actor=None, plan=plan, effective_from=t(1, 0, month=1), recorded_at=t(1, 0, month=1),
                           split_mode="differential",
                           rules=[{"code": "lot", "kind": "per_lot", "group": "fx", "rate": rate}])
    return plan


def _tree():
    """Leaf 6.50, Sub 8.00, Master 10.00 a lot of fx, each its own differential plan from February."""
    w = make_world()
    for partner, name, rate in ((w.master, "Master 10", "10.00"), (w.sub, "Sub 8", "8.00"),
                                (w.leaf, "Leaf 6.50", "6.50")):
        cs.plan_assign(actor=None, plan=_plan(w, name, rate), partner=partner, effective_from=t(1, 0, month=2))
    return w


def _personal(w, rate, **when):
    plan = _plan(w, f"Personal {rate}", rate)
    cs.plan_assign(actor=None, plan=plan, account=w.account, **{"effective_from": t(1, 0, month=2), **when})
    return plan.versions.get()


def _lines(run):
    """Each line as (day, partner, level, rate, amount, plan version), in time and level order."""
    return [(x.business_time.day, x.beneficiary.display_name, x.level, x.rate, x.amount, x.plan_version_id)
            for x in cs.run_lines(run)]


@pytest.mark.django_db
def test_a_personal_plan_sets_the_rate_the_levels_above_earn_the_difference_to():
    w = _tree()
    personal = _personal(w, "7.50")
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # 1 lot: Leaf 7.50 (the account's personal plan, not Leaf's 6.50); Sub 8.00 - 7.50 = 0.50;
    # Master 10.00 - max(7.50, 8.00) = 2.00. Every line is under the personal plan's version.
    assert _lines(run) == [(3, "Leaf", 0, D("7.50"), D("7.50"), personal.pk),
                           (3, "Sub", 1, D("0.50"), D("0.50"), personal.pk),
                           (3, "Master", 2, D("2.00"), D("2.00"), personal.pk)]
    assert totals(run) == {"Leaf": D("7.50"), "Sub": D("0.50"), "Master": D("2.00")}
    # Re-running changes nothing.
    again = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert _lines(again) == _lines(run) and totals(again) == totals(run)


@pytest.mark.django_db
def test_without_a_personal_plan_the_account_is_paid_at_its_partners_rate():
    w = _tree()
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    leafs = w.leaf.plan_assignments.order_by("-effective_from").first().plan.versions.get()
    # 1 lot: Leaf 6.50; Sub 8.00 - 6.50 = 1.50; Master 10.00 - 8.00 = 2.00.
    assert _lines(run) == [(3, "Leaf", 0, D("6.50"), D("6.50"), leafs.pk),
                           (3, "Sub", 1, D("1.50"), D("1.50"), leafs.pk),
                           (3, "Master", 2, D("2.00"), D("2.00"), leafs.pk)]


@pytest.mark.django_db
def test_a_personal_rate_above_the_parents_leaves_the_parent_nothing_never_a_negative_line():
    w = _tree()
    _personal(w, "9.00")
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="2"))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # 2 lots: Leaf 2 x 9.00 = 18.00; Sub max(0, 8.00 - 9.00) = 0: no line; Master 2 x (10.00 - 9.00) = 2.00.
    assert [(name, level, rate, amount) for _, name, level, rate, amount, _ in _lines(run)] == [
        ("Leaf", 0, D("9.00"), D("18.00")), ("Master", 2, D("1.00"), D("2.00"))]
    assert totals(run) == {"Leaf": D("18.00"), "Master": D("2.00")}


@pytest.mark.django_db
def test_each_deal_uses_the_assignment_in_force_on_its_day():
    w = _tree()
    _personal(w, "7.50", effective_from=t(10, 0))
    store(w, [*round_trip(w.account, opened=t(5, 10), closed=t(5, 11), volume="1"),
              *round_trip(w.account, opened=t(12, 10), closed=t(12, 11), volume="1")])
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # 5 March, before the personal plan: Leaf 6.50, Sub 1.50, Master 2.00.
    # 12 March, under it: Leaf 7.50, Sub 0.50, Master 2.00.
    assert [(day, name, amount) for day, name, _, _, amount, _ in _lines(run)] == [
        (5, "Leaf", D("6.50")), (5, "Sub", D("1.50")), (5, "Master", D("2.00")),
        (12, "Leaf", D("7.50")), (12, "Sub", D("0.50")), (12, "Master", D("2.00"))]
    assert totals(run) == {"Leaf": D("14.00"), "Sub": D("2.00"), "Master": D("4.00")}


@pytest.mark.django_db
def test_a_personal_plan_recorded_later_is_not_read_by_a_run_as_of_before_it():
    w = _tree()
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"))
    before = timezone.now()
    # Recorded after `before`, though in force from February (backdated).
    _personal(w, "7.50")
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH, as_of=before)) == {
        "Leaf": D("6.50"), "Sub": D("1.50"), "Master": D("2.00")}
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("7.50"), "Sub": D("0.50"), "Master": D("2.00")}
