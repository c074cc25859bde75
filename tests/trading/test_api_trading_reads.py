"""The trading API's reads: trading accounts and deals, scoped per key's brand and per staff user,
paged by (time, id) so that deals sharing a time are neither repeated nor skipped."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from crm.models import RoleCode
from tests.crm.api_support import API, KeyClient, assert_error, new_key, session_client
from tests.factories import make_brand, make_client, make_desk, make_user
from trading.adapters.base import Deal, DealEntry, DealKind, Side
from trading.services import platform_server_save, trading_account_register
from trading.sync import deals_store

pytestmark = pytest.mark.django_db

TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "EUR"},
         "demo": {"label": "Demo", "group": "demo\\standard", "leverages": [100], "demo": True, "currency": "USD"}}
AT = dt.datetime(2026, 3, 4, 9, 30, tzinfo=dt.UTC)


def platform_server(brand: Any) -> Any:
    return platform_server_save(actor=None, manager_password="x-secret-1", brand=brand, name=f"MT5 {brand.code}",
                                kind="mt5_web", is_active=True, host="127.0.0.1", port=1, manager_login=1000,
                                account_types=TYPES)


def deal_at(account: Any, deal_id: int, at: dt.datetime, **fields: Any) -> Deal:
    values = {"deal_id": deal_id, "login": account.login, "time": at, "platform_time_msc": int(at.timestamp() * 1000),
              "kind": DealKind.TRADE, "action": 1, "entry": DealEntry.OUT, "side": Side.SELL, "position_id": 555,
              "order_id": 0, "symbol": "EURUSD", "volume": Decimal("1.25"), "price": Decimal("1.08512"),
              "profit": Decimal("-12.5"), "commission": Decimal("-3.5"), "swap": Decimal("-0.25"),
              "fee": Decimal("0"), "comment": "", "reason": 0, "market_bid": None, "market_ask": None, "raw": {}}
    return Deal(**{**values, **fields})


@pytest.fixture
def world(db: Any) -> SimpleNamespace:
    brand, other = make_brand(), make_brand()
    desk = make_desk(brand=brand)
    owner = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    stranger = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    dealer = make_user(role_code=RoleCode.DEALER, brand=brand)
    other_dealer = make_user(role_code=RoleCode.DEALER, brand=other)
    client = make_client(actor=owner, brand=brand)
    second = make_client(brand=brand)
    server, other_server = platform_server(brand), platform_server(other)
    live = trading_account_register(actor=None, client=client, server=server, login=7001, account_type="standard",
                                    currency="EUR")
    demo = trading_account_register(actor=None, client=client, server=server, login=7002, account_type="demo",
                                    currency="USD")
    second_live = trading_account_register(actor=None, client=second, server=server, login=7003,
                                           account_type="standard", currency="EUR")
    foreign = trading_account_register(actor=None, client=make_client(brand=other), server=other_server, login=7001,
                                       account_type="standard", currency="EUR")
    # Five deals at one instant, two later, one on another client's account; one in the other brand.
    deals_store(server, [deal_at(live, 100 + i, AT) for i in range(5)]
                + [deal_at(live, 200, AT + dt.timedelta(minutes=1), symbol="GBPUSD"),
                   deal_at(demo, 201, AT + dt.timedelta(minutes=2)),
                   deal_at(second_live, 300, AT - dt.timedelta(days=1))])
    deals_store(other_server, [deal_at(foreign, 100, AT)])
    return SimpleNamespace(brand=brand, other=other, owner=owner, stranger=stranger, dealer=dealer,
                           other_dealer=other_dealer, client=client, second=second, server=server, live=live,
                           demo=demo, second_live=second_live, foreign=foreign)


def _all_pages(get: Any, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = get(path, {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


# --- deals --------------------------------------------------------------------------------------------


def test_deals_page_newest_first_without_repeating_or_skipping_deals_that_share_a_time(world):
    api = KeyClient(new_key(world.brand, scopes=["trading:read"]))
    items = _all_pages(api.get, "/deals", {"limit": 2})
    ids = [d["deal_id"] for d in items]
    assert sorted(ids) == [100, 101, 102, 103, 104, 200, 201, 300]  # each once, none of the other brand
    assert ids[:2] == [201, 200] and ids[-1] == 300
    assert ids[2:7] == [104, 103, 102, 101, 100]  # the tie at one instant, in the row order
    times = [dt.datetime.fromisoformat(d["time"]) for d in items]
    assert times == sorted(times, reverse=True)


def test_a_deal_carries_decimal_strings_its_accounts_currency_and_a_utc_time(world):
    api = KeyClient(new_key(world.brand, scopes=["trading:read"]))
    deal = next(d for d in api.get("/deals").json()["items"] if d["deal_id"] == 200)
    assert deal["lots"] == "1.25" and deal["price"] == "1.08512" and deal["profit"] == "-12.5"
    assert deal["commission"] == "-3.5" and deal["swap"] == "-0.25" and deal["fee"] == "0"
    assert deal["currency"] == "EUR" and deal["symbol"] == "GBPUSD" and deal["login"] == 7001
    assert deal["time"] == "2026-03-04T09:31:00+00:00"
    assert deal["account"] == str(world.live.code) and deal["client"] == str(world.client.code)
    assert deal["server"] == str(world.server.code)


def test_deals_filter_by_account_client_symbol_and_period(world):
    api = KeyClient(new_key(world.brand, scopes=["trading:read"]))

    def ids(**params: Any) -> list[int]:
        response = api.get("/deals", params)
        assert response.status_code == 200, response.content
        return [d["deal_id"] for d in response.json()["items"]]

    assert ids(account=str(world.demo.code)) == [201]
    assert sorted(ids(client=str(world.client.code))) == [100, 101, 102, 103, 104, 200, 201]
    assert ids(client=str(world.second.code)) == [300]
    assert ids(symbol="gbpusd") == [200]
    assert sorted(ids(since=AT.isoformat(), until=(AT + dt.timedelta(minutes=1)).isoformat())) == [100, 101, 102,
                                                                                                   103, 104]
    assert ids(since=(AT + dt.timedelta(minutes=1)).isoformat()) == [201, 200]
    assert ids(account=str(world.foreign.code)) == []  # another brand's account: nothing, not an error


@pytest.mark.parametrize(("params", "field"), [
    ({"since": "2026-03-04T09:30:00"}, "since"),  # no offset: which zone?
    ({"since": "yesterday"}, "since"),
    ({"account": "not-a-code"}, "account"),
    ({"limit": "0"}, "limit"),
    ({"since": "2026-03-04T10:00:00Z", "until": "2026-03-04T09:00:00Z"}, "until"),
    ({"sybmol": "EURUSD"}, "sybmol"),
])
def test_bad_deal_filters_are_422_naming_the_parameter(world, params, field):
    api = KeyClient(new_key(world.brand, scopes=["trading:read"]))
    body = assert_error(api.get("/deals", params), 422, "invalid")
    assert field in body["fields"], body


def test_a_cursor_that_is_not_ours_is_400(world):
    api = KeyClient(new_key(world.brand, scopes=["trading:read"]))
    assert_error(api.get("/deals", {"cursor": "bm90LWEtY3Vyc29y"}), 400, "invalid_cursor")


def test_deals_need_the_trading_read_scope(world):
    assert_error(KeyClient(new_key(world.brand, scopes=["clients:read"])).get("/deals"), 403, "missing_scope")


def test_staff_read_deals_only_with_the_dealers_permission_and_within_their_brands(world):
    dealer = session_client(world.dealer).get(f"{API}/deals")
    assert dealer.status_code == 200
    assert len(dealer.json()["items"]) == 8
    assert session_client(world.other_dealer).get(f"{API}/deals").json()["items"][0]["deal_id"] == 100
    assert len(session_client(world.other_dealer).get(f"{API}/deals").json()["items"]) == 1
    # A sales agent sees the client's accounts but not the dealer's deal list.
    assert_error(session_client(world.owner).get(f"{API}/deals"), 404, "not_found")


# --- trading accounts ----------------------------------------------------------------------------------


def test_accounts_are_listed_for_the_keys_brand_with_filters(world):
    api = KeyClient(new_key(world.brand, scopes=["trading:read"]))
    every = _all_pages(api.get, "/trading-accounts", {"limit": 2})
    assert {a["code"] for a in every} == {str(world.live.code), str(world.demo.code), str(world.second_live.code)}
    demo = api.get("/trading-accounts", {"is_demo": "true"}).json()["items"]
    assert [a["code"] for a in demo] == [str(world.demo.code)]
    mine = api.get("/trading-accounts", {"client": str(world.client.code), "is_demo": "false"}).json()["items"]
    assert [a["login"] for a in mine] == [7001]
    assert api.get("/trading-accounts", {"server": str(world.server.code)}).json()["items"]
    body = assert_error(api.get("/trading-accounts", {"is_demo": "maybe"}), 422, "invalid")
    assert "is_demo" in body["fields"]


def test_a_clients_accounts_are_404_for_another_brands_key_and_403_without_the_scope(world):
    path = f"/clients/{world.client.code}/trading-accounts"
    own = KeyClient(new_key(world.brand, scopes=["trading:read"])).get(path)
    assert own.status_code == 200
    assert {a["login"] for a in own.json()["items"]} == {7001, 7002}
    assert_error(KeyClient(new_key(world.other, scopes=["trading:read"])).get(path), 404, "not_found")
    assert_error(KeyClient(new_key(world.brand, scopes=["trading:write"])).get(path), 403, "missing_scope")


def test_staff_see_the_accounts_of_the_clients_in_their_book_only(world):
    path = f"{API}/clients/{world.client.code}/trading-accounts"
    assert session_client(world.owner).get(path).status_code == 200
    assert_error(session_client(world.stranger).get(path), 404, "not_found")
    assert_error(session_client(world.other_dealer).get(path), 404, "not_found")
    listed = session_client(world.owner).get(f"{API}/trading-accounts").json()["items"]
    assert {a["login"] for a in listed} == {7001, 7002}  # not the second client, who is not in the book


def test_the_deal_list_counts_against_the_keys_request_budget(world, settings):
    settings.CRM_API_RATE_LIMIT = "2/m"
    api = KeyClient(new_key(world.brand, scopes=["trading:read"]))
    assert api.get("/deals").status_code == 200 and api.get("/trading-accounts").status_code == 200
    response = api.get("/deals")
    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
