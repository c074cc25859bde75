"""Prop-challenge pages: staff's challenge list and challenge page (owner, colleague, outsider),
the products page (administrators write a version; others only read), and the trader's room
(products with a buy button, the challenge page with the breach explained)."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from crm.models import RoleCode
from portal.models import ConsentKind
from tests.factories import make_brand, make_user
from tests.portal.conftest import PASSWORD, adult, publish, sign_in
from tests.trading.crm_fixtures import _fresh_adapters, world  # noqa: F401 - fixtures
from tests.trading.test_prop_challenges import buy, later, poll, product
from tests.wallet.withdrawal_support import deposit
from trading.models import ChallengeProduct

pytestmark = pytest.mark.django_db


def _breached(world: Any) -> Any:
    challenge = buy(world)
    poll(challenge, equity="9400.00", at=later(challenge, minutes=5))
    challenge.refresh_from_db()
    return challenge


def test_staff_in_scope_see_the_challenge_and_its_breach_explained(world, client):
    challenge = _breached(world)
    dealer = make_user(role_code=RoleCode.DEALER, brand=world.brand)
    client.force_login(dealer)
    listing = client.get(reverse("trading_challenge_list"))
    assert listing.status_code == 200 and world.client.full_name in listing.content.decode()
    page = client.get(reverse("trading_challenge_detail", args=[challenge.code]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Daily loss 6% at" in html and "limit 5% of 10,000.00" in html
    # Set out in parts: the rule, its limit in money, the equity that crossed it, the account's figures then.
    assert 'data-ending="rule">Maximum daily loss<' in html
    assert "so equity may not go below 9,500.00" in html and "equity 9,400.00" in html
    assert "the day started at balance 10000.00" in html


def test_staff_of_another_brand_get_not_found_and_agents_are_refused(world, client):
    challenge = _breached(world)
    client.force_login(world.outsider)  # a sales agent of another brand: no prop pages at all
    assert client.get(reverse("trading_challenge_list")).status_code == 403
    other_dealer = make_user(role_code=RoleCode.DEALER, brand=make_brand())
    client.force_login(other_dealer)
    assert client.get(reverse("trading_challenge_detail", args=[challenge.code])).status_code == 404
    assert world.client.full_name not in client.get(reverse("trading_challenge_list")).content.decode()


def test_an_administrator_writes_a_product_version_and_a_dealer_cannot(world, client, login_verified):
    first = product(world)
    form = {"key": first.key, "name": "10K Challenge", "server": world.server.pk, "account_type": "demo",
            "currency": "USD", "account_size": "10000", "fee": "120",
            "phases": '[{"name": "Phase 1", "profit_target_pct": "8", "min_trading_days": 3, "time_limit_days": 30}]',
            "daily_loss_pct": "5", "daily_loss_basis": "equity", "max_loss_pct": "10", "max_loss_mode": "trailing",
            "allowed_symbols": "", "breach_action": "close_only", "profit_split_pct": "90"}
    dealer = make_user(role_code=RoleCode.DEALER, brand=world.brand)
    client.force_login(dealer)
    assert client.post(reverse("trading_challenge_products"), form).status_code == 403
    login_verified(client, world.admin)
    assert client.post(reverse("trading_challenge_products"), {**form, "daily_loss_pct": "0"}).status_code == 400
    response = client.post(reverse("trading_challenge_products"), form)
    assert response.status_code == 302
    versions = list(ChallengeProduct.objects.filter(key=first.key).order_by("version"))
    assert [(v.version, v.on_sale, str(v.fee)) for v in versions] == [(1, False, "99.00000000"),
                                                                      (2, True, "120.00000000")]


def test_the_trader_buys_in_the_room_and_sees_the_breach_explained(world):
    from portal.services import portal_email_verify, portal_register, verification_token

    for kind in ConsentKind.values:
        publish(world.brand, kind)
    registration = portal_register(brand=world.brand, language="en", first_name="Nadia", last_name="Hassan",
                                   email="nadia.prop@example.com", phone="+442071838222", country="GB",
                                   date_of_birth=adult(), password=PASSWORD, accept_terms=True, accept_privacy=True)
    login = registration.login
    portal_email_verify(token=verification_token(login))
    world.client = login.client
    prod = product(world)
    browser = Browser(REMOTE_ADDR="10.1.2.3")
    assert sign_in(browser, world.brand, email="nadia.prop@example.com").status_code == 302
    page = browser.get(reverse("portal:challenges")).content.decode()
    assert "Deposit to buy" in page  # an empty wallet
    deposit(login.client, "200.00")
    assert f'data-buy="{prod.key}"' in browser.get(reverse("portal:challenges")).content.decode()
    bought = browser.post(reverse("portal:challenge_buy"), {"product": str(prod.code)})
    assert bought.status_code == 302, bought.content.decode()[:500]
    challenge = login.client.challenges.get()
    poll(challenge, equity="9400.00", at=later(challenge, minutes=5))
    html = browser.get(reverse("portal:challenge", args=[challenge.code])).content.decode()
    assert "Breached" in html and "Daily loss 6% at" in html and "starting balance" in html
    assert "Why this challenge ended: a rule was broken" in html and "a loss of 600.00" in html
    assert "the day started at" not in html  # the account's snapshot is for staff


def test_the_demo_seed_makes_a_breached_and_a_funded_challenge_once(world):
    from demo.prop import prop_seed_demo
    from tests.factories import make_client
    from trading.models import Challenge

    make_client(actor=world.owner, email="second.trader@example.com", stage="active")
    assert prop_seed_demo(brand=world.brand, server=world.server) == {"active": 0, "breached": 1, "funded": 1}
    states = sorted(Challenge.objects.filter(brand=world.brand).values_list("state", flat=True))
    assert states == ["breached", "funded"]
    assert prop_seed_demo(brand=world.brand, server=world.server) == {"active": 0, "breached": 0, "funded": 0}
