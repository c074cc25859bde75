"""The reconciliation tests' world, built through the services: a brand with a provider (its card
deposits), a finance officer and an agent, a client's wallet; provider movements posted as the deposit and withdrawal
code posts them; settlement files written as the PSP simulator writes them; imports run by a real
RQ worker (burst) on the embedded Redis."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from crm.lib.money import Money
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user
from tests.rq import work  # noqa: F401 (the recon tests import it from here)
from wallet.ledger import Leg, clearing_account_for, ledger_post, system_account_for, wallet_account_for
from wallet.models import AccountKind, LedgerTransaction, SettlementImport
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.reconciliation import settlement_import_start

DAY = dt.date(2026, 3, 2)
HEADER = "provider_reference,merchant_reference,type,amount,currency,fee,value_date,batch_id\n"


def build_world(*, brand: Any = None, provider: Any = None) -> SimpleNamespace:
    """`provider`: one already serving another brand (shared by both brands)."""
    brand = brand or make_brand()
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Finance One")
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    provider = provider or payment_provider_save(
        code=f"psp-{uuid.uuid4().hex[:6]}", name="PSP", kind="simulator", base_url="http://127.0.0.1:9",
        api_key="k", api_secret="s", webhook_secret="w")
    payment_method_save(brand=brand, method="card", direction="deposit", provider=provider, order=10,
                        currencies=[CurrencyRule("USD", Decimal("10"))])
    client = make_client(brand=brand, email=f"c{uuid.uuid4().hex[:6]}@example.com", country="GB", stage="registered")
    return SimpleNamespace(brand=brand, finance=finance, agent=agent, provider=provider, client=client)


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def psp_deposit(world: Any, amount: str, *, ref: str = "", fee: str = "0", day: dt.date = DAY,
                currency: str = "USD") -> LedgerTransaction:
    """A card deposit as wallet.deposits posts it: the clearing account owes the amount, the wallet
    gets it less the fee, the fee account the fee; the provider's reference in the metadata."""
    money, fee_money = Money(amount, currency), Money(fee, currency)
    clearing = clearing_account_for(provider=world.provider.code, currency=currency, brand=world.brand.pk)
    wallet = wallet_account_for(client=world.client, currency=currency)
    legs = [Leg(clearing, -money), Leg(wallet, money - fee_money)]
    if fee_money:
        legs.append(Leg(system_account_for(kind=AccountKind.FEES, currency=currency, brand=world.brand.pk), fee_money))
    meta = {"provider": world.provider.code, "method": "card"}
    if ref:
        meta["provider_ref"] = ref
    return ledger_post(key=f"test-dep:{uuid.uuid4()}", kind="deposit", legs=legs, occurred_at=_at(day), meta=meta,
                       ref_kind="deposit", ref_code=str(uuid.uuid4()))


def psp_payout(world: Any, amount: str, *, ref: str = "", fee: str = "0", day: dt.date = DAY,
               currency: str = "USD") -> LedgerTransaction:
    """A paid withdrawal as wallet.withdrawals captures it: the wallet gives the amount, the clearing
    account is owed what is paid out, the fee account the fee."""
    money, fee_money = Money(amount, currency), Money(fee, currency)
    psp_deposit(world, amount, ref=f"fund-{uuid.uuid4().hex[:8]}", day=day - dt.timedelta(days=40), currency=currency)
    clearing = clearing_account_for(provider=world.provider.code, currency=currency, brand=world.brand.pk)
    wallet = wallet_account_for(client=world.client, currency=currency)
    legs = [Leg(wallet, -money), Leg(clearing, money - fee_money)]
    if fee_money:
        legs.append(Leg(system_account_for(kind=AccountKind.FEES, currency=currency, brand=world.brand.pk), fee_money))
    meta = {"provider": world.provider.code, "method": "card"}
    if ref:
        meta["provider_ref"] = ref
    return ledger_post(key=f"test-wd:{uuid.uuid4()}", kind="withdrawal", legs=legs, occurred_at=_at(day), meta=meta,
                       ref_kind="withdrawal", ref_code=str(uuid.uuid4()))


def csv_file(*rows: tuple[Any, ...]) -> bytes:
    """A settlement file as the simulator writes it: (ref, merchant ref, type, amount, currency, fee,
    value date, batch)."""
    lines = [",".join(str(v) for v in row) for row in rows]
    return (HEADER + "\n".join(lines) + "\n").encode()


def line(ref: str, amount: str, *, fee: str = "0", kind: str = "payment", currency: str = "USD",
         day: dt.date = DAY, batch: str = "", merchant: str = "") -> tuple[Any, ...]:
    return (ref, merchant, kind, amount, currency, fee, day.isoformat(), batch)


def import_file(world: Any, capture: Any, data: bytes, name: str = "settlement.csv") -> SettlementImport:
    """Start the import as the page does, then let a worker run the job."""
    with capture(execute=True):
        imp = settlement_import_start(actor=world.finance, provider=world.provider, data=data, file_name=name)
    work()
    imp.refresh_from_db()
    return imp


def amount(value: str) -> Decimal:
    return Decimal(value)
