# ruff: noqa: F811 - the portal tests' fixtures are imported as fixtures, then named as arguments
"""The deposit's page once the provider has decided (issue 58, items 5 and 6): "Cancel this deposit" is in
the part the page polls, so it goes when the deposit is paid; the fee and the amount credited are on the
deposit's page (the receipt) and in the form before the client goes to pay."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

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
from tests.wallet.test_deposits_pages import _deliver
from wallet.models import Deposit
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save


@pytest.fixture
def card_with_fee(registered, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    method = payment_method_save(brand=registered.brand, method="card", direction="deposit", provider=provider,
                                 currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("0.30"),
                                                          Decimal("2.8"))])
    registered.method = method
    return registered


def test_the_fee_is_shown_before_paying_and_cancel_goes_once_the_deposit_is_paid(card_with_fee, http, hooks):
    sign_in(http, card_with_fee.brand)
    form = http.get(reverse("portal:wallet_deposit_new")).content.decode()
    assert "fee 2.8% + 0.30" in form  # the method's fee, beside its name
    quote = http.get(reverse("portal:wallet_deposit_quote"), {"currency": "USD", "amount": "1500",
                                                             "method": str(card_with_fee.method.code)}).content.decode()
    assert 'data-fee="42.30"' in quote and 'data-net="1457.70"' in quote and "Credited to your wallet" in quote
    http.post(reverse("portal:wallet_deposit_new"), {"action": "pay", "currency": "USD", "amount": "1500",
                                                      "method": str(card_with_fee.method.code)})
    deposit = Deposit.objects.get()
    status_url = reverse("portal:wallet_deposit_status", args=[deposit.code])
    opened = http.get(status_url).content.decode()
    assert "Cancel this deposit" in opened and "To be credited to your wallet" in opened  # open: polled

    checkout(deposit.redirect_url, {"card_number": "4242424242424242"})
    _deliver(hooks, deposit)
    polled = http.get(status_url).content.decode()
    assert 'data-status="succeeded"' in polled and "Cancel this deposit" not in polled
    # The receipt is in the polled part: a page opened before the payment says "credited" once paid.
    assert "Credited to your wallet" in polled and "To be credited" not in polled
    receipt = http.get(reverse("portal:wallet_deposit", args=[deposit.code])).content.decode()
    assert "Cancel this deposit" not in receipt
    facts = receipt.split('id="deposit-receipt"', 1)[1].split("</dl>", 1)[0]
    assert "1,500.00" in facts and "42.30" in facts and "1,457.70" in facts


def test_the_deposit_form_opens_in_the_brands_currency_not_the_first_in_the_alphabet(card_with_fee, http):
    wire = payment_provider_save(code="wire-eur", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Test Brokerage Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N",
        "bank_name": "Test Bank", "bank_address": "1 Test Street"})
    payment_method_save(brand=card_with_fee.brand, method="bank_wire", direction="deposit", provider=wire,
                        currencies=[CurrencyRule("EUR", Decimal("100"), None)], order=20)
    assert card_with_fee.brand.default_currency == "USD"
    sign_in(http, card_with_fee.brand)
    form = http.get(reverse("portal:wallet_deposit_new")).content.decode()
    assert '<option value="USD" selected>' in form and "Card (10.00" in form  # the USD card, not the EUR wire
    chosen = http.get(reverse("portal:wallet_deposit_new"), {"currency": "EUR"}).content.decode()
    assert '<option value="EUR" selected>' in chosen and "Bank wire (100.00" in chosen
