# ruff: noqa: F811 - the portal tests' fixtures are imported as fixtures, then named as arguments
"""The trader's room with CoinsPaid: a crypto deposit asked for on the deposit form leads to the
deposit's own page, which shows the address to send to and the asset (no hosted page to go to)."""

from __future__ import annotations

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
from tests.wallet.connectors import CoinsPaidConnector, capture, coinspaid_session  # noqa: F401
from wallet.models import Deposit


def test_a_crypto_deposit_shows_the_address_and_the_asset(registered, http, coinspaid_session, capture, settings):
    settings.CRM_PUBLIC_URL = capture.base
    CoinsPaidConnector(coinspaid_session).methods(registered.brand)
    sign_in(http, registered.brand)
    form = http.get(reverse("portal:wallet_deposit_new")).context["form"]
    [method] = [value for value, _ in form.fields["method"].choices if value]

    sent = http.post(reverse("portal:wallet_deposit_new"), {"action": "pay", "currency": "USD", "method": method,
                                                             "amount": "150.00"})

    deposit = Deposit.objects.get()
    assert sent.status_code == 302 and sent["Location"] == reverse("portal:wallet_deposit", args=[deposit.code])
    page = http.get(sent["Location"]).content.decode()
    assert deposit.instructions["address"] in page and "data-crypto-address" in page
    assert "BTC" in page and "credited in USD" in page
