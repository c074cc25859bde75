"""Campaign ROI (with the campaign costs recorded in leads), withdrawals by provider and IB earnings
against the revenue their clients bring, each against plain SQL over the raw rows, per currency."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from reports.catalogue import Params, report_build
from reports.selectors import Period, dashboard_scope
from tests.reports.world import build, settle

pytestmark = pytest.mark.django_db


def _rows(query: str, params: list) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return {tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1] for r in cursor.fetchall()}


@pytest.fixture
def world():
    w = build()
    settle()
    return w


def test_campaign_roi_equals_plain_sql_and_prorates_the_recorded_cost_in_its_own_currency(world):
    from leads.kpis import campaign_cost_add
    from leads.services import campaign_save

    w = world
    today = w.now.date()
    period = Period(today - dt.timedelta(days=9), today)
    spring = campaign_save(actor=None, brand=w.brand, code="spring", name="Spring")
    # 20 days at 200 USD, 10 of them in the period: 100 USD; a EUR cost stays apart.
    campaign_cost_add(actor=w.admin, campaign=spring, period_start=today - dt.timedelta(days=19), period_end=today,
                      amount=Decimal("200"), currency="USD")
    campaign_cost_add(actor=w.admin, campaign=spring, period_start=period.start, period_end=today,
                      amount=Decimal("50"), currency="EUR")
    result = report_build(name="campaign_roi", user=w.admin, scope=dashboard_scope(w.admin),
                          params=Params(period=period, brand_id=w.brand.pk))
    rows = {(r[0], r[1]): r for r in result.rows}
    deposits = _rows("SELECT c.campaign, d.currency, SUM(d.amount) FROM wallet_deposit d "
                     "JOIN crm_client c ON c.id = d.client_id WHERE d.status = 'succeeded' AND c.brand_id = %s "
                     "GROUP BY 1, 2", [w.brand.pk])
    paid = _rows("SELECT c.campaign, x.currency, SUM(x.amount) FROM wallet_withdrawal x "
                 "JOIN crm_client c ON c.id = x.client_id WHERE x.state = 'paid' AND c.brand_id = %s GROUP BY 1, 2",
                 [w.brand.pk])
    assert {k: r[5] for k, r in rows.items()} == deposits
    usd = rows[("spring", "USD")]
    assert usd[6] == paid[("spring", "USD")] == Decimal("400")
    assert (usd[2], usd[3]) == (3, 2)  # three spring clients, two FTDs
    assert usd[7] == Decimal("850") and usd[8] == Decimal("100.00")
    assert usd[9] == Decimal("750.0")  # (850 - 100) / 100
    eur = rows[("spring", "EUR")]
    assert eur[7] == Decimal("500") and eur[8] == Decimal("50.00") and eur[9] == Decimal("900.0")


def test_withdrawals_by_provider_equal_plain_sql_and_a_brand_limited_user_sees_only_theirs(world):
    w = world
    period = Period(w.now.date() - dt.timedelta(days=3), w.now.date())
    result = report_build(name="withdrawals_by_provider", user=w.finance, scope=dashboard_scope(w.finance),
                          params=Params(period=period))
    paid = _rows("SELECT p.code, x.currency, SUM(x.amount) FROM wallet_withdrawal x "
                 "JOIN wallet_paymentprovider p ON p.id = x.provider_id JOIN crm_client c ON c.id = x.client_id "
                 "WHERE x.state = 'paid' AND c.brand_id = %s GROUP BY 1, 2", [w.brand.pk])
    assert paid and {(r[0], r[1]): r[3] for r in result.rows} == paid
    assert all(r[4] == Decimal("100.0") for r in result.rows)
    by_country = report_build(name="withdrawals_by_provider", user=w.finance, scope=dashboard_scope(w.finance),
                              params=Params(period=period, country="DE"))
    assert {(r[0], r[1]): r[3] for r in by_country.rows} == paid  # Ada (DE) made it
    other = report_build(name="withdrawals_by_provider", user=w.finance_other, scope=dashboard_scope(w.finance_other),
                         params=Params(period=period))
    assert other.rows == []


def test_ib_earnings_set_the_partners_commission_against_the_revenue_of_their_clients(db):
    from crm.models import RoleCode
    from ib import commissions as cs
    from reports import readmodel
    from tests.factories import make_user
    from tests.ib.engine_world import MARCH, add_account, add_client, make_world, round_trip, store, t

    w = make_world()
    client = add_client(w, w.leaf)
    account = add_account(w, client)
    store(w, round_trip(account, opened=t(5, 10), closed=t(5, 11), volume="2", profit="-30"))
    cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    readmodel.rebuild(start=dt.date(2024, 3, 1), end=dt.date(2024, 3, 31))
    admin = make_user(role_code=RoleCode.ADMIN)
    result = report_build(name="ib_earnings", user=admin, scope=dashboard_scope(admin),
                          params=Params(period=Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31)), brand_id=w.brand.pk))
    earned = _rows("SELECT l.currency, SUM(l.amount) FROM ib_commissionline l JOIN ib_commissionrun r "
                   "ON r.id = l.run_id WHERE r.brand_id = %s AND l.beneficiary_id = %s GROUP BY 1",
                   [w.brand.pk, w.leaf.pk])
    # No book stated: the broker is the counterparty (the client's 30 lost, swap and commission
    # charged); EURUSD has no markup and the deals no bid and ask: no spread.
    revenue = _rows("SELECT a.currency, SUM(-d.commission - d.swap - CASE WHEN d.entry = 'out' THEN d.profit "
                    "ELSE 0 END) FROM trading_deal d JOIN trading_tradingaccount a ON a.id = d.account_id "
                    "WHERE a.client_id = %s GROUP BY 1", [client.pk])
    leaf = [r for r in result.rows if r[0] == w.leaf.display_name]
    assert leaf and revenue and earned
    assert {r[1]: r[3] for r in leaf} == revenue
    assert {r[1]: r[4] for r in leaf} == earned
    assert leaf[0][5] == leaf[0][3] - leaf[0][4]
