"""The withdrawal policy's page (issue 58, item 8): administrators set each brand's automatic
approval, four-eyes threshold and daily limit per currency, audited; finance reads it; nobody else
finds it. And the demo's brands get a policy with four eyes, which an administrator's own is never
overwritten by."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import AuditLog, RoleCode
from tests.factories import make_brand, make_user
from tests.wallet.withdrawal_support import CARD, build_world
from wallet.demo import demo_withdrawal_policy
from wallet.models import WithdrawalPolicy, WithdrawalState
from wallet.withdrawals import withdrawal_approve, withdrawal_policy_for, withdrawal_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    world = build_world()
    world.admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    return world


def _signed_in(login_verified, user) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


def _form(**values: str) -> dict[str, str]:
    return {"sla_hours": "24", "low_risk_rule": "kyc_approved_no_flags", "auto_USD": "", "four_eyes_USD": "",
            "daily_USD": "", **values}


def test_an_administrator_sets_four_eyes_on_the_page_and_the_next_withdrawal_needs_two_people(world, login_verified):
    admin = _signed_in(login_verified, world.admin)
    url = reverse("wallet_withdrawal_policy_edit", args=[world.brand.code])
    page = admin.get(url)
    assert page.status_code == 200 and b'name="four_eyes_USD"' in page.content
    response = admin.post(url, _form(auto_USD="100", four_eyes_USD="500", daily_USD="3000"))
    assert response.status_code == 302
    policy = WithdrawalPolicy.objects.get(brand=world.brand)
    assert policy.four_eyes_above == {"USD": "500.00"} and policy.daily_limit == {"USD": "3000.00"}
    entry = AuditLog.objects.get(action="wallet.withdrawal_policy_saved", object_id=str(policy.pk))
    assert entry.actor_id == world.admin.pk and entry.after["four_eyes"] == {"USD": "500.00"}
    shown = admin.get(url).content.decode()
    assert "Ada Admin" in shown and 'value="500.00"' in shown  # its latest change, and the form as saved
    assert "500.00" in admin.get(reverse("wallet_withdrawal_policy_list")).content.decode()

    w = withdrawal_request(client=world.client, amount=Money("600", "USD"), method=world.card, destination=CARD)
    assert w.needs_two_approvals
    withdrawal_approve(withdrawal=w, actor=world.finance)
    w.refresh_from_db()
    assert w.state == WithdrawalState.REQUESTED  # one approval of two


def test_the_page_refuses_what_is_not_a_threshold_and_keeps_the_policy(world, login_verified):
    withdrawal_policy_for(brand=world.brand)
    admin = _signed_in(login_verified, world.admin)
    url = reverse("wallet_withdrawal_policy_edit", args=[world.brand.code])
    for values, wanted in (({"four_eyes_USD": "abc"}, "Enter an amount"),
                           ({"four_eyes_USD": "0.001"}, "decimal"),
                           ({"auto_USD": "800", "four_eyes_USD": "500"}, "at or below the four-eyes threshold"),
                           ({"sla_hours": "0"}, "greater than or equal to 1")):
        response = admin.post(url, _form(**values))
        assert response.status_code == 400, values
        assert wanted in response.content.decode(), (values, response.content.decode()[:3000])
    assert WithdrawalPolicy.objects.get(brand=world.brand).four_eyes_above == {}


def test_finance_reads_the_policy_but_cannot_change_it_and_others_do_not_find_it(world, login_verified):
    demo_withdrawal_policy(brand=world.brand)
    url = reverse("wallet_withdrawal_policy_edit", args=[world.brand.code])
    finance = _signed_in(login_verified, world.finance)
    page = finance.get(url)
    assert page.status_code == 200 and b'name="four_eyes_USD"' not in page.content and b"1,000.00" in page.content
    assert b"Withdrawal policy" in finance.get(reverse("wallet_withdrawal_queue")).content
    assert finance.post(url, _form(four_eyes_USD="99999")).status_code == 403
    assert WithdrawalPolicy.objects.get(brand=world.brand).four_eyes_above == {"USD": "1000.00", "EUR": "1000.00"}
    # Finance of another brand: not their brand. A sales agent: no such page.
    assert _signed_in(login_verified, world.outsider).get(url).status_code == 404
    agent = HttpClient()
    agent.force_login(world.agent)
    assert agent.get(url).status_code == 404 and agent.get(reverse("wallet_withdrawal_policy_list")).status_code == 404


def test_the_demo_policy_puts_a_2500_withdrawal_before_two_people_and_keeps_an_administrators_own(world):
    assert demo_withdrawal_policy(brand=world.brand)
    w = withdrawal_request(client=world.client, amount=Money("250", "USD"), method=world.card, destination=CARD)
    assert w.needs_two_approvals is False
    withdrawal_approve(withdrawal=w, actor=world.finance)
    from tests.wallet.withdrawal_support import deposit

    deposit(world.client, "5000", provider=world.provider.code)
    big = withdrawal_request(client=world.client, amount=Money("2500", "USD"), method=world.card, destination=CARD)
    assert big.needs_two_approvals and not big.auto_approved

    other = make_brand()
    from wallet.withdrawals import withdrawal_policy_save

    withdrawal_policy_save(brand=other, actor=world.admin, four_eyes_above={"USD": "5000"})
    assert demo_withdrawal_policy(brand=other) is False  # the next start keeps it
    assert demo_withdrawal_policy(brand=world.brand) is False
    assert WithdrawalPolicy.objects.get(brand=other).four_eyes_above == {"USD": "5000.00"}
