"""A year of a partner programme migrated from another CRM with the times its facts were known
(registrations, KYC approvals, deposits, a chargeback learnt of later, a re-attribution recorded
two weeks after it took effect), then backtested: `ib_calculate --as-of` a past month's end pays
what the old CRM paid then, and `ib_backtest` and its page show the difference where the old
figure given in the file is off. Every amount is computed by hand below."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient

from crm.models import Brand, RoleCode
from ib.models import CommissionRun
from tests.factories import make_brand, make_user

D = Decimal

# The tree: Master Fund (M) > Sub Desk (S) > Leaf Club (L), and Ridge Partners (R) under M.
# Plan "Standard", every partner from 1 January 2024: fx per lot 5 / 2 / 1 by level (the client's
# partner first), a CPA of 100 / 20 for a first deposit of 100 or more with KYC approved within
# 30 days of the registration, taken back by a chargeback of any deposit.
HISTORY = {
    "brand": {"code": "orion", "name": "Orion Markets", "currency": "USD"},
    "server": {"name": "Orion MT5", "kind": "mt5_web", "account_types": {
        "standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "USD"}}},
    "instrument_groups": [{"code": "fx", "name": "Forex", "units_per_lot": "100000"}],
    "instruments": [{"symbol": "EURUSD", "group": "fx", "contract_size": "100000", "profit_currency": "USD"}],
    "partners": [
        {"ref": "M", "name": "Master Fund", "email": "m@orion-partners.example"},
        {"ref": "S", "name": "Sub Desk", "email": "s@orion-partners.example", "parent": "M"},
        {"ref": "L", "name": "Leaf Club", "email": "l@orion-partners.example", "parent": "S"},
        {"ref": "R", "name": "Ridge Partners", "email": "r@orion-partners.example", "parent": "M"},
    ],
    "plans": [{"name": "Standard", "currency": "USD", "versions": [
        {"effective_from": "2024-01-01T00:00:00Z", "min_hold_seconds": 60, "rules": [
            {"code": "fx", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"]},
            {"code": "cpa", "kind": "cpa", "level_rates": ["100", "20"], "cpa_min_deposit": "100",
             "cpa_within_days": 30, "cpa_window_from": "registration", "cpa_kyc_within_window": True,
             "clawback_on_chargeback": True, "clawback_scope": "any"}]}]}],
    "assignments": [{"plan": "Standard", "partner": p, "effective_from": "2024-01-01T00:00:00Z"}
                    for p in ("M", "S", "L", "R")],
    "clients": [
        {"ref": "anna", "first_name": "Anna", "last_name": "Berg", "email": "anna@clients.example", "country": "DE",
         "registered_at": "2024-01-02T09:00:00Z", "kyc_approved_at": "2024-01-20T09:00:00Z",
         "partner": "L", "since": "2024-01-02T09:00:00Z",
         "accounts": [{"login": 8100001, "account_type": "standard"}]},
        # Boris's KYC came on 1 March, after his window (5 January + 30 days): no CPA, ever.
        {"ref": "boris", "first_name": "Boris", "last_name": "Kern", "email": "boris@clients.example",
         "country": "DE", "registered_at": "2024-01-05T09:00:00Z", "kyc_approved_at": "2024-03-01T09:00:00Z",
         "partner": "S", "since": "2024-01-05T09:00:00Z",
         "accounts": [{"login": 8100002, "account_type": "standard"}]},
        {"ref": "carla", "first_name": "Carla", "last_name": "Diaz", "email": "carla@clients.example",
         "country": "ES", "registered_at": "2024-05-01T09:00:00Z", "kyc_approved_at": "2024-05-05T09:00:00Z",
         "partner": "R", "since": "2024-05-01T09:00:00Z",
         "accounts": [{"login": 8100003, "account_type": "standard"}]},
    ],
    # Anna moves to Ridge from 1 July; the old CRM recorded it on 15 July.
    "reattributions": [{"client": "anna", "partner": "R", "effective_from": "2024-07-01T00:00:00Z",
                        "recorded_at": "2024-07-15T00:00:00Z", "reason": "the client asked to move"}],
    "deposits": [
        {"client": "anna", "amount": "500", "currency": "USD", "at": "2024-01-15T09:00:00Z", "reference": "old-d1"},
        {"client": "boris", "amount": "1000", "currency": "USD", "at": "2024-01-08T09:00:00Z", "reference": "old-d2"},
        {"client": "carla", "amount": "300", "currency": "USD", "at": "2024-05-03T09:00:00Z", "reference": "old-d3"},
    ],
    # Carla's deposit was charged back on 20 May; the old CRM learnt of it on 3 June, after paying May.
    "chargebacks": [{"client": "carla", "amount": "300", "currency": "USD", "at": "2024-05-20T09:00:00Z",
                     "recorded_at": "2024-06-03T09:00:00Z", "reference": "old-cb1", "deposit": "old-d3"}],
    "old_crm_totals": [
        {"partner": "L", "period": "2024-01", "amount": "105.00", "currency": "USD"},
        {"partner": "S", "period": "2024-01", "amount": "22.00", "currency": "USD"},
        {"partner": "M", "period": "2024-01", "amount": "1.00", "currency": "USD"},
        {"partner": "L", "period": "2024-03", "amount": "5.00", "currency": "USD"},
        # Off on purpose: the old CRM paid Boris's CPA (20 more) although his KYC came too late.
        {"partner": "S", "period": "2024-03", "amount": "32.00", "currency": "USD"},
        {"partner": "M", "period": "2024-03", "amount": "5.00", "currency": "USD"},
        {"partner": "L", "period": "2024-05", "amount": "5.00", "currency": "USD"},
        {"partner": "S", "period": "2024-05", "amount": "2.00", "currency": "USD"},
        {"partner": "M", "period": "2024-05", "amount": "23.00", "currency": "USD"},
        {"partner": "R", "period": "2024-05", "amount": "105.00", "currency": "USD"},
        {"partner": "R", "period": "2024-07", "amount": "5.00", "currency": "USD"},
        {"partner": "M", "period": "2024-07", "amount": "2.00", "currency": "USD"},
    ],
}

HEADER = "Time,Deal,Login,Order,Symbol,Type,Direction,Volume,Price,Commission,Swap,Profit,Fee,Comment,Position\n"


def _deals() -> str:
    """Anna closes 1 lot of EURUSD on the 5th of every month (held an hour); Boris 2 lots on 5
    March; Carla 1 lot on 10 May."""
    rows, deal = [], 700000

    def trade(login: int, day: str, lots: str, position: int) -> None:
        nonlocal deal
        for hour, side, entry in (("10", "buy", "in"), ("11", "sell", "out")):
            deal += 1
            rows.append(f"{day} {hour}:00:00,{deal},{login},{deal},EURUSD,{side},{entry},{lots},1.10000,0,0,0,0,,"
                        f"{position}")

    for month in range(1, 13):
        trade(8100001, f"2024.{month:02d}.05", "1.00", 81000 + month)
    trade(8100002, "2024.03.05", "2.00", 82001)
    trade(8100003, "2024.05.10", "1.00", 83001)
    return HEADER + "\n".join(rows) + "\n"


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _totals(period: str, as_of: str) -> dict[str, str]:
    report = json.loads(_call("ib_calculate", "--period", period, "--as-of", as_of, "--json"))
    return {t["partner"]: t["payable"] for t in report["runs"][0]["totals"]}


@pytest.fixture
def migrated(db, tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps(HISTORY))
    out = _call("ib_import", str(history))
    deals = tmp_path / "deals.csv"
    deals.write_text(_deals())
    _call("trading_import_deals", str(deals), "--server", "Orion MT5", "--known-since-deal-time")
    return out, history


@pytest.mark.django_db
def test_the_import_creates_the_brand_and_server_it_names_and_says_so(migrated):
    out, history = migrated
    assert "Created the brand orion (Orion Markets)." in out
    assert "Created the platform server Orion MT5 of orion: inactive and not synced" in out
    assert ("4 partners" in out and "3 clients" in out and "3 kyc approvals" in out and "1 re-attributions" in out
            and "1 chargebacks" in out and "12 old CRM totals" in out)
    # A rerun finds everything: nothing is created again, no total changes.
    again = _call("ib_import", str(history))
    assert "Created" not in again and "re-attributions" not in again and "old CRM totals" not in again
    assert "kyc approvals" not in again and "clients" not in again and "chargebacks" not in again
    assert Brand.objects.filter(code="orion").count() == 1


@pytest.mark.django_db
def test_past_months_as_of_their_end_pay_what_the_old_crm_paid(migrated):
    # January: Anna's lot pays L 5, S 2, M 1; her CPA (deposit 500 on 15 Jan, KYC on 20 Jan, within
    # 30 days of her registration on 2 Jan) L 100, S 20. Boris has no KYC yet: no CPA.
    assert _totals("2024-01", "2024-02-01T00:00:00Z") == {
        "Master Fund": "1.00", "Sub Desk": "22.00", "Leaf Club": "105.00"}
    # May as the old CRM paid it on 1 June: Anna's lot (L 5, S 2, M 1); Carla's CPA (KYC 5 May) R 100,
    # M 20 and her lot R 5, M 2: M 23, R 105. Her chargeback of 20 May was not known yet.
    assert _totals("2024-05", "2024-06-01T00:00:00Z") == {
        "Master Fund": "23.00", "Sub Desk": "2.00", "Leaf Club": "5.00", "Ridge Partners": "105.00"}
    # Once it is known (3 June), May's CPA is taken back: R 5, M 3.
    assert _totals("2024-05", "2024-06-10T00:00:00Z") == {
        "Master Fund": "3.00", "Sub Desk": "2.00", "Leaf Club": "5.00", "Ridge Partners": "5.00"}
    # July: Anna's lot of 5 July, as of 10 July, is still Leaf's (the move was recorded on 15 July)...
    assert _totals("2024-07", "2024-07-10T00:00:00Z") == {
        "Master Fund": "1.00", "Sub Desk": "2.00", "Leaf Club": "5.00"}
    # ...and as of 1 August it is Ridge's from 1 July: R 5, M 2, what the old CRM paid.
    assert _totals("2024-07", "2024-08-01T00:00:00Z") == {"Master Fund": "2.00", "Ridge Partners": "5.00"}


@pytest.mark.django_db
def test_the_backtest_shows_no_difference_where_the_engine_reproduces_the_old_crm(migrated):
    report = json.loads(_call("ib_backtest", "--month", "2024-01", "--json"))["backtests"][0]
    assert report["as_of"] == "2024-02-01T00:00:00+00:00" and report["differing"] == 0
    rows = {r["partner"]: (r["engine"], r["old"], r["difference"]) for r in report["partners"]}
    assert rows == {"Master Fund": ("1.00", "1.00", "0.00"), "Sub Desk": ("22.00", "22.00", "0.00"),
                    "Leaf Club": ("105.00", "105.00", "0.00")}
    leaf = next(r for r in report["partners"] if r["partner"] == "Leaf Club")
    assert sorted((x["rule"], x["amount"]) for x in leaf["lines"]) == [("cpa", "100"), ("fx", "5")]


@pytest.mark.django_db
def test_the_backtest_names_the_partner_whose_old_total_is_off_and_its_lines(migrated):
    text = _call("ib_backtest", "--month", "2024-03")
    assert "1 of 3 partner totals differ" in text
    report = json.loads(_call("ib_backtest", "--month", "2024-03", "--json"))["backtests"][0]
    rows = {r["partner"]: (r["engine"], r["old"], r["difference"]) for r in report["partners"]}
    # March: Anna's lot L 5, S 2, M 1; Boris's 2 lots S 10, M 4 (no CPA: his KYC was late).
    assert rows == {"Master Fund": ("5.00", "5.00", "0.00"), "Sub Desk": ("12.00", "32.00", "-20.00"),
                    "Leaf Club": ("5.00", "5.00", "0.00")}
    sub = next(r for r in report["partners"] if r["partner"] == "Sub Desk")
    assert sorted((x["level"], x["basis"], x["amount"]) for x in sub["lines"]) == [(0, "2", "10"), (1, "1", "2")]


@pytest.mark.django_db
def test_the_ib_manager_reads_the_backtest_beside_the_run(migrated):
    _call("ib_calculate", "--period", "2024-03", "--as-of", "2024-04-01T00:00:00Z")
    run = CommissionRun.objects.get(period="2024-03-01")
    manager = make_user(role_code=RoleCode.IB_MANAGER, brand=Brand.objects.get(code="orion"))
    http = HttpClient()
    http.force_login(manager)
    assert "Beside the old CRM" in http.get(f"/ib/runs/{run.code}/").content.decode()
    page = http.get(f"/ib/runs/{run.code}/backtest/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 partner total differs." in html and "-20.00" in html
    sub = next(row for row in page.context["backtest"].rows if row.partner == "Sub Desk")
    lines = http.get(f"/ib/runs/{run.code}/backtest/?partner={sub.partner_code}").content.decode()
    assert f'data-lines="{sub.partner_code}"' in lines and "fx" in lines
    outsider = make_user(role_code=RoleCode.IB_MANAGER, brand=make_brand(code="other"))
    http.force_login(outsider)
    assert http.get(f"/ib/runs/{run.code}/backtest/").status_code == 404


@pytest.mark.django_db
def test_the_backtest_page_reads_in_arabic(migrated):
    from crm.services import user_update_preferences

    _call("ib_calculate", "--period", "2024-03", "--as-of", "2024-04-01T00:00:00Z")
    run = CommissionRun.objects.get(period="2024-03-01")
    manager = make_user(role_code=RoleCode.IB_MANAGER, brand=Brand.objects.get(code="orion"))
    user_update_preferences(user=manager, language="ar", timezone="UTC")
    http = HttpClient()
    http.force_login(manager)
    html = http.get(f"/ib/runs/{run.code}/backtest/").content.decode()
    assert "بجانب النظام القديم" in html and 'dir="rtl"' in html


@pytest.mark.django_db
def test_a_month_without_old_totals_is_refused_by_name(migrated):
    with pytest.raises(CommandError, match="no old CRM totals for 2024-02"):
        _call("ib_backtest", "--month", "2024-02")


@pytest.mark.django_db
def test_a_fact_known_before_it_happened_is_refused_and_nothing_is_imported(db, tmp_path):
    data = json.loads(json.dumps(HISTORY))
    data["chargebacks"][0]["recorded_at"] = "2024-05-01T00:00:00Z"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"chargebacks\[0\].*known before it happened"):
        _call("ib_import", str(path))
    assert not Brand.objects.filter(code="orion").exists()
