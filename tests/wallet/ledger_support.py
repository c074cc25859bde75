"""Helpers shared by the ledger's tests: accounts and postings made through wallet.ledger."""

from __future__ import annotations

import itertools
from decimal import Decimal

from crm.lib.money import Money
from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for
from wallet.models import LedgerAccount, LedgerTransaction

_keys = itertools.count(1)


def new_key(prefix: str = "test") -> str:
    return f"{prefix}-{next(_keys)}"


def usd(amount: str | int) -> Money:
    return Money(Decimal(str(amount)), "USD")


def deposit(wallet: LedgerAccount, amount: Money, *, provider: str = "testpsp", key: str | None = None) -> LedgerTransaction:
    """A deposit as the PSP flow will post it: the provider's clearing account owes, the wallet holds."""
    clearing = clearing_account_for(provider=provider, currency=amount.currency, brand=wallet.brand_id)
    return ledger_post(key=key or new_key("dep"), kind="deposit", legs=[Leg(clearing, -amount), Leg(wallet, amount)])


def funded_wallet(client, amount: Money) -> LedgerAccount:  # noqa: ANN001 - a crm Client
    wallet = wallet_account_for(client=client, currency=amount.currency)
    deposit(wallet, amount)
    return wallet
