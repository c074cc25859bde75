"""The demo brands' CoinsPaid: the provider pointed at the CoinsPaid simulator
(wallet.coinspaid_simulator) with its credentials, its callbacks pointed at the CRM, and crypto
deposits and withdrawals in USD and EUR (paid in BTC, converted by CoinsPaid) for every active
brand (``manage.py wallet_coinspaid_demo_setup``, which ``make run`` calls once the simulator listens)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm.models import Brand
from wallet.models import PaymentProvider
from wallet.provider_selectors import provider_webhook_url
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.simulator_setup import simulator_control

COINSPAID_CODE = "coinspaid"
# What the demo brands take in crypto through CoinsPaid, per currency credited: from 20 to 50,000.
CRYPTO_CURRENCIES = [CurrencyRule(c, Decimal("20"), Decimal("50000")) for c in ("USD", "EUR")]


def coinspaid_demo_configure(*, base_url: str, api_key: str, api_secret: str, actor: Any = None) -> PaymentProvider:
    """Save the demo's CoinsPaid provider (again: idempotent) and give every active brand crypto
    deposits and withdrawals through it. Returns the provider."""
    provider = payment_provider_save(
        code=COINSPAID_CODE, name="CoinsPaid", kind="coinspaid", base_url=base_url, api_key=api_key,
        api_secret=api_secret, settings={"environment": "sandbox", "deposit_currency": "BTC", "convert": True},
        actor=actor)
    for brand in Brand.objects.filter(is_active=True):
        payment_method_save(brand=brand, method="crypto", direction="deposit", provider=provider,
                            currencies=CRYPTO_CURRENCIES, label="Bitcoin (CoinsPaid)", order=20, actor=actor)
        payment_method_save(brand=brand, method="crypto", direction="withdrawal", provider=provider,
                            currencies=CRYPTO_CURRENCIES, label="Bitcoin (CoinsPaid)", order=20, actor=actor)
    return provider


def coinspaid_simulator_point(*, sim_url: str, control_token: str, provider: PaymentProvider) -> str:
    """Set the simulator's callback URL (a merchant setting at CoinsPaid) to the CRM's webhook
    endpoint of ``provider``; returns it."""
    url = provider_webhook_url(provider)
    simulator_control(sim_url, "/_sim/settings", {"callback_url": url}, control_token=control_token)
    return url
