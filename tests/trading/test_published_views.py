"""What trading promises other apps' SQL (trading.selectors.PUBLISHED_VIEWS: deals, accounts, servers):
the commission engine and the platform reconciliation read only these. A change of trading that
breaks the promise fails here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from tests.factories import make_brand, make_client
from tests.published_views import assert_as_declared, view_rows
from trading import selectors
from trading.adapters.base import Deal, DealEntry, DealKind, Side
from trading.models import DealEntry as StoredEntry
from trading.models import DealKind as StoredKind
from trading.services import platform_server_save, trading_account_register
from trading.sync import deals_store

pytestmark = pytest.mark.django_db

TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "EUR"},
         "demo": {"label": "Demo", "group": "demo\\standard", "leverages": [100], "demo": True}}
AT = dt.datetime(2024, 3, 4, 9, 30, tzinfo=dt.UTC)


def _account(*, account_type: str = "standard"):
    brand = make_brand()
    server = platform_server_save(actor=None, manager_password="x-secret-1", brand=brand, name=f"MT5 {brand.code}",
                                  kind="mt5_web", is_active=True, host="127.0.0.1", port=1, manager_login=1000,
                                  account_types=TYPES)
    client = make_client(brand=brand)
    account = trading_account_register(actor=None, client=client, server=server, login=7001,
                                       account_type=account_type)
    return brand, server, client, account


def _deal(account, **fields) -> Deal:
    values = {"deal_id": 90001, "login": account.login, "time": AT, "platform_time_msc": int(AT.timestamp() * 1000),
              "kind": DealKind.TRADE, "action": 1, "entry": DealEntry.OUT, "side": Side.SELL, "position_id": 555,
              "order_id": 0, "symbol": "EURUSD", "volume": Decimal("1.25"), "price": Decimal("1.1"),
              "profit": Decimal("-12.5"), "commission": Decimal("-3.5"), "swap": Decimal("-0.25"),
              "fee": Decimal("-0.1"), "comment": "", "reason": 0, "market_bid": Decimal("1.08501"),
              "market_ask": Decimal("1.08512"), "raw": {}}
    return Deal(**{**values, **fields})


def test_each_view_has_exactly_its_declared_columns_and_types():
    assert [v.name for v in selectors.PUBLISHED_VIEWS] == [
        "trading_public_deals", "trading_public_accounts", "trading_public_servers",
        "trading_public_client_trade_days", "trading_public_client_balances"]
    for view in selectors.PUBLISHED_VIEWS:
        assert_as_declared(view)


def test_the_deal_codes_readers_filter_on_are_the_ones_trading_stores():
    """The engine selects trade deals by kind and closing deals by entry, the reconciliation balance
    deals: a new code (or a renamed one) is a change readers must hear of."""
    view = selectors.DEALS_VIEW
    assert set(view.column("kind").values) == set(StoredKind.values)
    assert set(view.column("entry").values) == set(StoredEntry.values)
    assert set(view.column("side").values) == {s.value for s in Side} | {""}


def test_a_deal_the_sync_stores_shows_in_the_deals_view_as_declared():
    _brand, server, _client, account = _account()
    deals_store(server, [_deal(account),
                         _deal(account, deal_id=90002, kind=DealKind.BALANCE, entry=DealEntry.NONE, side=None,
                               position_id=0, symbol="", volume=Decimal("0"), profit=Decimal("500"),
                               commission=Decimal("0"), swap=Decimal("0"), fee=Decimal("0"), market_bid=None,
                               market_ask=None)])
    trade, balance = view_rows(selectors.DEALS_VIEW, "account_id = %s", [account.pk])
    stamps = {k: trade.pop(k) for k in ("id", "first_seen_at", "updated_at")}
    assert trade == {
        "server_id": server.pk, "account_id": account.pk, "position_id": 555, "time": AT, "kind": "trade",
        "entry": "out", "side": "sell", "symbol": "EURUSD", "volume": Decimal("1.25"), "profit": Decimal("-12.5"),
        "commission": Decimal("-3.5"), "swap": Decimal("-0.25"), "fee": Decimal("-0.1"),
        "market_bid": Decimal("1.08501"), "market_ask": Decimal("1.08512"), "deleted_at": None,
        "market_spread": None}
    assert stamps["first_seen_at"] is not None and stamps["updated_at"] is not None
    assert (balance["kind"], balance["entry"], balance["side"], balance["profit"]) == ("balance", "none", "", 500)
    assert balance["market_bid"] is None and balance["market_ask"] is None


def test_an_account_and_its_server_show_in_their_views_with_the_brand():
    brand, server, client, account = _account()
    assert view_rows(selectors.ACCOUNTS_VIEW, "id = %s", [account.pk]) == [
        {"id": account.pk, "server_id": server.pk, "client_id": client.pk, "account_type": "standard",
         "currency": "EUR", "is_demo": False, "book": "", "balance": Decimal(0), "equity": Decimal(0),
         "is_archived": False}]
    assert view_rows(selectors.SERVERS_VIEW, "id = %s", [server.pk]) == [{"id": server.pk, "brand_id": brand.pk}]
    demo = trading_account_register(actor=None, client=client, server=server, login=7002, account_type="demo")
    assert view_rows(selectors.ACCOUNTS_VIEW, "id = %s", [demo.pk])[0]["is_demo"] is True


def test_the_book_an_administrator_sets_on_a_group_shows_on_its_accounts_and_only_theirs():
    from crm.exceptions import NotAllowed, ValidationFailed
    from crm.models import AuditLog, RoleCode
    from tests.factories import make_user
    from trading.services import trading_group_book_set

    _brand, server, client, account = _account()
    demo = trading_account_register(actor=None, client=client, server=server, login=7002, account_type="demo")
    admin = make_user(role_code=RoleCode.ADMIN)
    trading_group_book_set(actor=admin, server=server, group="real\\standard", book="a")
    rows = {r["id"]: r["book"] for r in view_rows(selectors.ACCOUNTS_VIEW, "server_id = %s", [server.pk])}
    assert rows == {account.pk: "a", demo.pk: ""}  # one row per account; the other group has no book
    trading_group_book_set(actor=admin, server=server, group="real\\standard", book="b")
    assert view_rows(selectors.ACCOUNTS_VIEW, "id = %s", [account.pk])[0]["book"] == "b"
    assert AuditLog.objects.filter(action="trading.group_book_set").count() == 2
    with pytest.raises(ValidationFailed):
        trading_group_book_set(actor=admin, server=server, group="real\\standard", book="c")
    with pytest.raises(NotAllowed):
        trading_group_book_set(actor=make_user(role_code=RoleCode.DEALER), server=server, group="x", book="a")
    trading_group_book_set(actor=admin, server=server, group="real\\standard", book="")
    assert view_rows(selectors.ACCOUNTS_VIEW, "id = %s", [account.pk])[0]["book"] == ""


FRESH_DAYS = """
SELECT a.client_id, (d.time AT TIME ZONE 'UTC')::date, max(d.time),
       coalesce(sum(d.volume) FILTER (WHERE d.entry = 'in'), 0), count(*) FILTER (WHERE d.entry = 'in')
FROM trading_public_deals d JOIN trading_public_accounts a ON a.id = d.account_id
WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND NOT a.is_demo AND a.client_id = %s
GROUP BY 1, 2 ORDER BY 1, 2
"""


def _days(client) -> list[tuple]:
    rows = view_rows(selectors.CLIENT_TRADE_DAYS_VIEW, "client_id = %s", [client.pk])
    got = sorted((r["client_id"], r["day"], r["last_trade_at"], r["lots_in"], r["trades_in"]) for r in rows)
    with connection.cursor() as cursor:
        cursor.execute(FRESH_DAYS, [client.pk])
        assert got == [tuple(row) for row in cursor.fetchall()]  # what the deals say, always
    return got


def test_a_clients_trade_days_follow_the_deals_as_the_sync_stores_edits_and_deletes_them():
    """Marketing's segments count "no trade in 14 days" and "lots in the last 30 days" from this summary:
    it must say what the deals say after every kind of change the sync makes."""
    from trading.models import Deal as DealRow
    from trading.models import TradingAccount

    _brand, server, client, account = _account()
    day = AT.date()
    later = AT + dt.timedelta(hours=3)
    deals_store(server, [_deal(account, entry=DealEntry.IN, volume=Decimal("1.25")),
                         _deal(account, deal_id=90002, time=later, entry=DealEntry.OUT, volume=Decimal("1.25")),
                         _deal(account, deal_id=90003, time=AT + dt.timedelta(days=1), entry=DealEntry.IN,
                               volume=Decimal("0.5")),
                         _deal(account, deal_id=90004, time=AT + dt.timedelta(hours=5), kind=DealKind.BALANCE,
                               entry=DealEntry.NONE, side=None, volume=Decimal("0"))])
    next_day = day + dt.timedelta(days=1)
    assert _days(client) == [(client.pk, day, later, Decimal("1.25"), 1),
                             (client.pk, next_day, AT + dt.timedelta(days=1), Decimal("0.5"), 1)]
    # The platform edits the opening deal's volume (the sync stores the new content).
    deals_store(server, [_deal(account, entry=DealEntry.IN, volume=Decimal("2"))])
    assert _days(client)[0] == (client.pk, day, later, Decimal("2"), 1)
    # Reconciliation finds the closing deal gone (as trading.sync marks it): the day's last trade is earlier.
    DealRow.objects.filter(account=account, deal_id=90002).update(deleted_at=AT + dt.timedelta(days=2))
    assert _days(client)[0] == (client.pk, day, AT, Decimal("2"), 1)
    # A demo account's trades are not the client's trading; an account that turns demo takes its days away.
    demo = trading_account_register(actor=None, client=client, server=server, login=7002, account_type="demo")
    deals_store(server, [_deal(demo, deal_id=90005, entry=DealEntry.IN, volume=Decimal("9"))])
    assert len(_days(client)) == 2
    TradingAccount.objects.filter(pk=account.pk).update(is_demo=True)
    assert _days(client) == []


FRESH_BALANCES = """
SELECT a.client_id, a.currency, count(*)::integer, sum(a.balance), sum(a.equity)
FROM trading_public_accounts a
WHERE NOT a.is_demo AND NOT a.is_archived AND a.client_id = ANY(%s)
GROUP BY 1, 2 ORDER BY 1, 2
"""


def _balances(*clients) -> list[tuple]:
    ids = [c.pk for c in clients]
    rows = view_rows(selectors.CLIENT_BALANCES_VIEW, "client_id = ANY(%s)", [ids])
    got = sorted((r["client_id"], r["currency"], r["accounts"], r["balance"], r["equity"]) for r in rows)
    with connection.cursor() as cursor:
        cursor.execute(FRESH_BALANCES, [ids])
        assert got == [tuple(row) for row in cursor.fetchall()]  # what the accounts say, always
    return got


def _state(account, balance: str, equity: str):
    from trading.adapters.base import AccountState

    return AccountState(login=account.login, balance=Decimal(balance), credit=Decimal(0), equity=Decimal(equity),
                        margin=Decimal(0), free_margin=Decimal(equity), margin_level=None,
                        floating_profit=Decimal(equity) - Decimal(balance), leverage=100, margin_call=False,
                        stop_out=False, observed_at=AT, raw={})


def test_a_clients_balances_follow_its_live_accounts_as_they_are_synced_archived_moved_and_removed():
    """Marketing's segments count "balance under 50 USD on live accounts" from this summary: it must say
    what the accounts say after every kind of change, demo and archived accounts never counted."""
    from trading.models import TradingAccount
    from trading.sync import _store_states

    brand, server, client, account = _account()
    assert _balances(client) == [(client.pk, "EUR", 1, Decimal(0), Decimal(0))]  # registered, nothing on it yet
    second = trading_account_register(actor=None, client=client, server=server, login=7002, account_type="standard")
    demo = trading_account_register(actor=None, client=client, server=server, login=7003, account_type="demo")
    # The state sync stores the polled money of all three in one statement; the demo's is not the client's.
    _store_states(server, [_state(account, "500", "480.5"), _state(second, "20", "25"),
                           _state(demo, "100000", "100000")])
    assert _balances(client) == [(client.pk, "EUR", 2, Decimal("520"), Decimal("505.5"))]
    # A poll that moves nothing (the same money again) changes nothing; a later one replaces the figures.
    _store_states(server, [_state(account, "500", "480.5")])
    _store_states(server, [_state(second, "30", "12.25")])
    assert _balances(client) == [(client.pk, "EUR", 2, Decimal("530"), Decimal("492.75"))]
    # Archived, the account stops counting; in another currency it counts there.
    TradingAccount.objects.filter(pk=second.pk).update(is_archived=True)
    assert _balances(client) == [(client.pk, "EUR", 1, Decimal("500"), Decimal("480.5"))]
    TradingAccount.objects.filter(pk=second.pk).update(is_archived=False, currency="USD")
    assert _balances(client) == [(client.pk, "EUR", 1, Decimal("500"), Decimal("480.5")),
                                 (client.pk, "USD", 1, Decimal("30"), Decimal("12.25"))]
    # Moved to another client, it takes its money with it; made demo, it is nobody's; removed, the same.
    other = make_client(brand=brand)
    TradingAccount.objects.filter(pk=account.pk).update(client=other)
    assert _balances(client, other) == [(client.pk, "USD", 1, Decimal("30"), Decimal("12.25")),
                                        (other.pk, "EUR", 1, Decimal("500"), Decimal("480.5"))]
    TradingAccount.objects.filter(pk=account.pk).update(is_demo=True)
    TradingAccount.objects.filter(pk=second.pk).delete()
    assert _balances(client, other) == []
