"""The demo brands' Praxis Cashier: the provider pointed at the Praxis simulator
(wallet.praxis_simulator) with its credentials, and card deposits in USD and EUR routed to it for
every active brand (``manage.py wallet_praxis_demo_setup``, which ``make run`` calls once the
simulator listens)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm.models import Brand
from wallet.models import PaymentProvider
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

PRAXIS_CODE = "praxis"
# What the demo brands take by card through Praxis, per currency: from 10 to 20,000, no fee.
CARD_CURRENCIES = [CurrencyRule(c, Decimal("10"), Decimal("20000")) for c in ("USD", "EUR")]


def praxis_demo_configure(*, base_url: str, merchant_id: str, application_key: str, merchant_secret: str,
                          actor: Any = None) -> PaymentProvider:
    """Save the demo's Praxis provider (again: idempotent) and give every active brand card
    deposits through it. Returns the provider."""
    provider = payment_provider_save(
        code=PRAXIS_CODE, name="Praxis Cashier", kind="praxis", base_url=base_url, api_key=merchant_id,
        api_secret=merchant_secret, settings={"application_key": application_key, "environment": "sandbox",
                                              "payment_methods": {"card": "Credit Card"}}, actor=actor)
    for brand in Brand.objects.filter(is_active=True):
        payment_method_save(brand=brand, method="card", direction="deposit", provider=provider,
                            currencies=CARD_CURRENCIES, label="Card (Praxis Cashier)", order=5, actor=actor)
    return provider
