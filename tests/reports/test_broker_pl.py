"""The broker's P/L on the dashboard against plain SQL over the raw rows: spread revenue (the
market's spread at closing deals, else the symbol's markup), the A-book / B-book split the
administrator sets on platform groups, the clients' floating P/L of open positions, withdrawals by
provider, open compliance items; per currency, never summed across currencies; desk and brand scope."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.urls import reverse

from reports.readmodel import floating_refresh, rebuild_all
from reports.selectors import Period, dashboard, dashboard_scope
from tests.reports.world import build, deal, settle

pytestmark = pytest.mark.django_db


def _position(account, *, position_id: int, symbol: str, profit: str, swap: str = "0", volume: str = "1"):
    from trading.adapters.base import Position, Side

    return Position(position_id=position_id, login=account.login, symbol=symbol, side=Side.BUY, volume=Decimal(volume),
                    price_open=Decimal("1.1"), price_current=Decimal("1.1"), profit=Decimal(profit), swap=Decimal(swap),
                    opened_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), comment="", raw={})


@pytest.fixture
def world():
    from ib import commissions as cs
    from trading import sync
    from trading.services import trading_group_book_set
    from trading.sync import deals_store

    w = build()
    # The brand's instruments: EURUSD with no markup (spread from bid and ask), XAUUSD with a markup.
    fx = cs.instrument_group_save(actor=None, brand=w.brand, code="fx", units_per_lot="100000")
    metals = cs.instrument_group_save(actor=None, brand=w.brand, code="metals", units_per_lot="100")
    cs.instrument_save(actor=None, brand=w.brand, symbol="EURUSD", group=fx, contract_size="100000")
    cs.instrument_save(actor=None, brand=w.brand, symbol="XAUUSD", group=metals, contract_size="100",
                       markup_per_lot="0.5")
    # A closing deal with the market's bid and ask: 0.0002 x 2 lots x 100 000 = 40 USD of spread.
    t = w.now.replace(microsecond=0) - dt.timedelta(hours=2)
    closing = deal(w.a2, time=t, entry="out", side="sell", position=4242, volume="2", profit="10")
    deals_store(w.server, [dataclasses.replace(closing, market_bid=Decimal("1.10000"), market_ask=Decimal("1.10020"))])
    # The standard group (USD accounts) is A-book; the euro group's book is not stated.
    w.admin_book = trading_group_book_set(actor=w.admin, server=w.server, group="real\\standard", book="a")
    # Open positions as the state sync stores them (its own store, without a platform).
    sync._store_positions(w.server, [w.a1, w.a1e, w.a2], [
        _position(w.a1, position_id=9001, symbol="EURUSD", profit="-120.5", swap="-2"),
        _position(w.a1e, position_id=9002, symbol="XAUUSD", profit="33"),
        _position(w.a2, position_id=9003, symbol="EURUSD", profit="15.25"),
    ])
    settle()
    floating_refresh()
    return w


def _period(w) -> Period:
    return Period(w.now.date() - dt.timedelta(days=3), w.now.date())


def _rows(query: str, params: list) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return {tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1] for r in cursor.fetchall()}


def test_spread_revenue_equals_plain_sql_over_closing_deals_and_instruments(world):
    w = world
    board = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    spread = _rows(
        "SELECT i.profit_currency, SUM(COALESCE((d.market_ask - d.market_bid) * d.volume * i.contract_size, "
        "d.volume * i.contract_size / COALESCE(i.units_per_lot, g.units_per_lot) * i.markup_per_lot)) "
        "FROM trading_deal d JOIN ib_instrument i ON i.symbol = d.symbol AND i.brand_id = %s "
        "JOIN ib_instrumentgroup g ON g.id = i.group_id "
        "WHERE d.server_id = %s AND d.kind = 'trade' AND d.entry = 'out' "
        "AND (d.market_ask IS NOT NULL OR i.markup_per_lot IS NOT NULL) GROUP BY 1", [w.brand.pk, w.server.pk])
    # 40 from bid and ask; XAUUSD's 0.5 lots x 100 / 100 x 0.5 markup = 0.25
    assert spread == {"USD": Decimal("40.25")}
    assert {c: r["spread"] for c, r in board.broker_pl.items() if r["spread"]} == spread


def test_a_deal_reports_spread_without_prices_counts_as_its_spread(world):
    """A deal imported from a report that gives the spread but not the bid and ask (trading_import_deals'
    Spread column) is valued by that spread, before the symbol's markup, as the commission engine does."""
    from trading.sync import deals_store

    w = world
    t = w.now.replace(microsecond=0) - dt.timedelta(hours=1)
    closing = deal(w.a2, time=t, entry="out", side="sell", position=4343, volume="1", profit="5")
    deals_store(w.server, [dataclasses.replace(closing, market_spread=Decimal("0.00030"))])
    settle()
    board = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    # 40 and 0.25 as before, and 0.0003 x 1 lot x 100 000 = 30 from the reported spread.
    assert {c: r["spread"] for c, r in board.broker_pl.items() if r["spread"]} == {"USD": Decimal("70.25")}


def test_the_book_split_equals_plain_sql_and_an_a_book_result_leaves_out_the_clients_pl(world):
    w = world
    board = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    closed = _rows(
        "SELECT a.currency, COALESCE(g.book, ''), SUM(d.profit) FROM trading_deal d "
        "JOIN trading_tradingaccount a ON a.id = d.account_id "
        "LEFT JOIN trading_tradinggroup g ON g.server_id = a.server_id AND g.name = a.\"group\" "
        "WHERE d.server_id = %s AND d.kind = 'trade' AND d.entry = 'out' GROUP BY 1, 2", [w.server.pk])
    assert closed == {("USD", "a"): Decimal("55"), ("EUR", ""): Decimal("-40")}
    got = {(c, b): p["closed_pl"] for c, books in board.broker_books.items() for b, p in books.items()
           if p["closed_pl"]}
    assert got == closed
    a_book = board.broker_books["USD"]["a"]
    # A-book: spread and commission only (3.50 x 4 deals charged), not the clients' 55 of profit.
    assert a_book["spread"] == Decimal("40")
    assert a_book["result"] == a_book["spread"] - a_book["commission"] == Decimal("40") + Decimal("14.00")
    euro = board.broker_books["EUR"][""]
    assert euro["result"] == Decimal("40") + Decimal("7.00") + Decimal("1.25")  # in house: their loss, fees, swap
    assert "EUR" not in {c for c, r in board.broker_pl.items() if r["spread"]}  # never added across currencies


def test_floating_pl_equals_plain_sql_over_open_positions_per_currency_and_book(world):
    w = world
    board = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    floating = _rows("SELECT a.currency, SUM(p.profit + p.swap) FROM trading_position p "
                     "JOIN trading_tradingaccount a ON a.id = p.account_id WHERE p.server_id = %s GROUP BY 1",
                     [w.server.pk])
    assert floating == {"USD": Decimal("-107.25"), "EUR": Decimal("33")}
    assert {c: r["clients_floating_pl"] for c, r in board.broker_pl.items()} == floating
    assert board.broker_books["USD"]["a"]["floating_result"] == 0  # hedged: not the broker's
    assert board.broker_books["EUR"][""]["floating_result"] == Decimal("-33")
    # The numbers are now's: a position closed on the platform goes with the next refresh.
    from trading import sync

    sync._store_positions(w.server, [w.a1, w.a1e, w.a2], [])
    floating_refresh()
    after = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    assert all(not r["clients_floating_pl"] for r in after.broker_pl.values())


def test_withdrawals_by_provider_equal_plain_sql(world):
    w = world
    board = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    paid = _rows("SELECT p.code, x.currency, SUM(x.amount) FROM wallet_withdrawal x "
                 "JOIN wallet_paymentprovider p ON p.id = x.provider_id JOIN crm_client c ON c.id = x.client_id "
                 "WHERE x.state = 'paid' AND c.brand_id = %s GROUP BY 1, 2", [w.brand.pk])
    assert paid and {(f.key, f.currency): f.amount for f in board.withdrawals_by_provider} == paid


def test_a_desk_manager_sees_the_pl_of_their_desks_only_and_another_brand_sees_none(world):
    w = world
    mine = dashboard(scope=dashboard_scope(w.manager), period=_period(w))
    # Desk one holds Ada (c1): her USD and EUR positions; not Bo's (desk two).
    assert {c: r["clients_floating_pl"] for c, r in mine.broker_pl.items() if r["clients_floating_pl"]} == {
        "USD": Decimal("-122.5"), "EUR": Decimal("33")}
    assert mine.broker_pl["USD"]["spread"] == Decimal("0.25")  # Ada's gold markup; the 40 was on Bo's deal
    other = dashboard(scope=dashboard_scope(w.finance_other), period=_period(w))
    assert not any(r["clients_floating_pl"] or r["spread"] for r in other.broker_pl.values())


def test_a_rebuild_keeps_the_new_figures_and_the_page_drills_to_positions_and_spread_deals(world, login_verified):
    w = world
    before = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    rebuild_all()
    after = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    assert after.broker_pl == before.broker_pl and after.broker_books == before.broker_books
    http = HttpClient()
    login_verified(http, w.admin)
    page = http.get(reverse("reports_dashboard"), {"brand": w.brand.code})
    assert page.status_code == 200 and b'data-book="a"' in page.content and b"-107.25" in page.content
    q = {"from": _period(w).start.isoformat(), "to": _period(w).end.isoformat(), "brand": w.brand.code}
    positions = http.get(reverse("reports_drill"), {**q, "metric": "floating_pl", "dimension": "book", "key": "a",
                                                    "currency": "USD"})
    assert positions.status_code == 200 and positions.content.decode().count("data-amount") == 2
    spread = http.get(reverse("reports_drill"), {**q, "metric": "spread", "dimension": "symbol", "key": "EURUSD",
                                                 "currency": "USD"})
    body = spread.content.decode()
    assert body.count("data-amount") == 1 and "40" in body


def test_the_administrator_sets_a_groups_book_on_its_page_and_the_split_follows_at_the_rebuild(world, login_verified):
    from crm.models import RoleCode
    from tests.factories import make_user

    w = world
    http = HttpClient()
    login_verified(http, w.admin)
    url = reverse("trading_server_groups", args=[w.server.code])
    page = http.get(url)
    assert page.status_code == 200 and b'data-group="real\\euro"' in page.content
    assert http.post(url, {"group": "real\\euro", "book": "b"}).status_code == 302
    assert http.post(url, {"group": "real\\euro", "book": "z"}).status_code == 400
    rebuild_all()
    board = dashboard(scope=dashboard_scope(w.admin), period=_period(w), brand_id=w.brand.pk)
    assert set(board.broker_books["EUR"]) == {"b"} and board.broker_books["EUR"]["b"]["closed_pl"] == Decimal("-40")
    dealer = make_user(role_code=RoleCode.DEALER, brand=w.brand)
    login_verified(http, dealer)
    assert http.get(url).status_code in (403, 404)
