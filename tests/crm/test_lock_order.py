# ruff: noqa: F811 - the portal tests' fixtures are imported as fixtures, then named as arguments
"""The CRM's lock order (crm.models.locks) on the shapes that meet on one client: a KYC change (the daily
expiry), a withdrawal request and a portal login at once; and the row locks of a client's money
and KYC flows, which name their own rows only.

A withdrawal request takes the client's row before it reads the verification, so one made while
the client's verification expires waits for the expiry and is refused, instead of holding money
for a client who is no longer verified; the login locks its own row only and does not wait."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.lib.money import Money
from crm.models import RoleCode
from tests.concurrency import blocked_backends, in_thread
from tests.factories import make_user
from tests.portal.conftest import (  # noqa: F401
    PASSWORD,
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    registered,
)
from tests.waiting import wait_until
from tests.wallet.withdrawal_support import build_world, kyc_approve
from wallet.ledger import available, wallet_account_for
from wallet.models import Withdrawal

FAR = dt.date.today() + dt.timedelta(days=5 * 365)  # past the test passport's expiry (3 years)


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"




@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_request_and_a_login_beside_a_kyc_expiry_of_the_same_client_do_not_deadlock(registered, ip):
    from kyc.services import kyc_expiry_run
    from wallet.withdrawals import WithdrawalBlocked, withdrawal_request

    with transaction.atomic():  # approved before the checks' task (eager here) runs after commit
        kyc_approve(registered.client)
    world = build_world(brand=registered.brand, client=registered.client, approve_kyc=False)  # 1,000.00 USD
    client = world.client
    expired = threading.Event()
    expiry_committed: list[float] = []
    login_done: list[tuple[int, float]] = []
    refused: list[WithdrawalBlocked] = []
    errors: list[BaseException] = []

    def expiry() -> None:
        # The daily job's transaction for this client, kept open until the others have run into it.
        with transaction.atomic():
            assert kyc_expiry_run(today=FAR).expired == 1
            expired.set()
            wait_until(lambda: login_done and blocked_backends(), timeout=60,
                       what="the login to finish and the withdrawal to wait for the client's row")
        expiry_committed.append(time.monotonic())

    def login() -> None:
        expired.wait(timeout=60)
        response = HttpClient(raise_request_exception=False, REMOTE_ADDR=ip).post(
            reverse("portal:login_brand", args=[registered.brand.code]),
            {"email": registered.login.email, "password": PASSWORD})
        login_done.append((response.status_code, time.monotonic()))

    def withdraw() -> None:
        expired.wait(timeout=60)
        try:
            withdrawal_request(client=client, amount=Money("100.00", "USD"), method=world.card,
                               destination={"card": "4242424242424242"})
        except WithdrawalBlocked as blocked:
            refused.append(blocked)

    threads = [in_thread(expiry, errors), in_thread(login, errors), in_thread(withdraw, errors)]
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread is still waiting: the shapes deadlocked"
    assert not errors, errors  # none was a deadlock's victim

    [(status, signed_in_at)] = login_done
    assert status == 302 and signed_in_at < expiry_committed[0]  # the login did not wait for the expiry
    # The request waited for the expiry and then saw the client unverified: refused, nothing held.
    [blocked] = refused
    assert {b.code for b in blocked.blockers} & {"kyc_not_approved", "kyc_expired"}, blocked.blockers
    assert not Withdrawal.objects.filter(client=client).exists()
    assert available(wallet_account_for(client=client, currency="USD")) == Money("1000.00", "USD")


def _locking(queries: list[dict[str, str]]) -> list[str]:
    return [q["sql"] for q in queries if " FOR UPDATE" in q["sql"] or " FOR NO KEY UPDATE" in q["sql"]]


def _locked_tables(sql: str) -> set[str]:
    """The tables whose rows a locking SELECT locks: those named after OF, else every table it reads."""
    clause = sql.rsplit(" FOR ", 1)[1]
    if " OF " in clause:
        return {name.strip().strip('"') for name in clause.split(" OF ", 1)[1].split(" SKIP")[0].split(",")}
    tables = [sql.split(" FROM ", 1)[1].split()[0]] + [part.split()[0] for part in sql.split(" JOIN ")[1:]]
    return {name.strip('"') for name in tables}


@pytest.mark.django_db
def test_the_row_locks_of_a_clients_kyc_deposit_and_withdrawal_name_their_own_rows_only(registered):
    """FOR UPDATE over a join locks every joined row: the client, its brand, the payment provider.
    Each locking statement of these flows that joins says which rows it locks (OF), and none locks
    the brand's or the provider's row, which every other client's work shares."""
    from kyc.services import kyc_expiry_run
    from wallet.demo import demo_wire_deposit, demo_wire_methods, demo_wire_provider
    from wallet.models import Direction, PaymentMethod
    from wallet.withdrawals import (
        withdrawal_approve,
        withdrawal_mark_paid,
        withdrawal_payout_send,
        withdrawal_request,
    )

    client = registered.client
    wire = demo_wire_provider()
    demo_wire_methods(brand=registered.brand, wire=wire)
    kyc_approve(client)
    finance = make_user(role_code=RoleCode.FINANCE, brand=registered.brand)
    method = PaymentMethod.objects.get(brand=registered.brand, method="bank_wire", direction=Direction.WITHDRAWAL)

    with CaptureQueriesContext(connection) as queries:
        demo_wire_deposit(provider=wire, client=client, amount=Money("2500", "USD"),
                          at=dt.datetime.now(dt.UTC), n=0)
        w = withdrawal_request(client=client, amount=Money(Decimal("400"), "USD"), method=method,
                               destination={"bank_wire": "GB82 WEST 1234 5698 7654 32"})
        if w.state == "requested":
            w = withdrawal_approve(withdrawal=w, actor=finance)
        w = withdrawal_payout_send(withdrawal_id=w.pk)
        withdrawal_mark_paid(withdrawal=w, actor=finance, bank_reference="BANK-REF-1")
        assert kyc_expiry_run(today=FAR).expired == 1

    locking = _locking(queries.captured_queries)
    assert len(locking) >= 6, locking  # the flows above still lock their rows
    unnamed = [sql for sql in locking if " JOIN " in sql and " OF " not in sql.rsplit(" FOR ", 1)[1]]
    assert not unnamed, unnamed
    shared = [sql for sql in locking if _locked_tables(sql) & {"crm_brand", "wallet_paymentprovider"}]
    assert not shared, shared
    # The client's row is locked as the order's second step: FOR NO KEY UPDATE, so that the events and
    # rows these flows insert for the client never wait on it.
    client_locks = [sql for sql in locking if "crm_client" in _locked_tables(sql)]
    assert client_locks and all(" FOR NO KEY UPDATE" in sql for sql in client_locks), client_locks
    assert Withdrawal.objects.get(pk=w.pk).state == "paid"
