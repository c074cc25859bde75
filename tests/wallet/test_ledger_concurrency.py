"""The ledger under real concurrency: threads with connections of their own, committing for real."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from tests.factories import make_brand, make_client
from tests.waiting import scaled
from tests.wallet.ledger_support import deposit, usd
from tests.wallet.test_ledger_state import ledger_invariants_check
from wallet.ledger import (
    InsufficientFunds,
    Leg,
    balance,
    clearing_account_for,
    ledger_post,
    system_account_for,
    wallet_account_for,
)
from wallet.models import AccountKind, LedgerTransaction

pytestmark = pytest.mark.django_db(transaction=True)


def _all_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) in `count` threads released together; each result or the exception raised."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        try:
            barrier.wait(timeout=scaled(30))
            return work(index)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread met
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_simultaneous_debits_never_take_more_than_the_wallet_holds():
    client = make_client()
    wallet = wallet_account_for(client=client, currency="USD")
    bank = system_account_for(kind=AccountKind.BANK, currency="USD", brand=client.brand_id)
    deposit(wallet, usd(100))

    results = _all_at_once(50, lambda i: ledger_post(
        key=f"debit-{i}", kind="withdrawal", legs=[Leg(wallet, usd(-7)), Leg(bank, usd(7))]))

    kinds = Counter(type(result).__name__ for result in results)
    assert kinds == {"LedgerTransaction": 14, "InsufficientFunds": 36}, kinds
    assert all(r.available == usd(2) for r in results if isinstance(r, InsufficientFunds))
    assert balance(wallet) == usd(2)
    ledger_invariants_check()


def test_twenty_simultaneous_postings_of_one_key_post_once():
    client = make_client()
    wallet = wallet_account_for(client=client, currency="USD")
    clearing = clearing_account_for(provider="psp", currency="USD", brand=client.brand_id)

    results = _all_at_once(20, lambda i: ledger_post(
        key="psp-callback-77", kind="deposit", legs=[Leg(clearing, usd(-50)), Leg(wallet, usd(50))]))

    assert all(isinstance(r, LedgerTransaction) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert LedgerTransaction.objects.filter(idempotency_key="psp-callback-77").count() == 1
    assert balance(wallet) == usd(50)
    ledger_invariants_check()


def test_postings_over_the_same_accounts_in_any_order_never_deadlock():
    brand = make_brand()
    wallets = [wallet_account_for(client=make_client(brand=brand), currency="USD") for _ in range(4)]
    for wallet in wallets:
        deposit(wallet, usd(1000))
    fees = system_account_for(kind=AccountKind.FEES, currency="USD", brand=brand)

    def transfers(worker: int) -> int:
        rng = random.Random(worker)  # noqa: S311 - test data
        for n in range(10):
            source, target = rng.sample(wallets, 2)
            legs = [Leg(source, usd(-3)), Leg(target, usd(2)), Leg(fees, usd(1))]
            rng.shuffle(legs)  # each posting names its accounts in another order
            ledger_post(key=f"t-{worker}-{n}", kind="transfer", legs=legs)
        return 10

    results = _all_at_once(16, transfers)

    assert results == [10] * 16, [r for r in results if not isinstance(r, int)]
    assert balance(fees) == usd(160)
    assert sum((balance(w) for w in wallets), usd(0)) == usd(4000 - 160)
    ledger_invariants_check()
