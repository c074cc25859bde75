"""Leverage caps by country and client classification: the most specific matching rule wins, the lowest
among equally specific ones, the brand's ceiling on top. Opening or changing leverage above the cap
is refused naming the cap and its rule; the caps are managed on the brand's policy page (audited,
administrators only); typed caps may use Arabic-Indic digits and are shown back in ASCII; a demo
ceiling below the live one is refused. A client's classification is a decision of its own."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Classification, Event
from crm.services import client_classification_set, client_update
from tests.crm.api_support import KeyClient, new_key
from tests.factories import make_client, make_user
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from trading.exceptions import LeverageAboveCap
from trading.models import BrandTradingPolicy, LeverageCap, TradingAccount
from trading.policy import cap_parse, leverage_limit
from trading.services import (
    brand_trading_policy_set,
    leverage_cap_delete,
    leverage_cap_save,
    trading_account_open,
    trading_account_set_leverage,
)

RETAIL, PRO, ECP = Classification.RETAIL, Classification.PROFESSIONAL, Classification.ELIGIBLE_COUNTERPARTY


def _client(world, country: str, classification: str = RETAIL, **fields):
    client = make_client(actor=world.owner, country=country, stage="funded", **fields)
    if classification != RETAIL:
        client_classification_set(actor=world.admin, client=client, classification=classification,
                                  reason="Opted up on the evidence")
    return client


def _platform_leverage(world, login: int) -> int:
    return int(next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == login)["Leverage"])


@pytest.fixture
def esma(world):
    """Brand ceiling 1:500; retail clients in GB and DE at most 1:30; professionals in GB 1:200."""
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=500)
    for country in ("GB", "DE"):
        leverage_cap_save(actor=world.admin, brand=world.brand, country=country, classification=RETAIL, max_leverage=30)
    leverage_cap_save(actor=world.admin, brand=world.brand, country="GB", classification=PRO, max_leverage=200)
    return world


def test_the_most_specific_rule_wins_the_lowest_among_equals_and_the_ceiling_on_top(esma):
    world = esma
    brand = world.brand

    def cap(country, classification=RETAIL, demo=False):
        limit = leverage_limit(client=_client(world, country, classification), brand=brand, demo=demo)
        return limit.cap, limit.rule

    assert cap("GB") == (30, "Retail clients in GB: at most 1:30")
    assert cap("GB", PRO) == (200, "Professional clients in GB: at most 1:200")
    # No rule for Nigeria: the brand's ceiling.
    assert cap("NG") == (500, f"Live accounts at {brand.name}: at most 1:500")
    # Country and classification together beat either alone, even when higher.
    leverage_cap_save(actor=world.admin, brand=brand, country="", classification=RETAIL, max_leverage=20)
    assert cap("GB") == (30, "Retail clients in GB: at most 1:30")
    assert cap("NG") == (20, "Retail clients: at most 1:20")
    # Equally specific rules (a country-only and a classification-only one): the lowest applies.
    leverage_cap_save(actor=world.admin, brand=brand, country="AE", classification="", max_leverage=10)
    assert cap("AE") == (10, "Clients in AE: at most 1:10")
    assert cap("AE", ECP) == (10, "Clients in AE: at most 1:10")
    # The ceiling applies on top of a higher rule; demo accounts are held to the demo ceiling only.
    brand_trading_policy_set(actor=world.admin, brand=brand, max_leverage_live=100, max_leverage_demo=300)
    assert cap("GB", PRO) == (100, f"Live accounts at {brand.name}: at most 1:100")
    assert cap("GB", demo=True) == (300, f"Demo accounts at {brand.name}: at most 1:300")


def test_opening_above_the_cap_is_refused_naming_the_cap_and_the_rule(esma):
    world = esma
    gb = _client(world, "GB", email="gb@example.com")
    before = len(world.sim.truth()["accounts"])
    with pytest.raises(LeverageAboveCap) as refused:
        trading_account_open(actor=world.owner, client=gb, server=world.server, account_type="standard", leverage=50)
    assert refused.value.fields == {"leverage": ["Leverage 1:50 is refused. Retail clients in GB: at most 1:30."]}
    assert len(world.sim.truth()["accounts"]) == before
    assert not TradingAccount.objects.filter(client=gb).exists()
    # No leverage of the type is within the cap: the default cannot be chosen either, and it says why.
    with pytest.raises(LeverageAboveCap) as refused:
        trading_account_open(actor=world.owner, client=gb, server=world.server, account_type="standard")
    assert "Retail clients in GB: at most 1:30" in refused.value.fields["leverage"][0]
    # A professional in GB may have 1:200; the default is the highest within the cap.
    pro = _client(world, "GB", PRO)
    account = trading_account_open(actor=world.owner, client=pro, server=world.server, account_type="standard",
                                   send_credentials=False)
    assert account.leverage == 200 and _platform_leverage(world, account.login) == 200


def test_changing_leverage_above_the_cap_is_refused_and_the_platform_is_untouched(esma):
    world = esma
    client = _client(world, "NG")
    account = open_account(world, client, deposit=None, leverage=500)
    client_update(actor=world.owner, client=client, country="GB")  # moved: the GB retail cap now applies
    account = TradingAccount.objects.select_related("client", "server__brand").get(pk=account.pk)
    with pytest.raises(LeverageAboveCap) as refused:
        trading_account_set_leverage(actor=world.dealer, account=account, leverage=200)
    assert refused.value.message == "Leverage 1:200 is refused. Retail clients in GB: at most 1:30."
    assert _platform_leverage(world, account.login) == 500
    assert TradingAccount.objects.get(pk=account.pk).leverage == 500
    assert not AuditLog.objects.filter(action="trading.leverage_change").exists()


def test_the_leverage_page_offers_only_leverages_within_the_cap_and_names_the_rule(esma, client, login_verified):
    world = esma
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=500)
    account = open_account(world, _client(world, "NG"), deposit=None, leverage=500)
    leverage_cap_save(actor=world.admin, brand=world.brand, country="NG", classification="", max_leverage=100)
    login_verified(client, world.dealer)
    url = reverse("trading_account_action", args=[account.code, "leverage"])
    page = client.get(url).content.decode()
    assert "Clients in NG: at most 1:100" in page
    options = re.findall(r'<option value="(\d+)"', page)
    assert options == ["50", "100"]
    # A value posted past the select is refused by the service with the rule, as a form error.
    response = client.post(url, {"leverage": "500", "reason": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["leverage"] == ["Leverage 1:500 is refused. Clients in NG: at most 1:100."]
    assert _platform_leverage(world, account.login) == 500


def test_the_api_refuses_leverage_above_the_cap_with_422(esma):
    world = esma
    gb = _client(world, "GB", email="api-gb@example.com")
    api = KeyClient(new_key(world.brand, scopes=["trading:write"]))
    response = api.post(f"/clients/{gb.code}/trading-accounts",
                        {"server": str(world.server.code), "account_type": "pro", "leverage": 100})
    assert response.status_code == 422
    assert response.json()["code"] == "leverage_above_cap"
    assert response.json()["fields"] == {"leverage": ["Leverage 1:100 is refused. Retail clients in GB: at most 1:30."]}
    assert not TradingAccount.objects.filter(client=gb).exists()

    account = open_account(world, _client(world, "NG"), deposit=None, leverage=500)
    leverage_cap_save(actor=world.admin, brand=world.brand, country="NG", classification=RETAIL, max_leverage=100)
    response = api.post(f"/trading-accounts/{account.code}/leverage", {"leverage": 200})
    assert response.status_code == 422 and response.json()["code"] == "leverage_above_cap"
    response = api.post(f"/trading-accounts/{account.code}/leverage", {"leverage": 100, "reason": "NG cap"})
    assert response.status_code == 200 and response.json()["leverage"] == 100
    assert _platform_leverage(world, account.login) == 100


# --- managing the caps ---------------------------------------------------------------------------------

def _caps_url(world, name: str, *args) -> str:
    return reverse(name, args=[world.brand.code, *args])


def test_only_administrators_manage_caps_dealers_see_them_agents_get_nothing(world, client, login_verified):
    rule = leverage_cap_save(actor=world.admin, brand=world.brand, country="GB", classification=RETAIL, max_leverage=30)
    new = {"country": "DE", "classification": "retail", "max_leverage": "30"}
    for user in (world.owner, world.dealer):
        login_verified(client, user)
        assert client.get(_caps_url(world, "trading_cap_create")).status_code == 404
        assert client.post(_caps_url(world, "trading_cap_create"), new).status_code == 404
        assert client.post(_caps_url(world, "trading_cap_edit", rule.code), new).status_code == 404
        assert client.post(_caps_url(world, "trading_cap_delete", rule.code)).status_code == 404
    with pytest.raises(NotAllowed):
        leverage_cap_save(actor=world.dealer, brand=world.brand, country="DE", classification=RETAIL, max_leverage=30)
    assert list(LeverageCap.objects.values_list("country", "max_leverage")) == [("GB", 30)]
    # The dealer sees the rules on the policy page, without the buttons.
    page = client.get(_caps_url(world, "trading_policy_edit")).content.decode()
    assert 'data-rule="GB-retail"' in page and _caps_url(world, "trading_cap_create") not in page


def test_caps_are_created_changed_and_removed_with_an_audit_trail(world, client, login_verified):
    login_verified(client, world.admin)
    response = client.post(_caps_url(world, "trading_cap_create"),
                           {"country": "gb", "classification": "retail", "max_leverage": "1:30"})
    assert response.status_code == 302
    rule = LeverageCap.objects.get(brand=world.brand)
    assert (rule.country, rule.classification, rule.max_leverage) == ("GB", "retail", 30)
    response = client.post(_caps_url(world, "trading_cap_edit", rule.code),
                           {"country": "GB", "classification": "retail", "max_leverage": "25"})
    assert response.status_code == 302
    page = client.get(_caps_url(world, "trading_policy_edit")).content.decode()
    assert 'data-rule="GB-retail"' in page and "1:25" in page
    client.post(_caps_url(world, "trading_cap_delete", rule.code))
    assert not LeverageCap.objects.exists()
    created, updated, deleted = AuditLog.objects.filter(action__startswith="trading.leverage_cap").order_by("id")
    assert (created.action, created.actor, created.before) == ("trading.leverage_cap_create", world.admin, None)
    assert created.after == {"brand": world.brand.code, "country": "GB", "classification": "retail",
                             "max_leverage": 30}
    assert updated.before["max_leverage"] == 30 and updated.after["max_leverage"] == 25
    assert deleted.action == "trading.leverage_cap_delete" and deleted.before["max_leverage"] == 25


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"country": "XX", "classification": "retail", "max_leverage": "30"}, "country", "two-letter ISO country code"),
    ({"country": "GB", "classification": "retail", "max_leverage": "abc"}, "max_leverage", "whole number from 1 to 3000"),
    ({"country": "GB", "classification": "retail", "max_leverage": "0"}, "max_leverage", "whole number from 1 to 3000"),
    ({"country": "GB", "classification": "retail", "max_leverage": "3001"}, "max_leverage", "whole number"),
    ({"country": "GB", "classification": "retail", "max_leverage": ""}, "max_leverage", "whole number"),
    ({"country": "GB", "classification": "guru", "max_leverage": "30"}, "classification", "valid choice"),
    ({"country": "", "classification": "", "max_leverage": "30"}, "__all__", "Name a country, a classification"),
    ({"country": "DE", "classification": "retail", "max_leverage": "50"}, "__all__", "already has a cap for Retail "
                                                                                     "clients in DE"),
])
def test_a_bad_cap_is_refused_naming_the_problem_and_nothing_is_written(world, client, login_verified, data, field,
                                                                       message):
    leverage_cap_save(actor=world.admin, brand=world.brand, country="DE", classification=RETAIL, max_leverage=30)
    login_verified(client, world.admin)
    response = client.post(_caps_url(world, "trading_cap_create"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field] and message in errors[field][0]
    assert list(LeverageCap.objects.values_list("country", "max_leverage")) == [("DE", 30)]
    assert AuditLog.objects.filter(action__startswith="trading.leverage_cap").count() == 1


def test_arabic_indic_digits_are_read_and_shown_back_in_ascii(world, client, login_verified):
    assert [cap_parse(t) for t in ("٣٠", "١:٣٠", "۳۰", " 1 : 30 ", "30", "٣x", "1.5", "")] == [
        30, 30, 30, 30, 30, None, None, None]
    login_verified(client, world.admin)
    response = client.post(_caps_url(world, "trading_cap_create"),
                           {"country": "GB", "classification": "retail", "max_leverage": "١:٣٠"})
    assert response.status_code == 302
    assert LeverageCap.objects.get(brand=world.brand).max_leverage == 30
    # The demo ceiling below the live one is refused; the page shows both back in ASCII digits.
    response = client.post(_caps_url(world, "trading_policy_edit"),
                           {"max_leverage_live": "١:٥٠٠", "max_leverage_demo": "۱۰۰"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="500"' in html and 'value="100"' in html and "٥٠٠" not in html and "۱۰۰" not in html
    assert response.context["form"].errors["max_leverage_demo"] == [
        "The demo cap (1:100) must not be below the live cap (1:500): a demo account should trade as a live one can."]
    assert not BrandTradingPolicy.objects.filter(brand=world.brand).exists()
    response = client.post(_caps_url(world, "trading_policy_edit"),
                           {"max_leverage_live": "١:٥٠٠", "max_leverage_demo": "١٠٠٠"})
    assert response.status_code == 302
    assert BrandTradingPolicy.objects.get(brand=world.brand).max_leverage_demo == 1000


def test_the_service_refuses_a_demo_ceiling_below_the_live_one(world):
    with pytest.raises(ValidationFailed) as refused:
        brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=100, max_leverage_demo=50)
    assert list(refused.value.fields) == ["max_leverage_demo"]
    assert not BrandTradingPolicy.objects.filter(brand=world.brand).exists()
    assert brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=100,
                                    max_leverage_demo=100).max_leverage_demo == 100


def test_removing_a_rule_lets_the_less_specific_ones_apply_again(esma):
    world = esma
    gb = _client(world, "GB")
    leverage_cap_save(actor=world.admin, brand=world.brand, country="", classification=RETAIL, max_leverage=50)
    leverage_cap_delete(actor=world.admin, cap=LeverageCap.objects.get(brand=world.brand, country="GB",
                                                                       classification=RETAIL))
    assert leverage_limit(client=gb, brand=world.brand, demo=False).rule == "Retail clients: at most 1:50"


def test_the_accounts_above_their_caps_follow_the_rules(esma, client, login_verified):
    world = esma
    ng = open_account(world, _client(world, "NG"), deposit=None, leverage=500)
    pro = open_account(world, _client(world, "GB", PRO), deposit=None, leverage=200)
    # Classified retail again: the GB retail cap now applies to the professional's account.
    client_classification_set(actor=world.admin, client=pro.client, classification=RETAIL, reason="Opted down")
    login_verified(client, world.dealer)
    page = client.get(_caps_url(world, "trading_policy_edit"))
    assert page.context["above_count"] == 1
    [row] = page.context["accounts"]
    assert (row.login, row.leverage_cap) == (pro.login, 30)
    assert f'data-login="{ng.login}"' not in page.content.decode()
    listing = client.get(reverse("trading_policy_list")).content.decode()
    row_html = re.search(rf'<tr data-brand="{world.brand.code}">.*?</tr>', listing, re.S).group(0)
    assert "#above-cap\">1</a>" in row_html


def test_a_brand_without_caps_holds_retail_clients_to_their_regulators_default(world):
    """Issue 58, item 4: a UK retail client on a brand with no caps (ceiling 1:500) got 1:500."""
    from trading.policy import with_leverage_cap

    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=500)
    gb, au, ng = _client(world, "GB"), _client(world, "AU"), _client(world, "NG")
    limit = leverage_limit(client=gb, brand=world.brand, demo=False)
    assert (limit.cap, limit.rule) == (30, "Retail clients in GB: at most 1:30 (the FCA default)")
    assert leverage_limit(client=au, brand=world.brand, demo=False).cap == 30  # ASIC
    assert leverage_limit(client=ng, brand=world.brand, demo=False).cap == 500  # no regulator's default: the ceiling
    assert leverage_limit(client=gb, brand=world.brand, demo=True).cap == 500  # demo accounts: the demo ceiling
    with pytest.raises(LeverageAboveCap) as refused:
        trading_account_open(actor=world.admin, client=gb, server=world.server, account_type="standard", leverage=500)
    assert "the FCA default" in refused.value.message
    # Not for a professional client, and the brand's own rule for the client wins over the default.
    assert leverage_limit(client=_client(world, "GB", PRO), brand=world.brand, demo=False).cap == 500
    leverage_cap_save(actor=world.admin, brand=world.brand, country="AU", classification=RETAIL, max_leverage=20)
    assert leverage_limit(client=au, brand=world.brand, demo=False).cap == 20
    # The list of accounts above their caps reads the same caps.
    ng_account = open_account(world, ng, deposit=None, leverage=500)
    capped = with_leverage_cap(TradingAccount.objects.filter(pk=ng_account.pk)).get()
    assert capped.leverage_cap == 500
    client_update(actor=world.admin, client=ng, country="DE", reason="moved")
    assert with_leverage_cap(TradingAccount.objects.filter(pk=ng_account.pk)).get().leverage_cap == 30


# --- the client's classification -------------------------------------------------------------------

def test_classification_is_a_decision_of_compliance_with_a_reason_audited(world, client, login_verified):
    compliance = make_user(role_code="compliance", brand=world.brand)
    with pytest.raises(NotAllowed):
        client_classification_set(actor=world.owner, client=world.client, classification=PRO, reason="asked for it")
    with pytest.raises(ValidationFailed) as refused:
        client_classification_set(actor=compliance, client=world.client, classification=PRO, reason="  ")
    assert refused.value.fields == {"reason": ["Say what the classification rests on."]}
    world.client.refresh_from_db()
    assert world.client.classification == RETAIL

    url = reverse("trading_client_classification", args=[world.client.code])
    login_verified(client, world.owner)
    assert client.get(url).status_code == 404
    assert client.post(url, {"classification": "professional", "reason": "x"}).status_code == 404
    tab = client.get(reverse("client_detail", args=[world.client.code]) + "?tab=trading")
    assert url not in tab.content.decode() and 'data-classification="retail"' in tab.content.decode()

    login_verified(client, compliance)
    assert url in client.get(reverse("client_detail", args=[world.client.code]) + "?tab=trading").content.decode()
    response = client.post(url, {"classification": "professional", "reason": "Portfolio over EUR 500k, 3 years"})
    assert response.status_code == 302
    world.client.refresh_from_db()
    assert world.client.classification == PRO
    audit = AuditLog.objects.get(action="client.classification_change")
    assert (audit.actor, audit.before, audit.after) == (compliance, {"classification": "retail"},
                                                        {"classification": "professional"})
    assert audit.reason == "Portfolio over EUR 500k, 3 years"
    event = Event.objects.filter(name="client.updated", client=world.client).latest("id")
    assert event.data == {"fields": ["classification"], "reason": "Portfolio over EUR 500k, 3 years",
                          "changes": {"classification": {"old": "retail", "new": "professional"}}}
