"""The AML tests' world, built through the services: a brand with its rules, clients whose wallets get
deposits and withdrawals posted as the wallet's deposit and withdrawal code posts them (kind, method and
provider in the metadata; the business time given), trading accounts whose deals the sync stores."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.utils import timezone

from compliance.aml import aml_evaluate, aml_rule_create
from compliance.models import AmlAlert
from crm.lib.money import Money
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user
from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for
from wallet.models import LedgerTransaction

PROVIDER = "psp-aml"


def world(**client_fields: Any) -> SimpleNamespace:
    brand = make_brand()
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Officer One")
    client = make_client(brand=brand, country=client_fields.pop("country", "GB"), stage="registered",
                         **client_fields)
    return SimpleNamespace(brand=brand, officer=officer, client=client)


def ago(days: float = 0, hours: float = 0) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days, hours=hours)


def deposit(client: Any, amount: str, *, at: dt.datetime | None = None, currency: str = "USD") -> LedgerTransaction:
    money = Money(amount, currency)
    clearing = clearing_account_for(provider=PROVIDER, currency=currency, brand=client.brand_id)
    return ledger_post(key=f"test-deposit:{uuid.uuid4()}", kind="deposit", occurred_at=at or timezone.now(),
                       legs=[Leg(clearing, -money), Leg(wallet_account_for(client=client, currency=currency), money)],
                       meta={"method": "card", "provider": PROVIDER}, ref_kind="deposit", ref_code=str(uuid.uuid4()))


def withdrawal(client: Any, amount: str, *, at: dt.datetime | None = None, currency: str = "USD") -> LedgerTransaction:
    money = Money(amount, currency)
    clearing = clearing_account_for(provider=PROVIDER, currency=currency, brand=client.brand_id)
    code = str(uuid.uuid4())
    return ledger_post(key=f"withdrawal:{code}:paid", kind="withdrawal", occurred_at=at or timezone.now(),
                       legs=[Leg(wallet_account_for(client=client, currency=currency), -money), Leg(clearing, money)],
                       meta={"method": "card", "provider": PROVIDER}, ref_kind="withdrawal", ref_code=code)


def rule(w: SimpleNamespace, kind: str, **parameters: Any) -> Any:
    return aml_rule_create(brand=w.brand, kind=kind, name=kind.replace("_", " ").title(), parameters=parameters,
                           actor=w.officer, effective_from=ago(days=400))


def run(w: SimpleNamespace, *, since: dt.datetime | None = None) -> list[AmlAlert]:
    """The rules over the last hour's postings; the new alerts."""
    report = aml_evaluate(since=since or ago(hours=1), until=timezone.now() + dt.timedelta(seconds=1),
                          brand_id=w.brand.pk)
    return list(AmlAlert.objects.filter(pk__in=report.raised).order_by("pk"))


TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "USD"}}


def trading_account(client: Any) -> Any:
    from trading.services import platform_server_save, trading_account_register

    server = platform_server_save(actor=None, manager_password="x-secret-1", brand=client.brand,
                                  name=f"MT5 {uuid.uuid4().hex[:6]}", kind="mt5_web", is_active=True,
                                  host="127.0.0.1", port=1, manager_login=1000, account_types=TYPES)
    return trading_account_register(actor=None, client=client, server=server, login=7000 + client.pk % 1000,
                                    account_type="standard")


_deal_ids = iter(range(500000, 10**7))


def trade(account: Any, lots: str, *, at: dt.datetime) -> None:
    from trading.adapters.base import Deal, DealEntry, DealKind, Side
    from trading.sync import deals_store

    deals_store(account.server, [Deal(
        deal_id=next(_deal_ids), login=account.login, time=at, platform_time_msc=int(at.timestamp() * 1000),
        kind=DealKind.TRADE, action=0, entry=DealEntry.IN, side=Side.BUY, position_id=next(_deal_ids), order_id=0,
        symbol="EURUSD", volume=Decimal(lots), price=Decimal("1.1"), profit=Decimal(0), commission=Decimal(0),
        swap=Decimal(0), fee=Decimal(0), comment="", reason=0, market_bid=None, market_ask=None, raw={})])


# --- deposits and payouts with their payer and instrument, through the wallet's services --------------

def wire_world(**client_fields: Any) -> SimpleNamespace:
    """world() whose brand takes and pays bank wires (the deposits below go through the deposit code)."""
    from wallet.demo import demo_wire_methods, demo_wire_provider

    w = world(**client_fields)
    w.wire = demo_wire_provider()
    demo_wire_methods(brand=w.brand, wire=w.wire)
    return w


_paid = iter(range(1, 10**6))


def paid(w: SimpleNamespace, client: Any, amount: str, *, at: dt.datetime | None = None, name: str = "",
         country: str = "", number: str = "", kind: str = "card", currency: str = "USD") -> LedgerTransaction:
    """A deposit asked for and confirmed by the provider's notification naming the payer and the
    instrument (its number hashed by wallet.instruments, as an adapter does); its ledger transaction."""
    from wallet.demo import demo_wire_deposit
    from wallet.instruments import payer_details

    payer = payer_details(kind=kind, name=name, country=country, number=number)
    deposit = demo_wire_deposit(provider=w.wire, client=client, amount=Money(amount, currency),
                                at=at or timezone.now(), n=next(_paid), payer=payer)
    deposit.refresh_from_db()
    assert deposit.credit_transaction is not None
    return deposit.credit_transaction


def payout(w: SimpleNamespace, client: Any, amount: str, *, iban: str, finance: Any) -> Any:
    """A wire withdrawal to `iban` asked for by the client, approved and marked paid by finance; the
    withdrawal (its capture: the ledger transaction)."""
    from tests.wallet.withdrawal_support import kyc_approve
    from wallet.models import PaymentMethod
    from wallet.withdrawals import (
        withdrawal_approve,
        withdrawal_mark_paid,
        withdrawal_payout_send,
        withdrawal_request,
    )

    if not getattr(client, "_kyc_done", False):
        kyc_approve(client)
        client._kyc_done = True
    method = PaymentMethod.objects.get(brand=w.brand, method="bank_wire", direction="withdrawal")
    wd = withdrawal_request(client=client, amount=Money(amount, "USD"), method=method,
                            destination={"bank_wire": iban})
    wd = withdrawal_approve(withdrawal=wd, actor=finance)
    wd = withdrawal_payout_send(withdrawal_id=wd.pk)  # what the queue runs after commit: a wire waits for finance
    return withdrawal_mark_paid(withdrawal=wd, actor=finance, bank_reference=f"REF-{wd.code.hex[:8]}")
