"""The retention workspace (dormant and at-risk traders of the user's scope) and the dealer's
exposure page (net lots and floating P/L by symbol, client and account, per currency), built
through the services and the real sync against the simulator."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import services as crm_services
from crm.events import dispatch_pending
from crm.lib.money import Money, money_format
from crm.navigation import nav_items_for
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.trading.conftest import MANAGER_PASSWORD
from tests.trading.crm_fixtures import (  # noqa: F401 - fixtures
    ACCOUNT_TYPES,
    _fresh_adapters,
    open_account,
    server_values,
    sim_now,
    world,
)
from trading import summaries, sync
from trading.exposure import exposure_for_user, exposure_from_positions
from trading.models import AccountEquityDay, ExposureRow, Position, RetentionSummary, TradingAccount
from trading.retention import RetentionFilters, retention_queryset
from trading.services import platform_server_save

BID, ASK = Decimal("1.10000"), Decimal("1.10010")


# --- building states -----------------------------------------------------------------------------------

def _quotes(world: Any) -> None:
    world.sim.control("/_sim/prices", {"quotes": {"EURUSD": {"bid": str(BID), "ask": str(ASK)},
                                                  "GBPUSD": {"bid": "1.25000", "ask": "1.25010"}}})


def _days_ago(world: Any, days: float) -> None:
    """Set the simulator's clock so that what it stamps now reads `days` before the CRM's now."""
    delta = timezone.now() - sim_now(world.sim) - dt.timedelta(days=days)
    world.sim.control("/_sim/clock_offset", {"seconds": int(delta.total_seconds())})


def _trade(world: Any, account: TradingAccount, *, side: str = "buy", lots: str = "1", price: Any = None,
           symbol: str = "EURUSD") -> int:
    body: dict[str, Any] = {"login": account.login, "symbol": symbol, "action": side, "volume": lots,
                            "check_margin": False}
    if price is not None:
        body["price"] = str(price)
    return int(world.sim.control("/_sim/trade", body)["Position"])


def _close(world: Any, position: int, price: Any = None) -> None:
    world.sim.control("/_sim/close", {"position": position, **({"price": str(price)} if price is not None else {})})


def _round_trip(world: Any, account: TradingAccount) -> None:
    _close(world, _trade(world, account, price=ASK), price=ASK)


def _sync(world: Any) -> None:
    _days_ago(world, 0)
    assert sync.deals_sync(world.server.pk, force=True).status == "ok"
    assert sync.account_states_sync(world.server.pk, force=True).status == "ok"


def _trader(world: Any, owner: Any, name: str, *, days_ago: float = 0, deposit: str = "10000",
            trade: bool = True) -> tuple[Any, TradingAccount]:
    """A client of `owner` with an account opened and funded `days_ago` days ago, which traded then."""
    client = make_client(actor=owner, brand=world.brand, stage="funded", first_name=name, last_name="Trader",
                         email=f"{name.lower()}@example.com")
    _days_ago(world, days_ago)
    account = open_account(world, client, deposit=deposit)
    if trade:
        _round_trip(world, account)
    return client, account


@pytest.fixture
def desk(world):
    """A retention agent on the world's desk and one on another desk of the same brand."""
    _quotes(world)
    world.agent = make_user(role_code="retention_agent", desk=world.desk, full_name="Rita Retention")
    world.other = make_user(role_code="retention_agent", desk=make_desk(brand=world.brand))
    world.manager = make_user(role_code="desk_manager", desk=world.desk)
    return world


def _rows(html: str) -> list[str]:
    """The client names of the retention table, top to bottom."""
    return re.findall(r'<td class="col-name"><a href="[^"]+" dir="auto">([^<]+)</a>', html)


# --- the retention workspace ---------------------------------------------------------------------------

def test_dormant_traders_are_listed_by_how_long_they_have_not_traded(desk, client):
    w = desk
    _trader(w, w.agent, "Old", days_ago=75)
    _trader(w, w.agent, "Month", days_ago=40)
    _trader(w, w.agent, "Fortnight", days_ago=20)
    _trader(w, w.agent, "Active", days_ago=1)
    _trader(w, w.agent, "Idle", days_ago=16, trade=False)  # funded, never traded
    _sync(w)
    client.force_login(w.agent)
    url = reverse("trading_retention")

    page = client.get(url, {"show": "dormant", "days": 30})
    assert page.status_code == 200
    assert _rows(page.content.decode()) == ["Old Trader", "Month Trader"]
    html = client.get(url, {"show": "dormant", "days": 14}).content.decode()
    assert _rows(html) == ["Old Trader", "Month Trader", "Fortnight Trader", "Idle Trader"]
    assert "Never traded" in html and "opened 16 days ago" in html
    assert "75 days ago" in html
    assert _rows(client.get(url, {"show": "dormant", "days": 60}).content.decode()) == ["Old Trader"]
    # The default list: dormant for 30 days, or at risk.
    assert _rows(client.get(url).content.decode()) == ["Old Trader", "Month Trader"]


def test_at_risk_traders_come_first_margin_calls_then_the_deepest_equity_drops(desk, client):
    w = desk
    _trader(w, w.agent, "Dormant", days_ago=45)
    _loser, loser = _trader(w, w.agent, "Loser", deposit="10000", trade=False)
    _small, small = _trader(w, w.agent, "Small", deposit="10000", trade=False)
    _called, called = _trader(w, w.agent, "Called", deposit="1000", trade=False)
    _sync(w)  # the peaks: 10,000 and 1,000
    _close(w, _trade(w, loser, price=BID + Decimal("0.00010")), price=BID - Decimal("0.03"))  # -3,001
    _close(w, _trade(w, small, price=ASK), price=ASK - Decimal("0.005"))  # -500: 5 %
    _trade(w, called, price=BID + Decimal("0.003"))  # open, 300 under water: margin level about 64 %
    _sync(w)
    called.refresh_from_db()
    assert called.margin_level is not None and 50 < called.margin_level < 100, called.margin_level

    client.force_login(w.agent)
    url = reverse("trading_retention")
    html = client.get(url).content.decode()
    assert _rows(html) == ["Called Trader", "Loser Trader", "Dormant Trader"]  # Small: 5 % is under 20 %
    loser.refresh_from_db()
    assert money_format(Money(loser.equity, "USD")) in html and money_format(Money("10000", "USD")) in html
    assert "−30.0%" in html  # 3,001 of 10,000
    assert f"{called.margin_level}%" in html and "call below 100%" in html
    assert _rows(client.get(url, {"show": "margin_call"}).content.decode()) == ["Called Trader"]
    assert _rows(client.get(url, {"show": "at_risk", "drop": 5}).content.decode()) == [
        "Called Trader", "Loser Trader", "Small Trader"]
    assert AccountEquityDay.objects.get(account=loser).high == Decimal("10000")  # the high stays
    bad = client.get(url, {"drop": "500"})
    assert bad.status_code == 400 and "whole percent from 1 to 100" in bad.content.decode()


def test_each_row_shows_the_last_deposit_and_the_next_task_and_links_to_the_profile(desk, client):
    w = desk
    trader, account = _trader(w, w.agent, "Tasked", days_ago=35, deposit="2500")
    _sync(w)
    soon = timezone.now() + dt.timedelta(days=2)
    crm_services.task_create(actor=w.agent, title="Later call", assignee=w.agent, client=trader,
                             due_at=soon + dt.timedelta(days=5))
    crm_services.task_create(actor=w.agent, title="Offer the webinar", assignee=w.agent, client=trader, due_at=soon)
    client.force_login(w.agent)
    html = client.get(reverse("trading_retention")).content.decode()
    profile = reverse("client_detail", args=[trader.code])
    assert f'href="{profile}"' in html and f'href="{profile}?tab=tasks"' in html
    assert money_format(Money("2500", "USD")) in html
    assert "Offer the webinar" in html and "Later call" not in html  # the next one only


def test_an_agent_sees_only_their_book_and_a_desk_manager_their_desk(desk, client):
    w = desk
    _trader(w, w.agent, "Mine", days_ago=40)
    _trader(w, w.other, "Theirs", days_ago=40)
    _sync(w)
    url = reverse("trading_retention")
    client.force_login(w.agent)
    assert _rows(client.get(url).content.decode()) == ["Mine Trader"]
    client.force_login(w.other)
    assert _rows(client.get(url).content.decode()) == ["Theirs Trader"]
    client.force_login(w.manager)
    html = client.get(url).content.decode()
    assert _rows(html) == ["Mine Trader"] and "Rita Retention" in html  # the owner, for a manager
    for someone in (w.owner, w.dealer):  # a sales agent, a dealer: not their page
        client.force_login(someone)
        assert client.get(url).status_code == 403


def test_a_client_moved_to_another_desk_moves_to_that_desks_manager(desk, client):
    w = desk
    moved, _ = _trader(w, w.agent, "Moved", days_ago=40)
    _trader(w, w.agent, "Stays", days_ago=40)
    _sync(w)
    other_manager = make_user(role_code="desk_manager", desk=w.other.desk)
    url = reverse("trading_retention")
    client.force_login(w.manager)
    assert sorted(_rows(client.get(url).content.decode())) == ["Moved Trader", "Stays Trader"]
    crm_services.client_assign(actor=None, client=moved, owner=w.other, reason="Arabic speaker")
    dispatch_pending()  # "client.assigned" reaches trading's read model
    assert _rows(client.get(url).content.decode()) == ["Stays Trader"]
    client.force_login(other_manager)
    assert _rows(client.get(url).content.decode()) == ["Moved Trader"]
    # A client of another desk shared with a manager is in their workspace too.
    crm_services.client_share(actor=None, client=moved, user=w.manager)
    client.force_login(w.manager)
    assert sorted(_rows(client.get(url).content.decode())) == ["Moved Trader", "Stays Trader"]


def test_the_page_costs_the_same_queries_for_two_rows_or_five(desk, client):
    w = desk
    for n in range(2):
        _trader(w, w.agent, f"First{n}", days_ago=40)
    _sync(w)
    client.force_login(w.agent)
    url = reverse("trading_retention")
    client.get(url)
    with CaptureQueriesContext(connection) as two:
        assert len(_rows(client.get(url).content.decode())) == 2
    for n in range(3):
        trader, _account = _trader(w, w.agent, f"More{n}", days_ago=40)
        crm_services.task_create(actor=w.agent, title="Call", assignee=w.agent, client=trader)
    _sync(w)
    with CaptureQueriesContext(connection) as five:
        assert len(_rows(client.get(url).content.decode())) == 5
    assert len(five) == len(two), [q["sql"][:120] for q in five.captured_queries]


# --- the read model behind the list (trading.summaries) ------------------------------------------------

# The retention figures per client straight from the raw rows: the live accounts, each with every
# equity day of the window.
RAW_RETENTION = """
SELECT a.client_id, max(a.last_trade_at), max(COALESCE(a.last_trade_at, a.opened_at, a.created_at)),
       count(DISTINCT a.id) FILTER (WHERE a.margin > 0 AND a.margin_level < s.margin_call_enter_level),
       COALESCE(max(CASE WHEN d.high > 0 AND d.high > a.equity THEN (d.high - a.equity) * 100 / d.high ELSE 0 END), 0)
FROM trading_tradingaccount a JOIN trading_platformserver s ON s.id = a.server_id
LEFT JOIN trading_accountequityday d ON d.account_id = a.id AND d.day >= %s
WHERE NOT a.is_demo AND NOT a.is_archived GROUP BY a.client_id
"""


def _raw_retention() -> dict[int, tuple[Any, ...]]:
    since = timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=30)
    with connection.cursor() as cursor:
        cursor.execute(RAW_RETENTION, [since])
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _stored_retention() -> dict[int, tuple[Any, ...]]:
    return {r.client_id: (r.last_trade_at, r.last_activity, r.margin_calls, r.max_drop)
            for r in RetentionSummary.objects.all()}


def _listed(user: Any, **filters: Any) -> list[int]:
    return [row["client_id"] for row in retention_queryset(user=user, filters=RetentionFilters(**filters))]


def _listed_raw(client_ids: set[int], *, days: int = 30, drop: int = 20) -> list[int]:
    """The default list (dormant or at risk) of these clients, filtered and sorted in Python over
    the raw figures."""
    now = timezone.now()
    rows = [(pk, *figures) for pk, figures in _raw_retention().items() if pk in client_ids]
    listed = [r for r in rows if r[2] < now - dt.timedelta(days=days) or r[4] >= drop or r[3] > 0]
    return [r[0] for r in sorted(listed, key=lambda r: (-(r[3] > 0), -(r[4] if r[4] >= drop else -1), r[2], r[0]))]


def test_the_list_reads_per_trader_figures_equal_to_the_raw_accounts_and_to_a_rebuild(desk, client):
    w = desk
    _trader(w, w.agent, "Dormant", days_ago=45)
    two, _first = _trader(w, w.agent, "Twice", days_ago=50)
    _loser, loser = _trader(w, w.agent, "Loser", trade=False)
    _called, called = _trader(w, w.agent, "Called", deposit="1000", trade=False)
    _trader(w, w.agent, "Fresh", days_ago=1)
    _sync(w)
    second = open_account(w, two)  # a second live account, trading today: the client is no longer dormant
    _round_trip(w, second)
    open_account(w, two, account_type="demo")  # a demo account counts for nothing
    _close(w, _trade(w, loser, price=BID + Decimal("0.00010")), price=BID - Decimal("0.03"))
    _trade(w, called, price=BID + Decimal("0.003"))
    _sync(w)

    raw = _raw_retention()
    assert len(raw) == 5 and raw[_called.pk][2] == 1 and raw[_loser.pk][3] > 20
    assert _stored_retention() == raw  # kept by the sync and the services, in their transactions
    stored = {r.client_id: r for r in RetentionSummary.objects.all()}
    assert summaries.rebuild() == 5
    again = {r.client_id: r for r in RetentionSummary.objects.all()}
    fields = ("brand_id", "last_trade_at", "last_activity", "margin_calls", "max_drop", "drop_until")
    assert {pk: [getattr(r, f) for f in fields] for pk, r in again.items()} == {
        pk: [getattr(r, f) for f in fields] for pk, r in stored.items()}

    mine = set(raw)
    expected = _listed_raw(mine)
    assert expected[:2] == [_called.pk, _loser.pk] and two.pk not in expected
    assert _listed(w.agent) == expected == _listed(w.manager)
    assert _listed(w.other) == []  # another desk's agent
    for days, drop in ((7, 5), (60, 50)):
        assert _listed(w.agent, days=days, drop=drop) == _listed_raw(mine, days=days, drop=drop)
    client.force_login(w.agent)
    assert len(_rows(client.get(reverse("trading_retention")).content.decode())) == len(expected)


def test_a_drop_ends_when_its_peak_leaves_the_thirty_days(desk, client):
    w = desk
    now = timezone.now()
    with time_machine.travel(now - dt.timedelta(days=31), tick=False):
        loser, account = _trader(w, w.agent, "Loser", trade=False)
        assert sync.account_states_sync(w.server.pk, force=True).status == "ok"  # the peak: 10,000
        _close(w, _trade(w, account, price=BID + Decimal("0.00010")), price=BID - Decimal("0.03"))
        assert sync.account_states_sync(w.server.pk, force=True).status == "ok"
    with time_machine.travel(now - dt.timedelta(days=29), tick=False):
        assert sync.account_states_sync(w.server.pk, force=True).status == "ok"  # a lower day's high
    with time_machine.travel(now - dt.timedelta(days=1), tick=False):
        assert _listed(w.agent, show="at_risk") == [loser.pk]  # 30 % under the peak of 30 days ago
    assert _raw_retention()[loser.pk][3] == 0  # that peak is out of the window
    client.force_login(w.agent)
    html = client.get(reverse("trading_retention"), {"show": "at_risk"}).content.decode()
    assert _rows(html) == []
    assert RetentionSummary.objects.get(client=loser).max_drop == 0
    assert _stored_retention() == _raw_retention()


def test_a_servers_new_margin_call_level_moves_its_traders(desk):
    w = desk
    _called, called = _trader(w, w.agent, "Called", deposit="1000", trade=False)
    _trade(w, called, price=BID + Decimal("0.003"))
    _sync(w)
    called.refresh_from_db()
    assert _listed(w.agent, show="margin_call") == [_called.pk]
    platform_server_save(actor=None, server=w.server, margin_call_enter_level=called.margin_level - 1,
                         margin_call_leave_level=called.margin_level + 10)
    assert _listed(w.agent, show="margin_call") == []
    assert _stored_retention() == _raw_retention()


# --- the dealer's exposure -------------------------------------------------------------------------------

def _cells(html: str, table_id: str) -> list[list[str]]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    return [[re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows if "<td" in row]


def test_net_lots_are_buy_minus_sell_per_symbol_and_per_client(world, client):
    _quotes(world)
    one = open_account(world)
    _trade(world, one, side="buy", lots="1.0", price=ASK)
    _trade(world, one, side="sell", lots="0.4", price=BID)
    other = open_account(world, make_client(actor=world.owner, stage="funded", first_name="Gail", last_name="Short"))
    _trade(world, other, side="sell", lots="2", price=Decimal("1.25000"), symbol="GBPUSD")
    _sync(world)
    client.force_login(world.dealer)
    page = client.get(reverse("trading_exposure"))
    assert page.status_code == 200
    html = page.content.decode()
    symbols = {row[0]: row for row in _cells(html, "exposure-symbols")}
    assert symbols["EURUSD"][1:6] == ["2", "1", "1.00", "0.40", "+0.60 long"]
    assert symbols["GBPUSD"][3:6] == ["0.00", "2.00", "-2.00 short"]
    clients = {row[0]: row for row in _cells(html, "exposure-clients")}
    assert "EURUSD +0.60 long" in clients[world.client.full_name][5]
    assert clients["Gail Short"][3:5] == ["0.00", "2.00"]
    pnl = sum((p.profit + p.swap for p in Position.objects.filter(account__in=[one, other])), Decimal(0))
    assert money_format(Money(pnl, "USD")) in html
    assert 'id="exposure-chart-data" type="application/json"' in html and "<canvas" in html
    for server in (None, world.server):  # a brand on one server: its rows are that server's too
        stored = exposure_for_user(user=world.dealer, server=server)
        stored.as_of = None
        assert stored == exposure_from_positions(user=world.dealer, server=server)


def test_floating_pl_stays_in_each_accounts_currency(world, client, login_verified):
    _quotes(world)
    yen_types = {**ACCOUNT_TYPES, "jpy": {"label": "Yen", "group": "real\\jpy", "leverages": [100], "currency": "JPY"}}
    yen_server = platform_server_save(actor=None, manager_password=MANAGER_PASSWORD,
                                      **server_values(world.sim, world.brand, name="MT5 yen", account_types=yen_types))
    dollars = open_account(world)
    _trade(world, dollars, lots="1", price=BID - Decimal("0.01"))  # about +1,000 USD
    world.server, main = yen_server, world.server
    yen = open_account(world, account_type="jpy", deposit="1000000")
    assert yen.currency == "JPY"
    _trade(world, yen, lots="0.5", price=BID - Decimal("0.01"))
    _sync(world)
    world.server = main
    _sync(world)
    usd = sum((p.profit + p.swap for p in Position.objects.filter(account=dollars)), Decimal(0))
    jpy = sum((p.profit + p.swap for p in Position.objects.filter(account=yen)), Decimal(0))
    assert usd > 0 and jpy > 0
    login_verified(client, world.finance)  # finance signs in with a second factor
    html = client.get(reverse("trading_exposure")).content.decode()
    eurusd = {row[0]: row for row in _cells(html, "exposure-symbols")}["EURUSD"]
    assert eurusd[6] == f"{money_format(Money(jpy, 'JPY'))} {money_format(Money(usd, 'USD'))}".replace("\xa0", " ")
    assert eurusd[5] == "+1.50 long"  # lots do add up across currencies
    assert money_format(Money(usd + jpy, "USD")) not in html
    assert "Floating P/L, JPY" in html and "Floating P/L, USD" in html
    assert 'data-currency="JPY"' in html and 'data-currency="USD"' in html
    only_yen = client.get(reverse("trading_exposure"), {"server": yen_server.code}).content.decode()
    assert "Floating P/L, USD" not in only_yen and "Floating P/L, JPY" in only_yen


def test_exposure_is_for_dealers_and_finance_and_scoped_to_their_brands(world, client, login_verified):
    _quotes(world)
    account = open_account(world)
    _trade(world, account, lots="1", price=ASK)
    _sync(world)
    url = reverse("trading_exposure")
    client.force_login(world.owner)  # a sales agent
    assert client.get(url).status_code == 403
    assert not any(item["key"] == "exposure" for item in nav_items_for(world.owner))
    for allowed in (world.dealer, world.finance):
        login_verified(client, allowed)
        page = client.get(url)
        assert page.status_code == 200 and "EURUSD" in page.content.decode()
        assert any(item["key"] == "exposure" for item in nav_items_for(allowed))
    client.force_login(make_user(role_code="dealer", brand=make_brand()))
    assert "EURUSD" not in client.get(url).content.decode()


def test_the_exposure_page_costs_the_same_queries_for_more_positions(world, client):
    _quotes(world)
    open_and_trade = [open_account(world) for _ in range(2)]
    for account in open_and_trade:
        _trade(world, account, lots="1", price=ASK)
    _sync(world)
    client.force_login(world.dealer)
    url = reverse("trading_exposure")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(3):
        account = open_account(world, make_client(actor=world.owner, stage="funded", first_name=f"More{n}"))
        _trade(world, account, side="sell", lots="0.3", price=Decimal("1.25000"), symbol="GBPUSD")
        _trade(world, account, lots="0.2", price=ASK)
    _sync(world)
    with CaptureQueriesContext(connection) as more:
        client.get(url)
    assert len(more) == len(few)


def test_brand_wide_views_read_per_brand_rows_equal_to_summing_the_positions(world, client, login_verified):
    _quotes(world)
    yen_types = {**ACCOUNT_TYPES, "jpy": {"label": "Yen", "group": "real\\jpy", "leverages": [100], "currency": "JPY"}}
    yen_server = platform_server_save(actor=None, manager_password=MANAGER_PASSWORD,
                                      **server_values(world.sim, world.brand, name="MT5 yen", account_types=yen_types))
    one = open_account(world)
    _trade(world, one, side="buy", lots="1.0", price=BID - Decimal("0.01"))
    _trade(world, one, side="sell", lots="0.4", price=Decimal("1.25000"), symbol="GBPUSD")
    other = open_account(world, make_client(actor=world.owner, stage="funded", first_name="Gail", last_name="Short"))
    _trade(world, other, side="sell", lots="2", price=BID + Decimal("0.002"))
    main = world.server
    world.server = yen_server
    yen = open_account(world, account_type="jpy", deposit="1000000")  # the same client, on a second server
    _trade(world, yen, lots="0.5", price=BID - Decimal("0.01"))
    _sync(world)
    world.server = main
    _sync(world)

    assert ExposureRow.objects.filter(brand=world.brand, server_key=0).exists()
    for user in (world.dealer, world.finance, world.admin):
        for server in (None, main, yen_server):
            stored = exposure_for_user(user=user, server=server)
            assert stored.as_of is not None
            stored.as_of = None
            assert stored == exposure_from_positions(user=user, server=server), (user, server)
    report = exposure_for_user(user=world.dealer)
    assert report.client_count == 2 and report.total.positions == 4
    assert {s.symbol: s.clients for s in report.symbols} == {"EURUSD": 2, "GBPUSD": 1}
    assert exposure_for_user(user=make_user(role_code="dealer", brand=make_brand())).total.positions == 0

    # Positions closed on the platform leave the rows at the next poll of their server.
    for position in Position.objects.filter(account=other):
        _close(world, position.position_id)
    _sync(world)
    assert exposure_for_user(user=world.dealer).client_count == 1
    assert exposure_for_user(user=world.dealer).total == exposure_from_positions(user=world.dealer).total
    login_verified(client, world.finance)
    assert 'id="exposure-as-of"' in client.get(reverse("trading_exposure")).content.decode()
