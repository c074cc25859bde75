"""The withdrawal tests' world, built through the services: a brand with a PSP-simulator provider
and withdrawal methods, two finance officers, a finance officer of another brand, a KYC-approved
client whose wallet was funded by a card deposit as the deposit code posts it."""

from __future__ import annotations

import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from crm.lib.money import Money
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user
from tests.kyc.conftest import documents, report
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET
from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save


def kyc_approve(client: Any) -> None:
    from kyc.services import kyc_profile_save, submission_checks_record, submission_create

    kyc_profile_save(client=client, actor=None, address_line1="1 High Street", city="London", postcode="SW1A 1AA",
                     country="GB")
    submission_checks_record(submission=submission_create(client=client, documents=documents(str(client.pk))),
                             report=report())


def deposit(client: Any, amount: str, *, currency: str = "USD", method: str = "card", provider: str = "psp-sim") -> None:
    """A successful deposit as the deposit code posts it: kind "deposit", meta method and provider."""
    wallet = wallet_account_for(client=client, currency=currency)
    clearing = clearing_account_for(provider=provider, currency=currency, brand=client.brand_id)
    ledger_post(key=f"test-deposit:{uuid.uuid4()}", kind="deposit",
                legs=[Leg(clearing, -Money(amount, currency)), Leg(wallet, Money(amount, currency))],
                meta={"method": method, "provider": provider}, ref_kind="deposit", ref_code=str(uuid.uuid4()))


def build_world(*, base_url: str = "http://127.0.0.1:9", timeout_seconds: int = 3, fund: str | None = "1000.00",
                approve_kyc: bool = True, brand: Any = None, client: Any = None) -> SimpleNamespace:
    brand = brand or make_brand()
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Finance One")
    finance2 = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Finance Two")
    outsider = make_user(role_code=RoleCode.FINANCE, brand=make_brand(), full_name="Other Brand Finance")
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    provider = payment_provider_save(code=f"psp-{uuid.uuid4().hex[:6]}", name="PSP", kind="simulator",
                                     base_url=base_url, api_key=API_KEY, api_secret=API_SECRET,
                                     webhook_secret=WEBHOOK_SECRET, timeout_seconds=timeout_seconds)
    card = payment_method_save(brand=brand, method="card", direction="withdrawal", provider=provider, order=10,
                               currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("1.00"))])
    ewallet = payment_method_save(brand=brand, method="ewallet", direction="withdrawal", provider=provider, order=20,
                                  currencies=[CurrencyRule("USD", Decimal("10"))])
    client = client or make_client(brand=brand, email=f"c{uuid.uuid4().hex[:6]}@example.com", country="GB",
                                   stage="registered")
    if approve_kyc:
        kyc_approve(client)
    if fund:
        deposit(client, fund, provider=provider.code)
    return SimpleNamespace(brand=brand, finance=finance, finance2=finance2, outsider=outsider, agent=agent,
                           provider=provider, card=card, ewallet=ewallet, client=client)


CARD = {"card": "4242424242424242"}
