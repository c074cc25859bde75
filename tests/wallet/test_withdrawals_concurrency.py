"""Withdrawal requests under real concurrency: threads with connections of their own, committing."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from crm.lib.money import Money
from tests.waiting import scaled
from tests.wallet.withdrawal_support import CARD, build_world
from wallet.ledger import available, balance, ledger_verify, wallet_account_for
from wallet.models import Withdrawal
from wallet.withdrawals import withdrawal_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


def test_fifty_simultaneous_withdrawal_requests_never_hold_more_than_the_wallet_has():
    world = build_world(fund="1000.00")
    barrier = threading.Barrier(50)

    def run(index: int) -> object:
        try:
            barrier.wait(timeout=scaled(30))
            return withdrawal_request(client=world.client, amount=Money("70", "USD"), method=world.card,
                                      destination=CARD)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread met
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(run, range(50)))

    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"Withdrawal": 14, "WithdrawalBlocked": 36}, kinds
    assert all(r.code == "insufficient_funds" for r in results if not isinstance(r, Withdrawal))
    wallet = wallet_account_for(client=world.client, currency="USD")
    assert balance(wallet) == Money("1000", "USD") and available(wallet) == Money("20", "USD")
    assert Withdrawal.objects.filter(client=world.client).count() == 14
    assert ledger_verify() == {}
