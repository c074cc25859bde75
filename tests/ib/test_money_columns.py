"""The partner programme's money on the shared columns and parser (crm.lib.money): a plan in a
currency of ten letters and six decimals is computed, settled and paid out, each amount stored and
read back at that currency's precision; a cap, a CPA minimum, an imported deposit or a payout finer
than its currency is refused by name, from the service, the import and the plan page."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client as HttpClient

from crm.exceptions import ValidationFailed
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.money import Money
from crm.models import RoleCode
from ib import commissions as cs
from ib import selectors
from ib import settlement as st
from ib.importer import ImportFailed, ib_import
from ib.models import (
    ClientDeposit,
    CommissionSettlement,
    CommissionTotal,
    Partner,
    PlanVersion,
)
from tests.factories import make_user
from tests.ib.engine_world import MARCH, make_world, round_trip, store, t

pytestmark = pytest.mark.django_db
D = Decimal
TOKEN = "USDCPOLYGN"  # a stablecoin on another chain, as an installation may configure it: 6 decimals
RULES = [{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"]}]


@pytest.fixture
def token(settings):
    settings.CRM_CURRENCY_EXPONENTS = {TOKEN: 6}


def test_a_plan_in_a_ten_letter_currency_is_computed_settled_and_paid_at_its_six_decimals(token):
    w = make_world()
    plan = cs.plan_create(actor=None, brand=w.brand, name="On chain", currency=TOKEN)
    cs.plan_version_record(actor=None, plan=plan, effective_from=t(1, 0, month=2), recorded_at=t(1, 0, month=2),
                           min_hold_seconds=60, period_cap="1000.123456", period_minimum="0.000001",
                           rules=[{"code": "fx_rebate", "kind": "per_lot", "group": "fx",
                                   "level_rates": ["1.2345675", "0.5", "0.25"]}])
    for partner in (w.master, w.sub, w.leaf):
        cs.plan_assign(actor=None, plan=plan, partner=partner, effective_from=t(1, 0, month=2))
    store(w, round_trip(w.account, opened=t(4, 10), closed=t(4, 11), volume="1"))
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)

    plan.refresh_from_db()
    version = PlanVersion.objects.get(plan=plan)
    assert (plan.currency, version.period_cap, version.period_minimum) == (TOKEN, D("1000.123456"), D("0.000001"))
    # The line is unrounded; the total is rounded once, half to even, at the currency's six decimals.
    total = CommissionTotal.objects.get(run=run, partner=w.leaf)
    assert (total.currency, total.gross, total.payable) == (TOKEN, D("1.2345675"), D("1.234568"))
    assert Money("1.234568", TOKEN) in selectors.partner_earnings(w.leaf).pending

    st.commission_run_settle_post(actor=None, run=run)
    settled = CommissionSettlement.objects.get(run=run, partner=w.leaf)
    assert (settled.currency, settled.amount, settled.payable) == (TOKEN, D("1.234568"), D("1.234568"))
    with pytest.raises(ValidationFailed) as caught:
        st.payout_request(partner=w.leaf, amount="1.2345681", currency=TOKEN)
    assert caught.value.fields == {"amount": [f"{TOKEN} has at most 6 decimals."]}
    payout = st.payout_request(partner=w.leaf, amount="1.234567", currency=TOKEN)
    payout.refresh_from_db()
    assert (payout.currency, payout.amount, payout.money) == (TOKEN, D("1.234567"), Money("1.234567", TOKEN))
    assert Money("1.234568", TOKEN) in selectors.partner_earnings(w.leaf).payable


@pytest.mark.parametrize(("currency", "version", "field", "message"), [
    ("USD", {"period_cap": "10.005"}, "period_cap", "USD has at most 2 decimals."),
    ("JPY", {"period_minimum": "100.5"}, "period_minimum", "JPY has no decimals: enter a whole amount."),
    ("USD", {"period_cap": "-1"}, "period_cap", "Enter a positive number."),
    ("USD", {"rules": [{"code": "cpa", "kind": "cpa", "level_rates": ["200"], "cpa_min_deposit": "100.001"}]},
     "rules[0].cpa_min_deposit", "USD has at most 2 decimals."),
    ("USD", {"rules": [{"code": "cpa", "kind": "cpa", "level_rates": ["200"], "currency": "KWD",
                        "cpa_min_deposit": "10.0001"}]}, "rules[0].cpa_min_deposit", "KWD has at most 3 decimals."),
])
def test_a_plan_amount_finer_than_its_currency_is_refused_by_name(currency, version, field, message):
    w = make_world()
    plan = cs.plan_create(actor=None, brand=w.brand, name="Other", currency=currency)
    with pytest.raises(ValidationFailed) as caught:
        cs.plan_version_record(actor=None, plan=plan, effective_from=t(1, 0, month=2), **{"rules": RULES, **version})
    assert caught.value.fields == {field: [message]}
    assert not PlanVersion.objects.filter(plan=plan).exists()


def test_a_cpa_minimum_in_the_rules_own_currency_takes_its_decimals():
    w = make_world()
    version = cs.plan_version_record(actor=None, plan=w.plan, effective_from=t(1, 0, month=2), rules=[
        {"code": "cpa", "kind": "cpa", "level_rates": ["0.001"], "currency": "BTC", "cpa_min_deposit": 0.00012345}])
    assert version.rules.get().cpa_min_deposit == D("0.00012345")  # a JSON number, as written


def test_the_plan_page_refuses_a_cap_finer_than_the_plans_currency_on_the_field():
    w = make_world()
    http = HttpClient()
    http.force_login(make_user(role_code=RoleCode.IB_MANAGER, brand=w.brand))

    def post(**fields):
        return http.post(f"/ib/plans/{w.plan.code}/versions/", {
            "effective_from": "2024-01-01", "min_hold_seconds": "60", "split_mode": "levels",
            "rules": json.dumps(RULES), **fields})

    refused = post(period_cap="10.005", period_minimum="0.001")
    assert refused.status_code == 400
    assert refused.context["version_form"].errors == {"period_cap": ["USD has at most 2 decimals."],
                                                      "period_minimum": ["USD has at most 2 decimals."]}
    assert PlanVersion.objects.filter(plan=w.plan).count() == 1
    assert post(period_cap="1000.50", period_minimum="0").status_code == 302
    latest = PlanVersion.objects.get(plan=w.plan, number=2)
    assert (latest.period_cap, latest.period_minimum) == (D("1000.50"), D("0"))


def test_an_imported_deposit_finer_than_its_currency_is_named_and_nothing_is_imported():
    w = make_world()
    data = {"brand": w.brand.code,
            "partners": [{"ref": "p", "name": "Pia", "email": "pia@ib.example"}],
            "clients": [{"ref": "c", "first_name": "Cai", "email": "cai@example.com", "partner": "p",
                         "since": "2024-01-01T00:00:00Z"}],
            "deposits": [{"client": "c", "amount": "100.001", "currency": "USD", "at": "2024-03-02T09:00:00Z",
                          "reference": "legacy-1"}]}
    with pytest.raises(ImportFailed) as caught:
        ib_import(data)
    assert (caught.value.where, caught.value.message) == ("deposits[0].amount", "USD has at most 2 decimals.")
    assert not Partner.objects.filter(contact_email_hash__in=keyed_hashes("pia@ib.example", kind="email")).exists()
    data["deposits"][0].update(amount=0.00012345, currency="BTC")  # a JSON number: read as written
    assert ib_import(data)["deposits"] == 1
    deposit = ClientDeposit.objects.get(reference="legacy-1")
    assert (deposit.amount, deposit.currency) == (D("0.00012345"), "BTC")
