# ruff: noqa: F811 - the portal tests' fixtures are imported as fixtures, then named as arguments
"""The deposit pages: the trader's room (wallet, deposit form to the simulator's checkout, the
deposit's page polling its status) and the staff pages (finance list, the Wallet profile tab),
each for its owner, another client or a colleague without the permission (404)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import AuditLog, RoleCode
from tests.factories import make_brand, make_user
from tests.portal.conftest import (  # noqa: F401
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    registered,
    sign_in,
)
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET
from tests.wallet.support import checkout
from wallet.deposits import deposit_create
from wallet.ledger import available, wallet_account_for
from wallet.models import Deposit, DepositStatus
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.webhooks import webhook_receive


@pytest.fixture
def pay_setup(registered, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    payment_method_save(brand=registered.brand, method="card", direction="deposit", provider=provider,
                        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))])
    return registered


def _deliver(hooks, deposit):
    for c in hooks.wait_of(deposit.merchant_ref, 1):
        webhook_receive(provider_code="psp-sim", headers=c.headers, body=c.body)


def test_a_client_deposits_from_the_trader_room_and_follows_the_status(pay_setup, http, hooks):
    sign_in(http, pay_setup.brand)
    page = http.get(reverse("portal:wallet_deposit_new"))
    assert page.status_code == 200 and "Card" in page.content.decode()

    bad = http.post(reverse("portal:wallet_deposit_new"), {"action": "pay", "currency": "USD",
                                                            "method": page.context["form"].fields["method"].choices[0][0],
                                                            "amount": "5"})
    assert bad.status_code == 400 and "minimum" in bad.content.decode() and not Deposit.objects.exists()
    method = page.context["form"].fields["method"].choices[0][0]
    sent = http.post(reverse("portal:wallet_deposit_new"), {"action": "pay", "currency": "USD", "method": method,
                                                             "amount": "120.00"})
    deposit = Deposit.objects.get()
    # To the provider's page through one of ours (the form may post only here): a refresh and a link.
    assert sent.status_code == 302 and sent["Location"] == reverse("portal:wallet_deposit_checkout", args=[deposit.code])
    onward = http.get(sent["Location"]).content.decode()
    assert f'content="0;url={deposit.redirect_url}"' in onward and f'href="{deposit.redirect_url}"' in onward

    status, location, _ = checkout(deposit.redirect_url, {"card_number": "4242424242424242"})
    back = http.get(location.replace("http://testserver", "").split("://", 1)[-1].split("/", 1)[-1].join(["/", ""]))
    assert back.status_code == 302 and back["Location"] == reverse("portal:wallet_deposit", args=[deposit.code])
    waiting = http.get(reverse("portal:wallet_deposit_status", args=[deposit.code])).content.decode()
    assert 'hx-trigger="every 2s"' in waiting
    _deliver(hooks, deposit)
    done = http.get(reverse("portal:wallet_deposit_status", args=[deposit.code])).content.decode()
    assert "hx-get" not in done and "120.00" in done and 'data-status="succeeded"' in done
    wallet = http.get(reverse("portal:wallet")).content.decode()
    assert "120.00" in wallet and str(deposit.code) in wallet


def test_another_client_sees_404_for_a_deposit_not_theirs(pay_setup, http, register, brand):
    other = deposit_create(client=pay_setup.client, amount=Money("50", "USD"), method="card", return_url="")
    response = register(brand, email="omar.k@example.com", first_name="Omar", phone="+442071838112")
    assert response.status_code == 302
    sign_in(http, brand, email="omar.k@example.com")
    for name in ("portal:wallet_deposit", "portal:wallet_deposit_status"):
        assert http.get(reverse(name, args=[other.code])).status_code == 404
    assert http.post(reverse("portal:wallet_deposit_cancel", args=[other.code])).status_code == 404
    assert http.get(reverse("portal:wallet_deposit", args=["not-a-code"])).status_code == 404
    other.refresh_from_db()
    assert other.status == DepositStatus.PENDING


def test_the_owner_cancels_an_open_deposit(pay_setup, http):
    deposit = deposit_create(client=pay_setup.client, amount=Money("50", "USD"), method="card", return_url="")
    sign_in(http, pay_setup.brand)
    http.post(reverse("portal:wallet_deposit_cancel", args=[deposit.code]))
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.CANCELLED


def test_portal_wallet_pages_need_a_client_login(db):
    response = HttpClient().get(reverse("portal:wallet"))
    assert response.status_code == 302 and "/portal/" in response["Location"]


def test_finance_sees_the_deposits_list_and_the_wallet_tab_and_an_agent_does_not(pay_setup, hooks, login_verified):
    deposit = deposit_create(client=pay_setup.client, amount=Money("1500", "USD"), method="card", return_url="")
    checkout(deposit.redirect_url, {"card_number": "4242424242424242"})
    _deliver(hooks, deposit)
    finance = make_user(role_code=RoleCode.FINANCE, brand=pay_setup.brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=pay_setup.brand)
    staff = HttpClient()
    login_verified(staff, finance)

    listing = staff.get(reverse("wallet_deposit_list"), {"status": "succeeded", "provider": "psp-sim"})
    assert listing.status_code == 200 and str(deposit.code) in listing.content.decode()
    assert "1,500.00\u00a0USD" in listing.content.decode()  # grouped, and never split from its code
    assert str(deposit.code) not in staff.get(reverse("wallet_deposit_list"), {"status": "failed"}).content.decode()
    assert staff.get(reverse("wallet_deposit_list"), {"from": "yesterday"}).status_code == 400
    tab = staff.get(reverse("client_detail", args=[pay_setup.client.code]), {"tab": "wallet"}).content.decode()
    assert "1,500.00\u00a0USD" in tab and str(deposit.code) in tab
    # The deposit's method and the statement's movements by name, not by their codes.
    assert "<td>Card</td>" in tab and "<td>Deposit</td>" in tab and "<td>card</td>" not in tab

    colleague = HttpClient()
    colleague.force_login(agent)
    assert colleague.get(reverse("wallet_deposit_list")).status_code == 404
    assert "data-wallet-balance" not in colleague.get(reverse("client_detail", args=[pay_setup.client.code]),
                                                      {"tab": "wallet"}).content.decode()
    elsewhere = HttpClient()
    login_verified(elsewhere, make_user(role_code=RoleCode.FINANCE, brand=make_brand()))
    assert str(deposit.code) not in elsewhere.get(reverse("wallet_deposit_list")).content.decode()


def test_finance_refunds_part_of_a_card_deposit_from_its_page_and_no_more_than_is_left(
        pay_setup, hooks, login_verified):
    deposit = deposit_create(client=pay_setup.client, amount=Money("1500", "USD"), method="card", return_url="")
    checkout(deposit.redirect_url, {"card_number": "4242424242424242"})
    _deliver(hooks, deposit)
    staff = HttpClient()
    login_verified(staff, make_user(role_code=RoleCode.FINANCE, brand=pay_setup.brand))
    page_url = reverse("wallet_deposit_detail", args=[deposit.code])
    refund_url = reverse("wallet_deposit_refund", args=[deposit.code])

    page = staff.get(page_url).content.decode()
    assert f'action="{refund_url}"' in page and "at most 1,500.00\u00a0USD is left to refund" in page
    assert page_url in staff.get(reverse("wallet_deposit_list")).content.decode()

    done = staff.post(refund_url, {"amount": "1000.50", "reason": "Client asked for part back"})
    assert done.status_code == 302 and done["Location"] == page_url
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.PARTIALLY_REFUNDED and deposit.refunded == Decimal("1000.50")
    assert available(wallet_account_for(client=pay_setup.client, currency="USD")) == Money("499.50", "USD")
    after = staff.get(page_url).content.decode()
    assert "Refunded 1,000.50\u00a0USD to the client" in after and "Client asked for part back" in after
    assert "at most 499.50\u00a0USD is left to refund" in after
    assert AuditLog.objects.filter(action="wallet.deposit_refunded").count() == 1

    too_much = staff.post(refund_url, {"amount": "500", "reason": "The rest and more"})
    assert too_much.status_code == 400
    assert "Enter an amount above zero and at most 499.50" in too_much.content.decode()
    unparsable = staff.post(refund_url, {"amount": "lots", "reason": "x"})
    no_reason = staff.post(refund_url, {"amount": "10", "reason": ""})
    assert unparsable.status_code == no_reason.status_code == 400
    assert "Enter an amount" in unparsable.content.decode()
    assert "This field is required" in no_reason.content.decode()
    deposit.refresh_from_db()
    assert deposit.refunded == Decimal("1000.50") and deposit.refunds.count() == 1


def test_the_refund_action_is_404_to_staff_who_may_not_refund_or_not_see_the_deposit(pay_setup, hooks, login_verified):
    deposit = deposit_create(client=pay_setup.client, amount=Money("100", "USD"), method="card", return_url="")
    checkout(deposit.redirect_url, {"card_number": "4242424242424242"})
    _deliver(hooks, deposit)
    refund_url = reverse("wallet_deposit_refund", args=[deposit.code])
    agent = HttpClient()
    agent.force_login(make_user(role_code=RoleCode.SALES_AGENT, brand=pay_setup.brand))
    elsewhere = HttpClient()
    login_verified(elsewhere, make_user(role_code=RoleCode.FINANCE, brand=make_brand()))
    for staff in (agent, elsewhere):
        assert staff.get(reverse("wallet_deposit_detail", args=[deposit.code])).status_code == 404
        assert staff.post(refund_url, {"amount": "10", "reason": "no"}).status_code == 404
    deposit.refresh_from_db()
    assert deposit.refunded == 0 and not deposit.refunds.exists()
