"""The commission engine on a three-level tree (Master → Sub → Leaf, the client belongs to Leaf),
with amounts computed by hand in the comments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm.lib.money import Money
from ib import commissions as cs
from ib.models import CommissionLine
from tests.ib.engine_world import APRIL, MARCH, deltas, make_world, round_trip, store, t, totals

D = Decimal


@pytest.mark.django_db
def test_per_lot_rebate_splits_over_three_levels_skips_scalps_and_counts_a_hedged_pair_once():
    w = make_world()
    deals = [
        # 1 lot EURUSD held 30 min: Leaf 1 x 5, Sub 1 x 2, Master 1 x 1.
        *round_trip(w.account, opened=t(4, 10), closed=t(4, 10, 30)),
        # 0.5 lot held 30 s, under the 60 s minimum: nothing.
        *round_trip(w.account, opened=t(4, 11), closed=t(4, 11, 0, 30), volume="0.5"),
        # A hedged pair: buy 1 lot at 12:00, sell 1 lot at 12:05 while the buy is open; both closed
        # later. Only the first opened earns: Leaf 5, Sub 2, Master 1.
        *round_trip(w.account, opened=t(4, 12), closed=t(4, 13), side="buy"),
        *round_trip(w.account, opened=t(4, 12, 5), closed=t(4, 13, 10), side="sell"),
    ]
    store(w, deals)
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # Leaf 5 + 5 = 10; Sub 2 + 2 = 4; Master 1 + 1 = 2.
    assert totals(run) == {"Leaf": D("10.00"), "Sub": D("4.00"), "Master": D("2.00")}
    assert run.stats["short_hold"] == 1 and run.stats["hedged"] == 1
    line = CommissionLine.objects.filter(run=run, beneficiary=w.master).order_by("business_time").first()
    assert line.level == 2 and line.rate == D("1") and line.fx_rate == D("1") and line.rule_code == "fx_rebate"
    assert line.chain == [w.master.pk, w.sub.pk, w.leaf.pk] and line.plan_version_id == w.v1.pk


@pytest.mark.django_db
def test_an_edited_deal_is_recalculated_and_only_the_difference_is_due():
    w = make_world()
    opened, closed = round_trip(w.account, opened=t(4, 10), closed=t(4, 11))
    store(w, [opened, closed])
    first = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    cs.commission_run_settle(actor=None, run=first)  # Leaf 5, Sub 2, Master 1 settled
    # The platform edits the closing deal to 2 lots: Leaf 2 x 5 = 10, Sub 4, Master 2.
    from dataclasses import replace
    store(w, [replace(closed, volume=D("2"))])
    second = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert second.number == 2
    assert totals(second) == {"Leaf": D("10.00"), "Sub": D("4.00"), "Master": D("2.00")}
    assert deltas(second) == {"Leaf": D("5.00"), "Sub": D("2.00"), "Master": D("1.00")}
    rows = cs.commission_run_settle(actor=None, run=second)
    assert sorted(r.amount for r in rows) == [D("1.00"), D("2.00"), D("5.00")]


@pytest.mark.django_db
def test_a_late_deal_changes_its_own_closed_period_not_the_next_one():
    w = make_world()
    store(w, round_trip(w.account, opened=t(4, 10), closed=t(4, 11)))
    march = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    cs.commission_run_settle(actor=None, run=march)
    before_late = march.as_of
    # In April a March deal arrives late (0.5 lot): Leaf 0.5 x 5 = 2.5 more for March.
    store(w, round_trip(w.account, opened=t(20, 9), closed=t(20, 10), volume="0.5"))
    april = cs.commission_run(actor=None, brand=w.brand, period=APRIL)
    assert totals(april) == {}
    recalc = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(recalc) == {"Leaf": D("7.50"), "Sub": D("3.00"), "Master": D("1.50")}
    assert deltas(recalc) == {"Leaf": D("2.50"), "Sub": D("1.00"), "Master": D("0.50")}
    # As of the first run, the late deal was not known: the same figures as then.
    asof = cs.commission_run(actor=None, brand=w.brand, period=MARCH, as_of=before_late)
    assert totals(asof) == {"Leaf": D("5.00"), "Sub": D("2.00"), "Master": D("1.00")}


@pytest.mark.django_db
def test_cpa_is_paid_once_at_qualification_and_clawed_back_in_the_chargebacks_period():
    w = make_world(plan_rules=[{"code": "cpa", "kind": "cpa", "level_rates": ["200", "50"], "cpa_min_deposit": "100",
                                "cpa_min_lots": "1", "cpa_within_days": 30, "cpa_countries": ["DE", "FR"]}])
    cs.deposit_record(client=w.client, amount=Money("250", "USD"), at=t(2, 9), reference="dep-1")
    # 0.6 lot on the 3rd, 0.6 on the 5th: 1 lot reached by the second close (5th, 11:00).
    store(w, [*round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="0.6"),
              *round_trip(w.account, opened=t(5, 10), closed=t(5, 11), volume="0.6")])
    # A client from a country the rule does not allow never qualifies.
    from tests.ib.engine_world import add_account, add_client
    other = add_client(w, w.leaf, country="US")
    cs.deposit_record(client=other, amount=Money("1000", "USD"), at=t(2, 9), reference="dep-2")
    store(w, round_trip(add_account(w, other), opened=t(3, 10), closed=t(3, 11), volume="5"))
    march = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # Leaf 200, Sub 50, Master nothing (no third level rate).
    assert totals(march) == {"Leaf": D("200.00"), "Sub": D("50.00")}
    line = CommissionLine.objects.get(run=march, beneficiary=w.leaf)
    assert line.source_kind == "cpa" and line.business_time == t(5, 11)
    cs.chargeback_record(client=w.client, amount=Money("250", "USD"), at=t(10, 12, month=4), reference="cb-1")
    april = cs.commission_run(actor=None, brand=w.brand, period=APRIL)
    # The clawback: Leaf -200 and Sub -50, carried over (nothing payable, negative carry).
    assert totals(april) == {"Leaf": D("0"), "Sub": D("0")}
    carry = {t_.partner: t_.carry_out for t_ in cs.run_totals(april)}
    assert carry == {"Leaf": D("-200"), "Sub": D("-50")}
    # The clawback is dated and listed on the chargeback's day, converted at the qualification's day.
    from ib.models import CommissionBatch
    from ib.selectors import PartnerLineList
    assert list(CommissionBatch.objects.filter(run=april).values_list("source_kind", "day", "fx_day")) == [
        ("chargeback", dt.date(2024, 4, 10), dt.date(2024, 3, 5))]
    newest = PartnerLineList(w.leaf)[0:2]
    assert [(x.source_kind, x.business_time, x.amount) for x in newest] == [
        ("chargeback", t(10, 12, month=4), D("-200")), ("cpa", t(5, 11), D("200"))]
    # March recomputed still pays the CPA once, and does not see April's chargeback.
    again = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(again) == {"Leaf": D("200.00"), "Sub": D("50.00")}


@pytest.mark.django_db
def test_a_reattribution_mid_month_moves_later_deals_to_the_new_partner():
    w = make_world()
    store(w, round_trip(w.account, opened=t(10, 10), closed=t(10, 11)))  # Leaf's: Leaf 5, Sub 2, Master 1
    w.services.client_reattribute(actor=None, client=w.client, partner=w.sub, reason="moved",
                                  effective_from=t(15, 0))
    store(w, round_trip(w.account, opened=t(20, 10), closed=t(20, 11)))  # Sub's: Sub 5, Master 2
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # Leaf 5; Sub 2 + 5 = 7; Master 1 + 2 = 3.
    assert totals(run) == {"Leaf": D("5.00"), "Sub": D("7.00"), "Master": D("3.00")}


@pytest.mark.django_db
def test_a_rebate_in_dollars_is_converted_to_the_euro_plan_at_the_deals_day():
    w = make_world()
    plan = cs.plan_create(actor=None, brand=w.brand, name="Euro", currency="EUR")
    cs.plan_version_record(actor=None, plan=plan, effective_from=t(1, 0, month=1), recorded_at=t(1, 0, month=1),
                           rules=[{"code": "usd_rebate", "kind": "per_lot", "currency": "USD", "level_rates": ["5"]}])
    cs.plan_assign(actor=None, plan=plan, partner=w.leaf, effective_from=t(1, 0, month=2))
    import datetime as dt
    cs.fx_rate_set(actor=None, base="EUR", quote="USD", day=dt.date(2024, 3, 1), rate="1.25")
    cs.fx_rate_set(actor=None, base="EUR", quote="USD", day=dt.date(2024, 3, 4), rate="1.0")  # not used: a later day
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="2"))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # 2 lots x 5 USD = 10 USD; the latest rate on or before 3 March: 1 EUR = 1.25 USD, so 10 / 1.25 = 8 EUR.
    # The Euro plan has one level: only Leaf earns.
    assert totals(run) == {"Leaf": D("8.00")}
    line = CommissionLine.objects.get(run=run)
    assert line.fx_rate == D("0.8") and line.currency == "EUR" and line.basis_currency == "USD"


@pytest.mark.django_db
def test_a_missing_fx_rate_stops_the_run_and_names_the_pair():
    w = make_world(plan_rules=[{"code": "r", "kind": "per_lot", "currency": "GBP", "level_rates": ["5"]}])
    store(w, [*round_trip(w.account, opened=t(3, 10), closed=t(3, 11)),
              *round_trip(w.account, opened=t(7, 10), closed=t(7, 11))])
    from ib.exceptions import ValidationFailed
    with pytest.raises(ValidationFailed, match=r"No FX rate for GBP/USD on 2024-03-03\.$"):
        cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # A rate from the 5th covers the deals of the 7th, not those of the 3rd: named from the 3rd still.
    cs.fx_rate_set(actor=None, base="GBP", quote="USD", day=dt.date(2024, 3, 5), rate="1.25")
    with pytest.raises(ValidationFailed, match=r"No FX rate for GBP/USD on 2024-03-03\.$"):
        cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    cs.fx_rate_set(actor=None, base="GBP", quote="USD", day=dt.date(2024, 3, 1), rate="1.20")
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # 1 lot x 5 GBP on each day, at the rate of that day or the latest before: 6.00 + 6.25 USD.
    assert totals(run) == {"Leaf": D("12.25")}


@pytest.mark.django_db
def test_a_partners_total_is_rounded_once_half_to_even():
    w = make_world(plan_rules=[{"code": "r", "kind": "per_lot", "level_rates": ["8.5", "8.54"]}], min_hold_seconds=0)
    # Leaf: 0.25 lot x 8.5 = 2.125 → 2.12 (half to even; half up would give 2.13).
    # Sub: 0.25 x 8.54 = 2.135 → 2.14. Each line unrounded: 2.125 and 2.135 exactly.
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="0.25"))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(run) == {"Leaf": D("2.12"), "Sub": D("2.14")}
    assert CommissionLine.objects.get(run=run, beneficiary=w.leaf).amount == D("2.125")


@pytest.mark.django_db
def test_a_plan_correction_is_a_new_run_paying_only_the_difference():
    w = make_world()
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="2"))
    first = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    cs.commission_run_settle(actor=None, run=first)  # Leaf 10, Sub 4, Master 2
    recorded = first.as_of
    # The plan said 6 for Leaf from the start: a correction (same effective_from, recorded later).
    cs.plan_version_record(actor=None, plan=w.plan, effective_from=t(1, 0, month=1),
                           rules=[{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["6", "2", "1"]}],
                           min_hold_seconds=60, note="Leaf's rate was 6")
    second = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # Leaf 2 x 6 = 12: 2 more; Sub and Master unchanged.
    assert totals(second) == {"Leaf": D("12.00"), "Sub": D("4.00"), "Master": D("2.00")}
    assert deltas(second) == {"Leaf": D("2.00"), "Sub": D("0.00"), "Master": D("0.00")}
    # As of before the correction was recorded, the old terms.
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH, as_of=recorded))["Leaf"] == D("10.00")


@pytest.mark.django_db
def test_a_what_if_run_shows_a_draft_without_anything_settleable():
    w = make_world()
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11)))
    draft = cs.plan_version_record(actor=None, plan=w.plan, effective_from=t(1, 0, month=1), draft=True,
                                   rules=[{"code": "fx_rebate", "kind": "per_lot", "level_rates": ["7"]}])
    what_if = cs.commission_run(actor=None, brand=w.brand, period=MARCH, what_if_versions=[draft])
    assert what_if.number is None and totals(what_if) == {"Leaf": D("7.00")}
    from ib.exceptions import Conflict
    with pytest.raises(Conflict):
        cs.commission_run_settle(actor=None, run=what_if)
    # Regular runs never see the draft.
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH))["Leaf"] == D("5.00")


@pytest.mark.django_db
def test_pass_up_split_cap_and_account_override():
    w = make_world(plan_rules=[{"code": "r", "kind": "per_lot", "rate": "10"}], split_mode="pass_up",
                   pass_up_percent="20", period_cap="15")
    # 1 lot x 10 passed up 20% a level: Leaf keeps 80% = 8; Sub 20% x 80% = 1.6; Master (the top)
    # keeps the rest, 20% x 20% = 0.4. Sums to 10.
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11)))
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("8.00"), "Sub": D("1.60"), "Master": D("0.40")}
    # Two more lots: Leaf 24 capped at 15.
    store(w, round_trip(w.account, opened=t(4, 10), closed=t(4, 11), volume="2"))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(run)["Leaf"] == D("15.00") and totals(run)["Sub"] == D("4.80")
    # A personal plan on the account from 5 March: 1 lot at 3 for Leaf alone.
    vip = cs.plan_create(actor=None, brand=w.brand, name="VIP account")
    cs.plan_version_record(actor=None, plan=vip, effective_from=t(1, 0), recorded_at=t(1, 0),
                           rules=[{"code": "vip", "kind": "per_lot", "level_rates": ["3"]}])
    cs.plan_assign(actor=None, plan=vip, account=w.account, effective_from=t(5, 0))
    store(w, round_trip(w.account, opened=t(6, 10), closed=t(6, 11)))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # Leaf: 24 under Standard (capped to 15... the cap of the latest version among Leaf's lines
    # applies: VIP has none) + 3 = 27; Sub 4.8; Master 1.2.
    assert totals(run) == {"Leaf": D("27.00"), "Sub": D("4.80"), "Master": D("1.20")}


@pytest.mark.django_db
def test_net_loss_revenue_share_carries_a_negative_month_over():
    w = make_world(plan_rules=[{"code": "rs", "kind": "revshare", "basis": "net_loss", "level_rates": ["30", "10"]}],
                   min_hold_seconds=0)
    # March: the client wins 200 → Leaf -60, Sub -20: nothing paid, carried over.
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), profit="200"))
    march = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert totals(march) == {"Leaf": D("0"), "Sub": D("0")}
    # April: the client loses 300 → Leaf 90 - 60 = 30, Sub 30 - 20 = 10.
    store(w, round_trip(w.account, opened=t(3, 10, month=4), closed=t(3, 11, month=4), profit="-300"))
    april = cs.commission_run(actor=None, brand=w.brand, period=APRIL)
    assert totals(april) == {"Leaf": D("30.00"), "Sub": D("10.00")}


@pytest.mark.django_db
def test_the_daily_increment_gives_the_same_totals_as_a_full_run():
    w = make_world()
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11)))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    store(w, round_trip(w.account, opened=t(4, 10), closed=t(4, 11), volume="3"))
    inc = cs.commission_run_increment(brand=w.brand, period=MARCH)
    assert inc.pk == run.pk and inc.stats["last_increment"]["accounts"] == 1
    full = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # 4 lots: Leaf 20, Sub 8, Master 4.
    assert totals(inc) == totals(full) == {"Leaf": D("20.00"), "Sub": D("8.00"), "Master": D("4.00")}


@pytest.mark.django_db
def test_the_daily_task_runs_then_increments_the_open_period():
    import datetime as dt

    from django.utils import timezone

    from ib.models import CommissionRun
    from ib.tasks import commissions_daily

    w = make_world()
    start = timezone.now().astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    store(w, round_trip(w.account, opened=start + dt.timedelta(hours=1), closed=start + dt.timedelta(hours=2)))
    commissions_daily.run()
    store(w, round_trip(w.account, opened=start + dt.timedelta(hours=3), closed=start + dt.timedelta(hours=4)))
    commissions_daily.run()
    run = CommissionRun.objects.get(brand=w.brand, period=start.date())
    # One run, incremented: two lots, Leaf 2 x 5.
    assert run.number == 1 and run.stats["increments"] == 1
    assert totals(run)["Leaf"] == D("10.00")



@pytest.mark.django_db
def test_a_late_deal_recomputes_only_its_partners_days_and_leaves_the_others_lines_as_they_were():
    from django.db.models import F

    from ib.models import CommissionBatch
    from tests.ib.engine_world import add_account, add_client
    from trading.models import Deal

    w = make_world()
    subs_account = add_account(w, add_client(w, w.sub))
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11)))
    store(w, round_trip(w.account, opened=t(20, 10), closed=t(20, 11)))
    store(w, round_trip(subs_account, opened=t(20, 10), closed=t(20, 11)))
    # Those were synced yesterday (the sync stamps a deal with the database's clock).
    Deal.objects.update(first_seen_at=F("first_seen_at") - dt.timedelta(days=1),
                        updated_at=F("updated_at") - dt.timedelta(days=1))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    before = dict(CommissionBatch.objects.filter(run=run).values_list("pk", "day"))
    # A deal of the 5th arrives late on Leaf's client's account.
    store(w, round_trip(w.account, opened=t(5, 10), closed=t(5, 11), volume="2"))
    inc = cs.commission_run_increment(brand=w.brand, period=MARCH)
    assert inc.stats["last_increment"]["accounts"] == 1
    after = dict(CommissionBatch.objects.filter(run=inc).values_list("pk", "day"))
    kept = {pk for pk in before if pk in after}
    # Sub's own client's batch and Leaf's batch of the 3rd are untouched; Leaf's from the 5th are new.
    assert {before[pk] for pk in kept} == {dt.date(2024, 3, 3), dt.date(2024, 3, 20)}
    assert set(CommissionBatch.objects.filter(pk__in=kept).values_list("partner_id", "day")) == {
        (w.leaf.pk, dt.date(2024, 3, 3)), (w.sub.pk, dt.date(2024, 3, 20))}
    assert sorted(after[pk] for pk in after if pk not in kept) == [dt.date(2024, 3, 5), dt.date(2024, 3, 20)]
    full = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # Leaf: 4 lots x 5; Sub: 4 lots x 2 + its own client's lot x 5; Master: 4 x 1 + 1 x 2.
    assert totals(inc) == totals(full) == {"Leaf": D("20.00"), "Sub": D("13.00"), "Master": D("6.00")}
    # Three closes of Leaf's client over three levels, one of Sub's over two.
    assert CommissionLine.objects.filter(run=inc).count() == CommissionLine.objects.filter(run=full).count() == 11


@pytest.mark.django_db
def test_a_partners_lines_page_through_days_newest_first_as_one_sorted_list_would():
    from ib.selectors import PartnerLineList, partner_lines

    w = make_world()
    # Three closes on the 3rd, two on the 4th, four on the 7th (two at the same second).
    closes = [t(3, 9), t(3, 12), t(3, 23, 59, 59), t(4, 0), t(4, 18), t(7, 8), t(7, 8), t(7, 9), t(7, 21)]
    store(w, [d for i, at in enumerate(closes)
              for d in round_trip(w.account, opened=at - dt.timedelta(minutes=30), closed=at, volume=str(1 + i))])
    cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    everything = [(x.pk, x.business_time, x.amount) for x in partner_lines(w.sub)]
    paged = PartnerLineList(w.sub)
    assert len(paged) == len(everything) == 9
    assert [x.business_time for x in paged[0:9]] == sorted(closes, reverse=True)
    for start in range(10):
        for stop in range(start, 11):
            assert [(x.pk, x.business_time, x.amount) for x in paged[start:stop]] == everything[start:stop], (start, stop)
    # Sub earns 2 a lot: the newest line is the 9th close, 9 lots.
    assert paged[0:1][0].amount == D("18")



@pytest.mark.django_db
def test_a_month_of_version_override_and_partner_changes_pays_each_deal_under_what_held_at_its_close():
    """One account through a month in which everything it is paid under changes: a new version of
    its plan (higher rates, a ten-minute minimum hold) from the 10th, a personal plan from the 15th,
    its own plan back from the 20th, another partner from the 25th; and a position closed in two
    parts, the first too soon."""
    from tests.ib.engine_world import deal

    w = make_world()
    cs.plan_version_record(actor=None, plan=w.plan, effective_from=t(10, 0), recorded_at=t(1, 0),
                           min_hold_seconds=600,
                           rules=[{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["10", "4", "2"]}])
    vip = cs.plan_create(actor=None, brand=w.brand, name="VIP account")
    cs.plan_version_record(actor=None, plan=vip, effective_from=t(1, 0), recorded_at=t(1, 0),
                           rules=[{"code": "vip", "kind": "per_lot", "level_rates": ["3"]}])
    cs.plan_assign(actor=None, plan=vip, account=w.account, effective_from=t(15, 0))
    cs.plan_assign(actor=None, plan=w.plan, account=w.account, effective_from=t(20, 0))
    w.services.client_reattribute(actor=None, client=w.client, partner=w.sub, reason="moved", effective_from=t(25, 0))
    position = 77_001
    store(w, [
        # 5 March, version 1 (5/2/1, 60 s): half a lot closed after 30 s earns nothing, the other
        # half after 30 min: Leaf 2.5, Sub 1, Master 0.5.
        deal(w.account, time=t(5, 10), entry="in", side="buy", position=position, volume="1"),
        deal(w.account, time=t(5, 10, 0, 30), entry="out", side="sell", position=position, volume="0.5"),
        deal(w.account, time=t(5, 10, 30), entry="out", side="sell", position=position, volume="0.5"),
        # Opened under version 1, closed 7 minutes later under version 2: under its 10 minutes, nothing.
        *round_trip(w.account, opened=t(9, 23, 55), closed=t(10, 0, 2)),
        # 12 March, version 2: 5 minutes, nothing; 30 minutes: Leaf 10, Sub 4, Master 2.
        *round_trip(w.account, opened=t(12, 10), closed=t(12, 10, 5)),
        *round_trip(w.account, opened=t(12, 11), closed=t(12, 11, 30)),
        # 16 March, the personal plan: Leaf 3 alone.
        *round_trip(w.account, opened=t(16, 10), closed=t(16, 10, 30)),
        # 21 March, the account's own plan again (version 2): Leaf 10, Sub 4, Master 2.
        *round_trip(w.account, opened=t(21, 10), closed=t(21, 10, 30)),
        # 26 March, Sub's client: Sub 10, Master 4.
        *round_trip(w.account, opened=t(26, 10), closed=t(26, 10, 30)),
    ])
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # Leaf 2.5 + 10 + 3 + 10 = 25.5; Sub 1 + 4 + 4 + 10 = 19; Master 0.5 + 2 + 2 + 4 = 8.5.
    assert totals(run) == {"Leaf": D("25.50"), "Sub": D("19.00"), "Master": D("8.50")}
    assert run.stats["short_hold"] == 3
    assert sorted({line.rule_code for line in CommissionLine.objects.filter(run=run)}) == ["fx_rebate", "vip"]
