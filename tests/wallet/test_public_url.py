# ruff: noqa: F811 - the portal tests' fixtures are imported as fixtures, then named as arguments
"""A deposit started in the trader's room hands the PSP addresses on CRM_PUBLIC_URL: its signed
webhooks reach the CRM at the configured address (not a guessed port), and the client's browser
comes back there (not to the Host the deposit form was posted to)."""

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
from wallet.models import Deposit, DepositStatus
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.webhooks import webhook_receive


@pytest.fixture
def public(registered, psp, hooks, settings):
    """The CRM's configured public address is the hooks server: whatever the PSP is handed arrives there."""
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    payment_method_save(brand=registered.brand, method="card", direction="deposit", provider=provider,
                        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))])
    return settings.CRM_PUBLIC_URL


def test_the_psp_is_handed_the_configured_public_url_for_its_webhook_and_the_clients_return(
        public, registered, http, hooks):
    sign_in(http, registered.brand)
    page = http.get(reverse("portal:wallet_deposit_new"))
    method = page.context["form"].fields["method"].choices[0][0]
    http.post(reverse("portal:wallet_deposit_new"), {"action": "pay", "currency": "USD", "method": method,
                                                     "amount": "120.00"})
    deposit = Deposit.objects.get()

    status, location, _ = checkout(deposit.redirect_url, {"card_number": "4242424242424242"})

    # The browser comes back to the CRM's public address, not to the Host the form was posted to.
    assert location.startswith(public + reverse("portal:wallet_deposit_return"))
    # The signed webhook went to the configured address, on the provider's webhook path, and is taken.
    [hook] = hooks.wait_of(deposit.merchant_ref, 1)
    assert hook.path == reverse("wallet_webhook", args=["psp-sim"])
    webhook_receive(provider_code="psp-sim", headers=hook.headers, body=hook.body)
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
