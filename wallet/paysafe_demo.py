"""The demo brands' Paysafe: the provider pointed at the Paysafe simulator
(wallet.paysafe_simulator) with its credentials, its webhooks sent to the CRM's webhook address,
and Skrill and Neteller deposits and withdrawals in USD and EUR routed to it for every active brand
(``manage.py wallet_paysafe_demo_setup``, which ``make run`` calls once the simulator listens)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm.models import Brand
from wallet.models import PaymentProvider
from wallet.provider_selectors import provider_webhook_url
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.simulator_setup import simulator_control

PAYSAFE_CODE = "paysafe"
# What the demo brands take and pay by e-wallet through Paysafe, per currency: from 10 to 10,000, no fee.
EWALLET_CURRENCIES = [CurrencyRule(c, Decimal("10"), Decimal("10000")) for c in ("USD", "EUR")]


def paysafe_demo_configure(*, base_url: str, api_user: str, api_password: str, hmac_key: str,
                           actor: Any = None) -> PaymentProvider:
    """Save the demo's Paysafe provider (again: idempotent) and give every active brand Skrill and
    Neteller deposits and withdrawals through it (the client picks one on the deposit page).
    ``base_url`` is the API's (``.../paymenthub/v1``)."""
    provider = payment_provider_save(
        code=PAYSAFE_CODE, name="Paysafe (Skrill, Neteller)", kind="paysafe", base_url=base_url, api_key=api_user,
        api_secret=api_password, webhook_secret=hmac_key,
        settings={"environment": "sandbox"}, actor=actor)
    for brand in Brand.objects.filter(is_active=True):
        for order, (method, label) in enumerate((("skrill", "Skrill"), ("neteller", "Neteller")), start=6):
            for direction in ("deposit", "withdrawal"):
                payment_method_save(brand=brand, method=method, direction=direction, provider=provider,
                                    currencies=EWALLET_CURRENCIES, label=label, order=order, actor=actor)
    return provider


def paysafe_simulator_point(*, sim_url: str, control_token: str, provider: PaymentProvider) -> str:
    """Tell the simulator where its webhooks go (what a merchant sets in Paysafe's Business Portal):
    the provider's webhook address. Returns it."""
    url = provider_webhook_url(provider)
    simulator_control(sim_url, "/_sim/config", {"webhook_url": url}, control_token=control_token)
    return url
