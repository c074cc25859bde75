"""The management dashboard's figures against plain SQL over the raw rows (deposits, withdrawals,
deals), per currency and never summed across currencies; desk and brand scoping; the read models'
rebuild equals the incremental path; the pages and the drill-down behind a number."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.urls import reverse

from crm.exceptions import NotAllowed
from reports import readmodel
from reports.models import TRADER_CHUNK, DailyFigure, DailyTrader
from reports.selectors import Period, Scope, dashboard, dashboard_scope
from tests.reports.world import build, deal, round_trip, settle

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    w = build()
    settle()
    return w


def _period(w) -> Period:
    today = w.now.date()
    return Period(today - dt.timedelta(days=3), today)


def _sql(query: str, params: list) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return {tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1] for r in cursor.fetchall()}


def test_each_money_figure_equals_plain_sql_over_deposits_and_withdrawals_per_currency(world):
    w = world
    board = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    deposits = _sql("SELECT d.currency, SUM(d.amount) FROM wallet_deposit d JOIN crm_client c ON c.id = d.client_id "
                    "WHERE d.status = 'succeeded' AND c.brand_id = %s GROUP BY d.currency", [w.brand.pk])
    paid = _sql("SELECT x.currency, SUM(x.amount) FROM wallet_withdrawal x JOIN crm_client c ON c.id = x.client_id "
                "WHERE x.state = 'paid' AND c.brand_id = %s GROUP BY x.currency", [w.brand.pk])
    assert deposits == {"USD": Decimal("1250"), "EUR": Decimal("500")}  # the world is what it says
    assert {c: n["in"] for c, n in board.net_deposits.items()} == deposits
    assert {c: n["out"] for c, n in board.net_deposits.items() if n["out"]} == paid == {"USD": Decimal("400")}
    assert board.net_deposits["USD"]["net"] == Decimal("850")
    assert board.net_deposits["EUR"]["net"] == Decimal("500")  # its own currency, never added to USD
    by_country = {(f.key, f.currency): f.amount for f in board.deposits_by_country}
    assert by_country == {("DE", "USD"): Decimal("1000"), ("DE", "EUR"): Decimal("500"), ("FR", "USD"): Decimal("250")}
    ftds = {r["key"]: (r["ftds"], r["new"]) for r in board.ftds["campaign"]}
    assert ftds == {"spring": (2, 3)}  # two of the three spring clients of brand A deposited


def test_trading_figures_equal_plain_sql_over_deals(world):
    w = world
    board = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    volume = _sql("SELECT symbol, SUM(volume) FROM trading_deal WHERE server_id = %s AND kind = 'trade' "
                  "GROUP BY symbol", [w.server.pk])
    assert {f.key: f.amount for f in board.volume_by_symbol} == volume == {"EURUSD": Decimal("7"),
                                                                          "XAUUSD": Decimal("1")}
    closed = _sql("SELECT a.currency, SUM(d.profit) FROM trading_deal d JOIN trading_tradingaccount a "
                  "ON a.id = d.account_id WHERE d.server_id = %s AND d.entry = 'out' GROUP BY a.currency", [w.server.pk])
    assert {c: r["clients_closed_pl"] for c, r in board.broker_pl.items() if r["clients_closed_pl"]} == closed
    assert closed == {"USD": Decimal("45"), "EUR": Decimal("-40")}
    traders = _sql("SELECT COUNT(DISTINCT a.client_id), 0 FROM trading_deal d JOIN trading_tradingaccount a "
                   "ON a.id = d.account_id WHERE d.server_id = %s", [w.server.pk])
    assert board.active_traders == next(iter(traders)) == 2
    assert board.broker_pl["USD"]["commission"] == Decimal("14.00")  # 4 deals × 3.50 charged


def test_a_client_trading_on_several_days_and_moving_desk_is_one_active_trader(world):
    from crm.services import client_assign
    from trading.sync import deals_store

    w = world
    period = _period(w)
    before = dashboard(scope=dashboard_scope(w.admin), period=period).active_traders
    # Ada trades two days ago under desk one, then moves to desk two and trades again today.
    two_days_ago = w.now.replace(microsecond=0) - dt.timedelta(days=2)
    deals_store(w.server, round_trip(w.a1, opened=two_days_ago, closed=two_days_ago + dt.timedelta(minutes=3),
                                     volume="1", profit="2"))
    settle()
    client_assign(actor=None, client=w.c1, owner=w.agent2, desk=w.desk2)
    today = w.now.replace(microsecond=0) - dt.timedelta(minutes=20)
    deals_store(w.server, round_trip(w.a1, opened=today, closed=today + dt.timedelta(minutes=1), volume="1",
                                     profit="1"))
    settle()
    raw = _sql("SELECT COUNT(DISTINCT a.client_id), 0 FROM trading_deal d JOIN trading_tradingaccount a "
               "ON a.id = d.account_id WHERE d.kind = 'trade' AND NOT a.is_demo AND d.time >= %s",
               [dt.datetime.combine(period.start, dt.time.min, tzinfo=dt.UTC)])
    board = dashboard(scope=dashboard_scope(w.admin), period=period)
    assert board.active_traders == next(iter(raw)) == before  # Ada was already counted: still once
    # Her days are counted under the desk she is on when they are computed: desk two's manager now
    # sees her, desk one's does not.
    assert dashboard(scope=Scope(None, (w.desk2.pk,)), period=period).active_traders >= 1
    on_desk_one = _sql("SELECT COUNT(DISTINCT a.client_id), 0 FROM trading_deal d JOIN trading_tradingaccount a "
                       "ON a.id = d.account_id JOIN crm_client c ON c.id = a.client_id "
                       "WHERE d.kind = 'trade' AND c.desk_id = %s", [w.desk1.pk])
    assert dashboard(scope=Scope(None, (w.desk1.pk,)), period=period).active_traders == next(iter(on_desk_one))


def test_a_desk_manager_sees_only_their_desks_numbers_and_a_brand_limited_user_only_their_brand(world, login_verified):
    w = world
    period = _period(w)
    mine = dashboard(scope=dashboard_scope(w.manager), period=period)
    assert {c: n["in"] for c, n in mine.net_deposits.items()} == {"USD": Decimal("1000"), "EUR": Decimal("500")}
    assert {f.key for f in mine.deposits_by_country} == {"DE"}
    assert mine.active_traders == 1
    finance = dashboard(scope=dashboard_scope(w.finance), period=period)
    assert finance.net_deposits["USD"]["in"] == Decimal("1250")  # brand A only: not brand B's 700
    other = dashboard(scope=dashboard_scope(w.finance_other), period=period)
    assert {c: n["in"] for c, n in other.net_deposits.items()} == {"USD": Decimal("700")}
    assert dashboard(scope=dashboard_scope(w.admin), period=period).net_deposits["USD"]["in"] == Decimal("1950")
    with pytest.raises(NotAllowed):
        dashboard_scope(w.agent1)
    http = HttpClient()
    login_verified(http, w.agent1)
    assert http.get(reverse("reports_dashboard")).status_code in (403, 404)
    login_verified(http, w.finance_other)
    # Another brand's code is refused by name, not shown.
    response = http.get(reverse("reports_dashboard"), {"brand": w.brand.code})
    assert response.status_code == 400 and b'data-problem="brand"' in response.content
    assert "Brand: Choose a brand from the list." in response.content.decode()  # the field as the form names it


def _snapshot() -> tuple[list, list, list]:
    figures = sorted(DailyFigure.objects.values_list("day", "brand_id", "desk_id", "currency", "metric", "dimension",
                                                     "key", "amount", "count"))
    traders = sorted(DailyTrader.objects.values_list("day", "brand_id", "desk_id", "client_id"))
    with connection.cursor() as cursor:
        # The bitmaps as the client ids whose bits are set, row by row.
        cursor.execute("SELECT day, brand_id, desk_id, chunk, bits::text FROM reports_traderbitmap")
        bitmaps = sorted((day, brand, desk, [chunk * TRADER_CHUNK + i for i, bit in enumerate(bits) if bit == "1"])
                         for day, brand, desk, chunk, bits in cursor.fetchall())
    return figures, traders, bitmaps


def test_a_rebuild_gives_the_same_rows_as_the_incremental_path_and_counts_nothing_twice(world):
    from crm.models import Event
    from trading.sync import deals_store

    w = world
    # More arrives after the first refresh: a deal and a deposit, taken incrementally.
    t = w.now.replace(microsecond=0) - dt.timedelta(minutes=30)
    deals_store(w.server, round_trip(w.a2, opened=t, closed=t + dt.timedelta(minutes=1), volume="3", profit="9"))
    deals_store(w.server, [deal(w.a1, time=t, entry="in", side="sell", position=99, volume="0.1", symbol="GBPUSD")])
    settle()
    incremental = _snapshot()
    assert any(row[4] == "volume" and row[6] == "GBPUSD" for row in incremental[0])
    assert readmodel.rebuild_all() >= 2
    assert _snapshot() == incremental
    # A handler given an event again (a retried delivery) adds nothing.
    event = Event.objects.filter(name="wallet.deposit_succeeded").first()
    assert readmodel.event_apply(event) is False
    assert _snapshot() == incremental


def test_the_dashboard_page_links_a_number_to_the_rows_behind_it(world, login_verified):
    w = world
    http = HttpClient()
    login_verified(http, w.admin)
    page = http.get(reverse("reports_dashboard"), {"brand": w.brand.code})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-figure="net-deposits"' in html and "data-net>850.00\u00a0USD" in html
    partial = http.get(reverse("reports_dashboard"), {"brand": w.brand.code}, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and b"<html" not in partial.content
    today = w.now.date()
    rows = http.get(reverse("reports_drill"), {"metric": "deposits", "dimension": "country", "key": "DE",
                                               "currency": "USD", "from": (today - dt.timedelta(days=3)).isoformat(),
                                               "to": today.isoformat(), "brand": w.brand.code})
    assert rows.status_code == 200
    body = rows.content.decode()
    assert body.count("data-amount") == 1 and "1,000.00\u00a0USD" in body and "Ada" in body
    deals = http.get(reverse("reports_drill"), {"metric": "volume", "dimension": "symbol", "key": "XAUUSD",
                                                "from": (today - dt.timedelta(days=3)).isoformat(),
                                                "to": today.isoformat()})
    assert deals.status_code == 200 and deals.content.decode().count("data-amount") == 2


def test_dates_at_the_calendars_ends_are_refused_by_name_not_a_server_error(world, login_verified):
    """The fuzz found it: to=0001-01-01 left no room for the 30 days before it (OverflowError, a 500)."""
    http = HttpClient()
    login_verified(http, world.admin)
    for query in ({"to": "0001-01-01"}, {"from": "9999-12-31"}, {"to": "0001-01-01", "from": "0001-01-01"}):
        page = http.get(reverse("reports_dashboard"), {"brand": world.brand.code, **query})
        assert page.status_code in (200, 400), (query, page.status_code)
        assert "Enter a date as YYYY-MM-DD." in page.content.decode(), query
        drill = http.get(reverse("reports_drill"), {"metric": "deposits", "dimension": "country", "key": "DE",
                                                    "currency": "USD", **query})
        assert drill.status_code < 500, (query, drill.status_code)


def test_ib_cost_and_performance_equal_the_partners_commission_lines(db):
    """The partners' commission (a finished regular run's lines) is the broker's IB cost, per
    partner and currency, as plain SQL over the lines gives it."""
    from crm.models import RoleCode
    from ib import commissions as cs
    from reports.models import ReadModelMark  # noqa: F401 (the refresh's mark is set by rebuild_all)
    from tests.factories import make_user
    from tests.ib.engine_world import MARCH, add_account, add_client, make_world, round_trip, store, t

    w = make_world()
    client = add_client(w, w.leaf)
    account = add_account(w, client)
    store(w, round_trip(account, opened=t(5, 10), closed=t(5, 11), volume="2", profit="-30"))
    cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    readmodel.rebuild(start=dt.date(2024, 3, 1), end=dt.date(2024, 3, 31))
    admin = make_user(role_code=RoleCode.ADMIN)
    board = dashboard(scope=dashboard_scope(admin), period=Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
                      brand_id=w.brand.pk)
    lines = _sql("SELECT beneficiary_id::text, currency, SUM(amount) FROM ib_commissionline l "
                 "JOIN ib_commissionrun r ON r.id = l.run_id WHERE r.brand_id = %s GROUP BY 1, 2", [w.brand.pk])
    assert lines and {(f.key, f.currency): f.amount for f in board.ib_by_partner} == lines
    assert board.broker_pl["USD"]["ib_cost"] == -sum(lines.values())


def test_the_migration_fills_the_all_desks_rows_as_the_refresh_writes_them(world):
    """An installation upgraded with bitmaps already written gets the brands' all-desks rows from its
    desk rows (reports 0004), the same rows the refresh writes."""
    from importlib import import_module

    migration = import_module("reports.migrations.0004_trader_bitmaps_all_desks")
    written = _snapshot()[2]
    assert any(desk == -1 for _day, _brand, desk, _ids in written)
    with connection.cursor() as cursor:
        cursor.execute(migration.EMPTY)
        cursor.execute(migration.FILL)
    assert _snapshot()[2] == written
