"""Pass-up as a chain of percentages (issue 61, item 4), on the three-level tree of
tests.ib.engine_world (Leaf's client; Leaf, Sub, Master): a plan version's `pass_up_percents`,
the k-th what level k - 1 passes to level k. Out of: each level keeps what reaches it less what it
passes on, the top of the chain all that reaches it; on top: the client's partner earns the whole
rate and each level above its percentage of the level below's amount. For rebates per lot and for
a CPA; the amounts are computed by hand in the comments."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from crm.lib.money import Money
from ib import commissions as cs
from ib.exceptions import ValidationFailed
from tests.ib.engine_world import MARCH, add_account, add_client, make_world, round_trip, store, t, totals

D = Decimal
CPA = {"code": "cpa", "kind": "cpa", "rate": "200", "cpa_min_deposit": "100", "cpa_min_lots": "1",
       "cpa_within_days": 30}


def _lines(run):
    """(partner, level, rate, amount) of each line, in time and level order."""
    return [(x.beneficiary.display_name, x.level, x.rate, x.amount) for x in cs.run_lines(run)]


def _run_twice(w):
    """The March run, checked to be the same when run again and as an increment."""
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    again = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert _lines(again) == _lines(run) and totals(again) == totals(run)
    assert totals(cs.commission_run_increment(brand=w.brand, period=MARCH)) == totals(run)
    return run


@pytest.mark.django_db
def test_rebate_per_lot_out_of_25_then_10_percent():
    w = make_world(plan_rules=[{"code": "lot", "kind": "per_lot", "group": "fx", "rate": "10"}],
                   split_mode="pass_up", pass_up_base="out_of", pass_up_percents=["25", "10"])
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="2"))
    run = _run_twice(w)
    # 2 lots x 10 = 20 reach Leaf, which passes 25% (5) up and keeps 15 (rate 7.5 a lot); 5 reach
    # Sub, which passes 10% (0.50) up and keeps 4.50 (2.25 a lot); Master, the top, keeps the 0.50
    # (0.25 a lot). 15 + 4.50 + 0.50 = 20: the levels share the rate.
    assert _lines(run) == [("Leaf", 0, D("7.5"), D("15.00")), ("Sub", 1, D("2.25"), D("4.50")),
                           ("Master", 2, D("0.25"), D("0.50"))]
    assert totals(run) == {"Leaf": D("15.00"), "Sub": D("4.50"), "Master": D("0.50")}


@pytest.mark.django_db
def test_rebate_per_lot_on_top_10_then_5_percent():
    w = make_world(plan_rules=[{"code": "lot", "kind": "per_lot", "group": "fx", "rate": "10"}],
                   split_mode="pass_up", pass_up_base="on_top", pass_up_percents=["10", "5"])
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="2"))
    run = _run_twice(w)
    # Leaf the whole 2 x 10 = 20; Sub 10% of Leaf's 20 = 2 (1 a lot); Master 5% of Sub's 2 = 0.10
    # (0.05 a lot), on top.
    assert _lines(run) == [("Leaf", 0, D("10"), D("20.00")), ("Sub", 1, D("1.0"), D("2.00")),
                           ("Master", 2, D("0.05"), D("0.10"))]
    assert totals(run) == {"Leaf": D("20.00"), "Sub": D("2.00"), "Master": D("0.10")}


@pytest.mark.django_db
@pytest.mark.parametrize(("base", "chain", "expected"), [
    # Out of: Leaf 200 - 25% = 150; Sub 50 - 10% = 45; Master the 5 that reach it.
    ("out_of", ["25", "10"], {"Leaf": D("150.00"), "Sub": D("45.00"), "Master": D("5.00")}),
    # On top: Leaf 200; Sub 10% of 200 = 20; Master 5% of 20 = 1.
    ("on_top", ["10", "5"], {"Leaf": D("200.00"), "Sub": D("20.00"), "Master": D("1.00")}),
])
def test_cpa_out_of_and_on_top(base, chain, expected):
    w = make_world(plan_rules=[CPA], split_mode="pass_up", pass_up_base=base, pass_up_percents=chain)
    cs.deposit_record(client=w.client, amount=Money("250", "USD"), at=t(2, 9), reference="dep-1")
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"))
    run = _run_twice(w)
    assert totals(run) == expected
    assert {x.source_kind for x in cs.run_lines(run)} == {"cpa"}


@pytest.mark.django_db
def test_a_shorter_tree_and_a_shorter_chain():
    w = make_world(plan_rules=[{"code": "lot", "kind": "per_lot", "group": "fx", "rate": "10"}],
                   split_mode="pass_up", pass_up_base="out_of", pass_up_percents=["25", "10"])
    # A client of Sub: Sub is level 0 and passes 25% up; Master, the top, keeps all that reaches it.
    store(w, round_trip(add_account(w, add_client(w, w.sub)), opened=t(3, 10), closed=t(3, 11), volume="1"))
    # Sub 10 - 2.50 = 7.50; Master 2.50 (its 10% would go to a level above it: there is none).
    assert totals(_run_twice(w)) == {"Sub": D("7.50"), "Master": D("2.50")}
    # A chain of one percentage in the three-level tree: nothing goes past Sub.
    w = make_world(plan_rules=[{"code": "lot", "kind": "per_lot", "group": "fx", "rate": "10"}],
                   split_mode="pass_up", pass_up_base="out_of", pass_up_percents=["25"])
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"))
    # Leaf 7.50; Sub keeps the 2.50 that reach it; Master nothing (no line).
    run = _run_twice(w)
    assert totals(run) == {"Leaf": D("7.50"), "Sub": D("2.50")}
    assert [name for name, *_ in _lines(run)] == ["Leaf", "Sub"]


@pytest.mark.django_db
def test_a_single_percentage_still_passes_at_every_level():
    w = make_world(plan_rules=[{"code": "lot", "kind": "per_lot", "group": "fx", "rate": "10"}],
                   split_mode="pass_up", pass_up_percent="20")
    store(w, round_trip(w.account, opened=t(3, 10), closed=t(3, 11), volume="1"))
    # Leaf 10 x 80% = 8; Sub 2 x 80% = 1.60; Master the 0.40 that reach it.
    assert totals(_run_twice(w)) == {"Leaf": D("8.00"), "Sub": D("1.60"), "Master": D("0.40")}
    assert w.v1.pass_up_percents == []


@pytest.mark.django_db
@pytest.mark.parametrize(("version", "field", "message"), [
    ({"pass_up_percents": ["25", "100"]}, "pass_up_percents[1]", "Enter a percentage above 0 and under 100."),
    ({"pass_up_percents": ["25", "0"]}, "pass_up_percents[1]", "Enter a percentage above 0 and under 100."),
    ({"pass_up_percents": ["-5"]}, "pass_up_percents[0]", "Enter a positive number."),
    ({"pass_up_percents": ["ten"]}, "pass_up_percents[0]", "Enter a number."),
    ({"pass_up_percents": [True]}, "pass_up_percents[0]", "Enter a number."),
    ({"pass_up_percents": "25, 10"}, "pass_up_percents",
     "Give a list of percentages, the first what the client's partner passes to its parent."),
    ({"pass_up_percents": ["25"], "split_mode": "levels"}, "pass_up_percents",
     "A pass-up chain needs split_mode pass_up."),
    ({"pass_up_percents": ["25"], "pass_up_percent": "20"}, "pass_up_percents",
     "Give either pass_up_percent (one percentage for every level) or pass_up_percents (one per level), not both."),
    ({"pass_up_percents": ["1"] * 11}, "pass_up_percents", "At most 10 levels."),
])
def test_a_bad_chain_is_refused_by_name(version, field, message):
    w = make_world()
    spec = {"split_mode": "pass_up", **version}
    with pytest.raises(ValidationFailed) as refused:
        cs.plan_version_record(actor=None, plan=w.plan, effective_from=t(1, 0), rules=[
            {"code": "lot", "kind": "per_lot", "rate": "10"}], **spec)
    assert refused.value.fields == {field: [message]}
    assert w.plan.versions.count() == 1


@pytest.mark.django_db
def test_the_import_takes_the_chain_and_names_a_bad_entry_by_its_path(tmp_path):
    from tests.factories import make_brand

    make_brand(code="chainco")

    def program(chain):
        return {"brand": "chainco", "plans": [{"name": "Chain", "currency": "USD", "versions": [
            {"effective_from": "2024-01-01T00:00:00Z", "split_mode": "pass_up", "pass_up_base": "on_top",
             "pass_up_percents": chain, "rules": [CPA]}]}]}

    import json
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(program(["10", "150"])))
    with pytest.raises(CommandError, match=r"plans\[0\]\.versions\[0\]: pass_up_percents\[1\]: Enter a percentage "
                                           r"above 0 and under 100\."):
        call_command("ib_import", str(bad), stdout=StringIO())
    good = tmp_path / "good.json"
    good.write_text(json.dumps(program(["10", "5"])))
    call_command("ib_import", str(good), stdout=StringIO())
    from ib.models import PlanVersion
    assert PlanVersion.objects.get(plan__name="Chain").pass_up_percents == [D("10"), D("5")]


@pytest.mark.django_db
def test_the_plan_page_records_a_chain_and_names_a_bad_entry():
    import json

    from django.test import Client as HttpClient

    from crm.models import RoleCode
    from ib.models import PlanVersion
    from tests.factories import make_user

    w = make_world()
    http = HttpClient()
    http.force_login(make_user(role_code=RoleCode.IB_MANAGER, brand=w.brand))

    def post(chain):
        return http.post(f"/ib/plans/{w.plan.code}/versions/", {
            "effective_from": "2024-02-01", "min_hold_seconds": "60", "split_mode": "pass_up",
            "pass_up_base": "out_of", "pass_up_percents": chain,
            "rules": json.dumps([{"code": "lot", "kind": "per_lot", "rate": "10"}])})

    refused = post("25, 100")
    assert refused.status_code == 400
    assert "pass_up_percents[1]: Enter a percentage above 0 and under 100." in refused.content.decode()
    assert post("25, 10").status_code == 302
    v2 = PlanVersion.objects.get(plan=w.plan, number=2)
    assert (v2.split_mode, v2.pass_up_percents) == ("pass_up", [D("25"), D("10")])
    page = http.get(f"/ib/plans/{w.plan.code}/").content.decode()
    # The version's line shows the chain; the form starts the next version from it.
    assert "25 % → 10 %" in page and 'value="25, 10"' in page
