"""The brands' leverage caps page: administrators change the caps, dealers see them and the accounts
above them, agents do not get the page. Bad values are refused naming the field; changes are audited;
lowering a cap leaves existing accounts as they are and lists those above it."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog
from tests.factories import make_brand, make_user
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from tests.writes import written
from trading.models import BrandTradingPolicy, TradingAccount
from trading.services import brand_trading_policy_set

LIST = reverse("trading_policy_list")


def _edit(world) -> str:
    return reverse("trading_policy_edit", args=[world.brand.code])


def _platform_leverage(world, login: int) -> int:
    return int(next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == login)["Leverage"])


def test_agents_get_no_page_dealers_see_the_caps_and_only_administrators_change_them(world, client,
                                                                                     login_verified):
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=1000)
    for user in (world.owner, world.finance):
        login_verified(client, user)  # enrols the finance officer's second factor (audited) first
        before = written(BrandTradingPolicy.history.model)
        assert client.get(LIST).status_code == 404
        assert client.get(_edit(world)).status_code == 404
        assert client.post(_edit(world), {"max_leverage_live": "30", "max_leverage_demo": "30"}).status_code == 404
        assert written(BrandTradingPolicy.history.model) == before

    client.force_login(world.dealer)
    listing = client.get(LIST)
    assert listing.status_code == 200
    row = re.search(rf'<tr data-brand="{world.brand.code}">.*?</tr>', listing.content.decode(), re.S).group(0)
    assert "1:500" in row and "1:1000" in row
    page = client.get(_edit(world))
    assert page.status_code == 200 and 'name="max_leverage_live"' not in page.content.decode()
    before = written(BrandTradingPolicy.history.model)
    assert client.post(_edit(world), {"max_leverage_live": "30", "max_leverage_demo": "30"}).status_code == 403
    assert written(BrandTradingPolicy.history.model) == before
    with pytest.raises(NotAllowed):
        brand_trading_policy_set(actor=world.dealer, brand=world.brand, max_leverage_live=30, max_leverage_demo=30)
    # A dealer of another brand does not see this one.
    client.force_login(make_user(role_code="dealer", brand=make_brand()))
    assert f'data-brand="{world.brand.code}"' not in client.get(LIST).content.decode()
    assert client.get(_edit(world)).status_code == 404
    assert BrandTradingPolicy.objects.get(brand=world.brand).max_leverage_live == 500

    login_verified(client, world.admin)
    assert 'name="max_leverage_live"' in client.get(_edit(world)).content.decode()
    response = client.post(_edit(world), {"max_leverage_live": "30", "max_leverage_demo": "200"})
    assert response.status_code == 302 and response["Location"] == _edit(world)
    policy = BrandTradingPolicy.objects.get(brand=world.brand)
    assert (policy.max_leverage_live, policy.max_leverage_demo) == (30, 200)
    assert reverse("trading_policy_list") in client.get(reverse("trading_server_list")).content.decode()


def test_every_change_is_audited_with_before_and_after(world, client, login_verified):
    login_verified(client, world.admin)
    assert client.post(_edit(world), {"max_leverage_live": "400", "max_leverage_demo": "800"}).status_code == 302
    assert client.post(_edit(world), {"max_leverage_live": "50", "max_leverage_demo": "800"}).status_code == 302
    first, second = AuditLog.objects.filter(action="trading.brand_policy_update").order_by("id")
    assert first.actor == world.admin and first.before is None
    assert first.after == {"brand": world.brand.code, "max_leverage_live": 400, "max_leverage_demo": 800,
                           "live_min_stage": "registered", "live_requires_verification": False}
    assert second.before == {"max_leverage_live": 400, "max_leverage_demo": 800, "live_min_stage": "registered",
                             "live_requires_verification": False}
    assert second.after["max_leverage_live"] == 50
    policy = BrandTradingPolicy.objects.get(brand=world.brand)
    assert [h.max_leverage_live for h in policy.history.order_by("history_id")] == [400, 50]
    assert policy.history.latest().history_user == world.admin


@pytest.mark.parametrize("value", ["0", "-5", "3001", "100000", "abc", "1.5", ""])
def test_a_bad_cap_is_refused_naming_the_field(world, client, login_verified, value):
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=1000)
    login_verified(client, world.admin)
    response = client.post(_edit(world), {"max_leverage_live": value, "max_leverage_demo": "1000"})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["max_leverage_live"]
    assert "maximum live leverage" in errors["max_leverage_live"][0]
    assert "1 to 3000" in errors["max_leverage_live"][0]
    assert BrandTradingPolicy.objects.get(brand=world.brand).max_leverage_live == 500
    assert AuditLog.objects.filter(action="trading.brand_policy_update").count() == 1


@pytest.mark.parametrize("value", [0, -1, 3001, True, 1.5, "500"])
def test_the_service_refuses_what_is_not_a_whole_number_from_1_to_3000(world, value):
    with pytest.raises(ValidationFailed) as refused:
        brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=100,
                                 max_leverage_demo=value)
    assert set(refused.value.fields) == {"max_leverage_demo"}
    assert not BrandTradingPolicy.objects.filter(brand=world.brand).exists()
    assert brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=3000,
                                    max_leverage_demo=3000).max_leverage_live == 3000


def test_lowering_a_cap_keeps_existing_accounts_and_lists_those_above_it(world, client, login_verified):
    high = open_account(world, deposit=None, leverage=500)
    low = open_account(world, deposit=None, leverage=100)
    demo = open_account(world, deposit=None, account_type="demo", leverage=500)
    login_verified(client, world.admin)
    assert 'data-brand' in client.get(LIST).content.decode()

    response = client.post(_edit(world), {"max_leverage_live": "200", "max_leverage_demo": "500"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 open account is above its cap" in html
    assert "Lowering a cap does not change existing accounts" in html
    assert f'data-login="{high.login}"' in html
    assert f'data-login="{low.login}"' not in html and f'data-login="{demo.login}"' not in html
    assert reverse("trading_account_action", args=[high.code, "leverage"]) in html
    # Nothing changed on the accounts, in the CRM or on the platform.
    assert TradingAccount.objects.get(pk=high.pk).leverage == 500
    assert _platform_leverage(world, high.login) == 500

    row = re.search(rf'<tr data-brand="{world.brand.code}">.*?</tr>', client.get(LIST).content.decode(), re.S)
    assert f"{_edit(world)}#above-cap\">1</a>" in row.group(0)

    # Lowering the demo cap too: the demo account joins the list; the dealer sees it with the same links.
    client.post(_edit(world), {"max_leverage_live": "200", "max_leverage_demo": "200"})
    client.force_login(world.dealer)
    page = client.get(_edit(world))
    assert page.context["above_count"] == 2
    assert {a.login for a in page.context["accounts"]} == {high.login, demo.login}
    assert reverse("trading_account_action", args=[demo.code, "leverage"]) in page.content.decode()
    # Once its leverage is changed the account leaves the list.
    from trading.services import trading_account_set_leverage

    trading_account_set_leverage(actor=world.dealer, account=high, leverage=200, reason="new cap")
    assert client.get(_edit(world)).context["above_count"] == 1


def test_the_list_takes_a_fixed_number_of_queries(world, client, django_assert_max_num_queries):
    open_account(world, deposit=None, leverage=500)
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=50, max_leverage_demo=100)
    for n in range(3):
        brand = make_brand()
        brand_trading_policy_set(actor=world.admin, brand=brand, max_leverage_live=30 + n, max_leverage_demo=100)
    client.force_login(make_user(role_code="dealer", all_brands=True))
    client.get(LIST)
    with django_assert_max_num_queries(10):
        page = client.get(LIST)
    assert page.status_code == 200
    assert {r.brand.code: r.above_cap for r in page.context["rows"]}[world.brand.code] == 1
