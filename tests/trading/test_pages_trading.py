"""Staff pages of trading: the client's Trading tab and account actions (owner, colleague, outsider),
platform servers with their health, the dealer's deals."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.urls import reverse

from crm.lib.money import Money, money_format
from tests.factories import make_brand, make_user
from tests.trading.crm_fixtures import (  # noqa: F401 - fixtures
    ACCOUNT_TYPES,
    _fresh_adapters,
    open_account,
    server_values,
    sim_now,
    world,
)
from tests.writes import written
from trading import sync
from trading.crypto import decrypt
from trading.lease import lease_hold
from trading.models import Deal, PlatformServer, TradingAccount, deal_reason_label


def _tab(client, world):
    return client.get(reverse("client_detail", args=[world.client.code]) + "?tab=trading")


def test_the_trading_tab_shows_the_owner_their_clients_accounts_and_no_one_else(world, client):
    account = open_account(world, deposit="1234.50", persona="scalper")
    world.sim.advance(seconds=1800)
    sync.deals_sync(world.server.pk, force=True)
    sync.account_states_sync(world.server.pk, force=True)
    client.force_login(world.owner)
    page = _tab(client, world)
    assert page.status_code == 200
    html = page.content.decode()
    account.refresh_from_db()
    assert str(account.login) in html, html[-3000:]
    assert money_format(Money(account.balance, account.currency)) in html  # the synced balance, "1,229.50 USD"
    assert "Deals of the last 30 days" in html
    assert reverse("trading_account_action", args=[account.code, "password"]) in html
    assert reverse("trading_account_action", args=[account.code, "leverage"]) not in html  # agents don't
    for outsider in (world.colleague, world.outsider):
        client.force_login(outsider)
        assert _tab(client, world).status_code == 404
        assert client.get(reverse("trading_account_action", args=[account.code, "password"])).status_code == 404


def test_the_trading_tab_lists_the_deals_of_its_period_in_their_accounts_currency(world, client):
    offset = dt.datetime.now(dt.UTC) - sim_now(world.sim)  # the deals are stamped now, inside the period
    world.sim.control("/_sim/clock_offset", {"seconds": int(offset.total_seconds())})
    open_account(world, deposit="1234.50")
    sync.deals_sync(world.server.pk, force=True)
    client.force_login(world.owner)
    page = _tab(client, world)
    assert page.status_code == 200
    deals = page.content.decode().split("Deals of the last 30 days", 1)[1].split("</table>", 1)[0]
    assert money_format(Money("1234.50", "USD")) in deals, deals


def test_a_dealer_changes_leverage_from_the_page_and_an_agent_may_not(world, client):
    account = open_account(world, deposit=None, leverage=100)
    url = reverse("trading_account_action", args=[account.code, "leverage"])
    client.force_login(world.owner)
    before = written(TradingAccount.history.model)
    assert client.post(url, {"leverage": "200"}).status_code == 403  # sees the account, may not change it
    account.refresh_from_db()
    on_platform = next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == account.login)
    assert account.leverage == 100 and int(on_platform["Leverage"]) == 100  # nor on the platform
    assert written(TradingAccount.history.model) == before
    client.force_login(world.dealer)
    page = client.get(url)
    assert page.status_code == 200 and "1:500" in page.content.decode()
    response = client.post(url, {"leverage": "200", "reason": "experienced trader"})
    assert response.status_code == 302
    assert response["Location"].endswith("?tab=trading")
    account.refresh_from_db()
    assert account.leverage == 200
    assert client.post(url, {"leverage": "7"}).status_code == 400  # not an offered choice


def test_opening_an_account_from_the_profile(world, client):
    client.force_login(world.owner)
    url = reverse("trading_account_open", args=[world.client.code])
    page = client.get(url)
    assert page.status_code == 200 and "Standard" in page.content.decode()
    response = client.post(url, {"plan": f"{world.server.code}:demo", "leverage": ""})
    assert response.status_code == 302
    account = world.client.trading_accounts.get()
    assert (account.is_demo, account.group, account.leverage) == (True, "demo\\standard", 500)
    client.force_login(world.outsider)
    before = written(TradingAccount)
    assert client.get(url).status_code == 404
    assert client.post(url, {"plan": f"{world.server.code}:demo", "leverage": ""}).status_code == 404
    assert written(TradingAccount) == before  # no second account, no event, no audit entry


def test_the_dealers_deal_list_filters_and_is_scoped_to_their_brands(world, client, django_assert_max_num_queries):
    accounts = [open_account(world, persona="scalper"), open_account(world, persona="latency_arb")]
    world.sim.advance(seconds=3600)
    sync.deals_sync(world.server.pk, force=True)
    client.force_login(world.dealer)
    url = reverse("trading_deal_list")
    with django_assert_max_num_queries(12):
        page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    cell = [f'mono">{a.login}</td>' for a in accounts]
    assert cell[0] in html and cell[1] in html
    only_one = client.get(url, {"login": accounts[1].login, "kind": "trade"}).content.decode()
    assert cell[1] in only_one and cell[0] not in only_one
    balances = client.get(url, {"kind": "balance"}).content.decode()
    assert "Balance" in balances and "EURUSD" not in balances
    # Why each deal was made, by name: the simulator's personas trade from the terminals.
    reasons = set(Deal.objects.filter(account__in=accounts).values_list("reason", flat=True))
    assert reasons and all(deal_reason_label(r) in html for r in reasons)
    assert not re.search(r"<td>\d+</td></tr>", html)
    # A login that is not a number: the list says so (also when htmx swaps only the table) and shows
    # no deals, rather than every deal as if it matched.
    bad = client.get(url, {"login": "abc"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "Login: Enter a whole number." in text and cell[0] not in text and cell[1] not in text

    elsewhere = make_user(role_code="dealer", brand=make_brand())
    client.force_login(elsewhere)
    assert cell[0] not in client.get(url).content.decode()
    client.force_login(world.owner)
    assert client.get(url).status_code == 404  # agents have no dealing page


def _deal_ids(html):
    return re.findall(r'<td class="mono">(\d+)</td><td>(?!<a)', html)  # the deal, not the login


def test_the_dealers_deal_list_pages_back_and_filters_whole_days(world, client, monkeypatch):
    from django.utils import timezone

    open_account(world, persona="scalper")
    world.sim.advance(seconds=3600)
    sync.deals_sync(world.server.pk, force=True)
    client.force_login(world.dealer)
    url = reverse("trading_deal_list")
    everything = _deal_ids(client.get(url).content.decode())
    assert len(everything) >= 3

    # Newest first, a page at a time: "Older deals" continues where the page ended, filters kept.
    from trading import selectors

    monkeypatch.setattr(selectors, "DEAL_PAGE", 2)
    first = client.get(url, {"server": world.server.code}).content.decode()
    assert _deal_ids(first) == everything[:2]
    older = re.search(r'href="(\?[^"]*cursor=[^"]+)" hx-get="[^"]+" rel="next">Older deals', first).group(1)
    older = older.replace("&amp;", "&")
    assert older.startswith(f"?server={world.server.code}&cursor=")
    second = client.get(url + older, HTTP_HX_REQUEST="true").content.decode()
    assert _deal_ids(second) == everything[2:4]
    monkeypatch.setattr(selectors, "DEAL_PAGE", 100)

    # Days are whole days in the viewer's time zone: from the first deal's day to the last deal's day
    # is every deal; from the day after the last, none.
    times = Deal.objects.order_by("time").values_list("time", flat=True)
    first_day, last_day = timezone.localdate(times.first()), timezone.localdate(times.last())
    assert _deal_ids(client.get(url, {"date_from": first_day.isoformat(), "date_to": last_day.isoformat()})
                     .content.decode()) == everything
    after = (last_day + dt.timedelta(days=1)).isoformat()
    assert _deal_ids(client.get(url, {"date_from": after}).content.decode()) == []
    backwards = client.get(url, {"date_from": after, "date_to": last_day.isoformat()}).content.decode()
    assert "To: The end date is before the start date." in backwards and _deal_ids(backwards) == []
    assert "Symbol" in client.get(url, {"symbol": "NOSUCH"}).content.decode()  # no match is not an error


def test_servers_show_their_sync_health_to_dealers_but_not_agents(world, client):
    open_account(world, persona="scalper")
    sync.deals_sync(world.server.pk, force=True)
    PlatformServer.objects.filter(pk=world.server.pk).update(last_error="deal sync: [timeout] no answer",
                                                             consecutive_failures=3)
    client.force_login(world.dealer)
    page = client.get(reverse("trading_server_list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert world.server.name in html and "no answer" in html and "3 failures" in html
    assert reverse("trading_server_edit", args=[world.server.code]) not in html  # dealers do not edit
    client.force_login(world.owner)
    assert client.get(reverse("trading_server_list")).status_code == 404


def test_the_servers_page_shows_who_holds_a_sync_lease_since_when(world, client):
    client.force_login(world.dealer)
    html = client.get(reverse("trading_server_list")).content.decode()
    assert "held by" not in html
    with lease_hold(sync.lease_key(world.server.pk, "deals"), ttl=30, owner="worker-7@host:4242"):
        html = client.get(reverse("trading_server_list")).content.decode()
    assert "held by worker-7@host:4242 since" in html and "renewed 0 s ago" in html


def test_an_administrator_adds_a_server_whose_password_is_write_only(world, client, login_verified):
    login_verified(client, world.admin)
    values = server_values(world.sim, world.brand, name="Second MT5")
    form = {k: v for k, v in values.items() if k not in ("account_types", "close_only_groups")}
    form.update({"brand": world.brand.pk, "account_types": json.dumps(ACCOUNT_TYPES), "close_only_groups": "{}",
                 "manager_password": "Very-Secret-9", "is_active": "on", "sync_enabled": "on", "verify_tls": "on"})
    form = {k: ("" if v is None else v) for k, v in form.items() if v is not False}
    response = client.post(reverse("trading_server_create"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    server = PlatformServer.objects.get(name="Second MT5")
    assert decrypt(server.manager_password_encrypted) == "Very-Secret-9"
    page = client.get(reverse("trading_server_edit", args=[server.code])).content.decode()
    assert "Very-Secret-9" not in page and server.manager_password_encrypted not in page
    form.update({"manager_password": "", "port": "8443"})
    assert client.post(reverse("trading_server_edit", args=[server.code]), form).status_code == 302
    server.refresh_from_db()
    assert server.port == 8443 and decrypt(server.manager_password_encrypted) == "Very-Secret-9"
    bad = client.post(reverse("trading_server_create"), {**form, "name": "Third", "account_types": "[1,"})
    assert bad.status_code == 400 and "Not valid JSON" in bad.content.decode()
    # An escape is plain text to the request's check and only becomes unstorable once parsed: named, not a 500.
    for escaped in ('{"real\\\\standard": "real\\u0000closeonly"}', '{"real\\\\standard": "\\ud800"}'):
        bad = client.post(reverse("trading_server_create"), {**form, "name": "Third", "close_only_groups": escaped})
        assert bad.status_code == 400 and "real\\standard" in bad.content.decode(), escaped
    assert not PlatformServer.objects.filter(name="Third").exists()


@pytest.mark.parametrize("role", ["sales_agent", "dealer", "finance"])
def test_only_administrators_reach_the_server_form(world, client, role, login_verified):
    login_verified(client, make_user(role_code=role, brand=world.brand))
    before = written(PlatformServer, PlatformServer.history.model)
    assert client.get(reverse("trading_server_create")).status_code == 404
    assert client.get(reverse("trading_server_edit", args=[world.server.code])).status_code == 404
    values = {"brand": world.brand.pk, "name": "Taken over", "kind": "mt5_web", "host": "127.0.0.1", "port": "443"}
    assert client.post(reverse("trading_server_create"), values).status_code == 404
    assert client.post(reverse("trading_server_edit", args=[world.server.code]), values).status_code == 404
    assert written(PlatformServer, PlatformServer.history.model) == before
    world.server.refresh_from_db()
    assert world.server.name != "Taken over"


def test_navigation_offers_the_trading_pages_to_the_roles_that_may_open_them(world):
    from crm.navigation import nav_items_for

    assert {"platforms", "dealing"} <= {i["key"] for i in nav_items_for(world.admin)}
    # Dealers watch the servers' sync health; finance reads the deals (both pages open for them).
    assert {"dealing", "platforms"} <= {i["key"] for i in nav_items_for(world.dealer)}
    finance = {i["key"] for i in nav_items_for(make_user(role_code="finance", brand=world.brand))}
    assert "dealing" in finance and "platforms" not in finance
    assert not {"dealing", "platforms"} & {i["key"] for i in nav_items_for(world.owner)}
