"""Who may get a live account, per brand: the least stage (registered unless the brand says otherwise)
and, if the brand asks, a verification that stands. A refusal names the brand's rule and where the
client stands, in the service, on the page (a form error, not a 500) and in the API (409); nothing
reaches the platform. Demo accounts stay open to everyone."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import AuditLog, Stage
from crm.services import client_stage_change, client_stage_prove, client_verification_set
from tests.crm.api_support import KeyClient, new_key
from tests.factories import make_brand, make_client
from tests.trading.crm_fixtures import _fresh_adapters, make_server, world  # noqa: F401 - fixtures
from trading.exceptions import AccountOpeningRefused
from trading.models import BrandTradingPolicy, TradingAccount
from trading.services import brand_trading_policy_set, trading_account_open
from wallet.event_types import FIRST_DEPOSIT


def _platform_logins(world) -> set[int]:
    return {int(a["Login"]) for a in world.sim.truth()["accounts"]}


def _open(world, client, account_type: str = "standard", **kwargs):
    return trading_account_open(actor=world.owner, client=client, server=world.server, account_type=account_type,
                                send_credentials=False, **kwargs)


@pytest.fixture
def atlas(world):
    """The world's brand named Atlas (the messages name it)."""
    world.brand.name = "Atlas"
    world.brand.save(update_fields=["name"])
    return world


def test_a_lead_gets_no_live_account_and_the_refusal_names_the_rule_and_the_stage(atlas):
    world = atlas
    lead = make_client(actor=world.owner, email="lead@example.com", country="AE")  # no regulator's default cap
    before = _platform_logins(world)
    assert not BrandTradingPolicy.objects.filter(brand=world.brand).exists()  # the default applies

    with pytest.raises(AccountOpeningRefused) as refused:
        _open(world, lead, leverage=500)

    assert refused.value.message == ("Live accounts at Atlas need the client to be at least Registered; this client "
                                     "is Lead.")
    assert refused.value.code == "account_opening_refused"
    assert _platform_logins(world) == before
    assert not TradingAccount.objects.filter(client=lead).exists()
    assert not AuditLog.objects.filter(action__startswith="trading.account_open").exists()
    # A demo account is fine, and once registered so is a live one.
    assert _open(world, lead, account_type="demo").is_demo
    client_stage_change(actor=world.owner, client=lead, stage=Stage.REGISTERED)
    assert not _open(world, lead, leverage=100).is_demo


def test_each_brand_sets_its_own_least_stage(world):
    registered = make_client(actor=world.owner, stage="registered")
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=500,
                             live_min_stage=Stage.FUNDED)
    with pytest.raises(AccountOpeningRefused) as refused:
        _open(world, registered)
    assert "need the client to be at least Funded; this client is Registered." in refused.value.message
    # Funded and further (a dormant client was funded) pass.
    assert _open(world, world.client)  # funded
    client_stage_change(actor=world.admin, client=world.client, stage=Stage.DORMANT)
    assert _open(world, world.client)

    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=500,
                             live_min_stage=Stage.LEAD)
    assert _open(world, make_client(actor=world.owner))  # a lead, when the brand allows it


def test_a_closed_client_gets_no_live_account(world):
    client = make_client(actor=world.owner, stage="funded")
    client_stage_change(actor=world.admin, client=client, stage=Stage.CLOSED)
    with pytest.raises(AccountOpeningRefused) as refused:
        _open(world, client)
    assert "cannot be opened for a closed client" in refused.value.message


def test_a_brand_that_requires_verification_refuses_a_client_funded_without_one(world):
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=500,
                             live_requires_verification=True)
    # Funded by a first deposit straight from registered: the stage is past verified, the KYC is not.
    client = make_client(actor=world.owner, stage="registered")
    client_stage_prove(client=client, proof=FIRST_DEPOSIT)
    client.refresh_from_db()
    assert client.stage == Stage.FUNDED
    with pytest.raises(AccountOpeningRefused) as refused:
        _open(world, client)
    assert refused.value.message.endswith("need a verified client (an approved verification that has not expired); "
                                          "this client is not verified.")

    # The KYC app's approval sets the core's verification state; its expiry clears it.
    client_verification_set(client=client, verified=True, reason="approved")
    account = _open(world, client)
    assert not account.is_demo
    # An expired verification no longer counts.
    client_verification_set(client=client, verified=False, reason="passport expired")
    with pytest.raises(AccountOpeningRefused):
        _open(world, client)
    # world.client was verified on its way to funded.
    assert _open(world, world.client)


def test_the_policy_is_changed_on_the_policy_page_and_audited(world, client, login_verified):
    login_verified(client, world.admin)
    response = client.post(reverse("trading_policy_edit", args=[world.brand.code]), {
        "max_leverage_live": "500", "max_leverage_demo": "500", "live_min_stage": "verified",
        "live_requires_verification": "on"})
    assert response.status_code == 302
    policy = BrandTradingPolicy.objects.get(brand=world.brand)
    assert (policy.live_min_stage, policy.live_requires_verification) == ("verified", True)
    audit = AuditLog.objects.filter(action="trading.brand_policy_update").latest("id")
    assert audit.after["live_min_stage"] == "verified" and audit.after["live_requires_verification"] is True
    # A stage the policy does not offer is refused, naming the field; nothing changes.
    response = client.post(reverse("trading_policy_edit", args=[world.brand.code]), {
        "max_leverage_live": "500", "max_leverage_demo": "500", "live_min_stage": "active"})
    assert response.status_code == 400 and "live_min_stage" in response.context["form"].errors
    assert BrandTradingPolicy.objects.get(brand=world.brand).live_min_stage == "verified"


def test_the_opening_page_shows_the_refusal_as_a_form_error(atlas, client, login_verified):
    world = atlas
    lead = make_client(actor=world.owner, email="lead2@example.com")
    login_verified(client, world.owner)
    url = reverse("trading_account_open", args=[lead.code])
    page = client.get(url)
    assert page.status_code == 200
    assert "Live accounts at Atlas need the client to be at least Registered" in page.content.decode()

    response = client.post(url, {"plan": f"{world.server.code}:standard", "leverage": "100"})

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        "Live accounts at Atlas need the client to be at least Registered; this client is Lead."]
    assert not TradingAccount.objects.filter(client=lead).exists()
    # The demo plan on the same page works.
    response = client.post(url, {"plan": f"{world.server.code}:demo", "leverage": ""})
    assert response.status_code == 302
    assert TradingAccount.objects.get(client=lead).is_demo


def test_the_api_answers_409_naming_the_rule(atlas):
    world = atlas
    lead = make_client(actor=world.owner, email="lead3@example.com")
    api = KeyClient(new_key(world.brand, scopes=["trading:write"]))
    path = f"/clients/{lead.code}/trading-accounts"

    response = api.post(path, {"server": str(world.server.code), "account_type": "standard", "leverage": 100})

    assert response.status_code == 409
    assert response.json()["code"] == "account_opening_refused"
    assert response.json()["message"] == ("Live accounts at Atlas need the client to be at least Registered; this "
                                          "client is Lead.")
    assert not TradingAccount.objects.filter(client=lead).exists()
    response = api.post(path, {"server": str(world.server.code), "account_type": "demo"})
    assert response.status_code == 201 and response.json()["is_demo"] is True
    # A key without the scope, and another brand's key, get nothing.
    assert KeyClient(new_key(world.brand, scopes=["clients:read"])).post(
        path, {"server": str(world.server.code), "account_type": "demo"}).status_code == 403
    assert KeyClient(new_key(make_brand(), scopes=["trading:write"])).post(
        path, {"server": str(world.server.code), "account_type": "demo"}).status_code == 404
    assert TradingAccount.objects.filter(client=lead).count() == 1


def test_a_server_of_the_brand_is_needed_in_the_api_too(world):
    other = make_server(world.sim, make_brand())
    api = KeyClient(new_key(world.brand, scopes=["trading:write"]))
    response = api.post(f"/clients/{world.client.code}/trading-accounts",
                        {"server": str(other.code), "account_type": "standard"})
    assert response.status_code == 404
    assert not TradingAccount.objects.filter(client=world.client).exists()


def test_the_brand_of_another_client_does_not_leak_through_the_form(world, client, login_verified):
    stranger = make_client(brand=make_brand(), stage="registered")
    login_verified(client, world.owner)
    assert client.get(reverse("trading_account_open", args=[stranger.code])).status_code == 404
