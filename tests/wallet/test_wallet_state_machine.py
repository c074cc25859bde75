"""Random sequences of what the wallet's services do (hypothesis' stateful testing): card deposits
confirmed by webhooks (repeated and reordered), refunds, chargebacks, withdrawals requested,
approved and paid or failed by the provider's notification, and transfers between the wallet and
trading accounts on the MT5 simulator, some of whose answers are lost (the operation left unknown
and resolved later). After every step the ledger's invariants are read from the database; once the
pending platform operations are settled, each account's mirror equals its balance on the platform.
Both simulators are the module's/session's processes; every example runs in a savepoint."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are redefined as test arguments

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from crm import events
from crm.exceptions import ValidationFailed
from crm.lib.errors import Conflict
from crm.lib.money import Money
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401 - fixtures
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from tests.wallet.support import checkout
from tests.wallet.withdrawal_support import CARD, build_world
from trading.models import BalanceOperation, BalanceState
from trading.services import balance_operation_resolve, balance_operation_send
from wallet.deposits import IllegalTransition, deposit_create, deposit_refund, deposit_webhook_apply
from wallet.disputes import dispute_outcome_record
from wallet.ledger import (
    available,
    balance,
    client_debt_account_for,
    ledger_verify,
    mirror_account_for,
    wallet_account_for,
)
from wallet.models import (
    Deposit,
    DepositStatus,
    Dispute,
    Transfer,
    TransferState,
    Withdrawal,
    WithdrawalState,
)
from wallet.provider_services import CurrencyRule, payment_method_save
from wallet.providers.base import WebhookKind, WebhookMessage
from wallet.transfers import TransferRefused, transfer_request
from wallet.withdrawals import (
    WithdrawalBlocked,
    withdrawal_approve,
    withdrawal_payout_send,
    withdrawal_request,
    withdrawal_webhook,
)

USD = "USD"
whole = st.integers(min_value=10, max_value=900)  # USD, whole units: within every method's limits
RETURN = "https://crm.example.com/portal/wallet/deposit/return/"
LOST_ANSWER = {"type": "timeout_after_apply", "path": "/api/trade/balance", "mode": "drop", "count": 1}


def usd(value: Any) -> Money:
    return Money(Decimal(value), USD)


class WalletMachine(RuleBasedStateMachine):
    w: Any = None  # the test's world: brand, client (KYC approved), provider, methods, MT5 server

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.events = itertools.count(1)
        self.client = self.w.client
        self.wallet = wallet_account_for(client=self.client, currency=USD)
        self.deposits: list[Deposit] = []
        self.withdrawals: list[Withdrawal] = []
        self.accounts: list[Any] = []
        self.charged_back = Decimal(0)  # total taken back from the client (wallet and debt together)
        self.charged_back_deposit = False

    def teardown(self) -> None:
        self.w.sim.control("/_sim/faults/clear", {})
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -----------------------------------------------------------------------------------

    def message(
        self,
        kind: WebhookKind,
        deposit: Deposit,
        *,
        sequence: int,
        amount: Money | None = None,
        event_id: str = "",
    ) -> WebhookMessage:
        return WebhookMessage(
            kind=kind,
            event_id=event_id or f"evt-{next(self.events)}-{uuid.uuid4().hex[:6]}",
            provider_ref=deposit.provider_ref or "",
            merchant_ref=deposit.merchant_ref,
            amount=amount if amount is not None else deposit.money,
            fee=None,
            occurred_at=timezone.now(),
            sequence=sequence,
        )

    def snapshot(self) -> tuple[Money, Money]:
        return balance(self.wallet), available(self.wallet)

    def pending_operations(self) -> list[BalanceOperation]:
        return list(BalanceOperation.objects.filter(account__in=self.accounts, state=BalanceState.PENDING))

    def unknown_operations(self) -> list[BalanceOperation]:
        return list(BalanceOperation.objects.filter(account__in=self.accounts, state=BalanceState.UNKNOWN))

    # --- deposits --------------------------------------------------------------------------------

    @initialize()
    def open_two_accounts(self) -> None:
        self.accounts = [open_account(self.w, deposit=None) for _ in range(2)]

    @rule(amount=whole)
    def deposit_paid(self, amount: int) -> None:
        """A card deposit paid on the provider's page and confirmed by its notification."""
        before = self.snapshot()
        made = deposit_create(client=self.client, amount=usd(amount), method="card", return_url=RETURN)
        assert made.status == DepositStatus.PENDING and made.redirect_url
        status, location, _page = checkout(made.redirect_url, {"card_number": CARD["card"]})
        assert status == 303 and "status=succeeded" in location, (status, location)
        made.refresh_from_db()
        assert deposit_webhook_apply(
            self.w.provider, self.message(WebhookKind.DEPOSIT_SUCCEEDED, made, sequence=2), None
        )
        made.refresh_from_db()
        assert made.status == DepositStatus.SUCCEEDED
        assert self.snapshot() == (before[0] + made.credited, before[1] + made.credited)
        self.deposits.append(made)

    @precondition(lambda self: self.deposits)
    @rule(data=st.data(), kind=st.sampled_from(["repeat", "older_pending", "older_failed"]))
    def webhook_again(self, data: st.DataObject, kind: str) -> None:
        """The provider repeats its notification, or an older one arrives late: nothing changes."""
        made = data.draw(st.sampled_from(self.deposits))
        made.refresh_from_db()
        status, before = made.status, self.snapshot()
        if kind == "repeat":
            message = self.message(WebhookKind.DEPOSIT_SUCCEEDED, made, sequence=2)
        else:
            message = self.message(
                WebhookKind.DEPOSIT_PENDING if kind == "older_pending" else WebhookKind.DEPOSIT_FAILED,
                made,
                sequence=1,
            )
        assert deposit_webhook_apply(self.w.provider, message, None)
        made.refresh_from_db()
        assert made.status == status and self.snapshot() == before

    @precondition(lambda self: self.deposits)
    @rule(data=st.data(), part=st.sampled_from(["all", "some"]))
    def refund(self, data: st.DataObject, part: str) -> None:
        made = data.draw(st.sampled_from(self.deposits))
        made.refresh_from_db()
        left = made.money - made.refunded_money
        amount = left if part == "all" else usd(max(1, int(left.amount) // 2))
        before = self.snapshot()
        try:
            refund = deposit_refund(deposit=made, amount=amount, actor=self.w.finance, reason="client asked")
        except IllegalTransition:  # charged back or refunded already
            assert made.status not in (DepositStatus.SUCCEEDED, DepositStatus.PARTIALLY_REFUNDED)
            assert self.snapshot() == before
            return
        except ValidationFailed:  # the money was spent
            assert self.snapshot() == before
            return
        made.refresh_from_db()
        if refund.status == "succeeded":
            debit = made.credited if (amount == made.money and made.refunded_money == amount) else amount
            assert self.snapshot() == (before[0] - debit, before[1] - debit)
        else:
            assert self.snapshot() == before

    @precondition(lambda self: self.deposits)
    @rule(data=st.data(), again=st.booleans())
    def chargeback(self, data: st.DataObject, again: bool) -> None:
        """The card's bank takes the payment back, whatever the client has left; a repeat does nothing."""
        made = data.draw(st.sampled_from(self.deposits))
        made.refresh_from_db()
        if made.status not in (DepositStatus.SUCCEEDED, DepositStatus.PARTIALLY_REFUNDED):
            return
        debt = client_debt_account_for(client=self.client, currency=USD)
        before, owed = self.snapshot(), balance(debt)
        message = self.message(WebhookKind.CHARGEBACK, made, sequence=0)
        for _ in range(2 if again else 1):
            assert deposit_webhook_apply(self.w.provider, message, None)
        # The chargeback opened a dispute (the amount held meanwhile): finance loses it, the wallet is debited.
        dispute_outcome_record(dispute=Dispute.objects.get(deposit=made), outcome="lost", note="", actor=None)
        made.refresh_from_db()
        assert made.status == DepositStatus.CHARGED_BACK
        self.charged_back_deposit = True  # from now on the client's withdrawals are held (issue 60)
        after = self.snapshot()
        taken = (before[0] - after[0]).amount
        assert after[0] - after[1] == before[0] - before[1]  # what is held for withdrawals stays held
        shortfall = (balance(debt) - owed).amount.copy_abs()
        assert taken + shortfall > 0 and taken <= before[1].amount
        if shortfall:
            assert after[1].amount == 0  # debt only once the available money is gone

    # --- withdrawals --------------------------------------------------------------------------------

    @rule(amount=whole)
    def withdraw(self, amount: int) -> None:
        before = self.snapshot()
        try:
            made = withdrawal_request(
                client=self.client, amount=usd(amount), method=self.w.card, destination=CARD
            )
        except WithdrawalBlocked as blocked:
            codes = {b.code for b in blocked.blockers}
            assert codes, blocked
            if before[1].amount < amount:
                assert "insufficient_funds" in codes
            assert self.snapshot() == before
            return
        assert before[1].amount >= amount
        assert self.snapshot() == (before[0], before[1] - usd(amount))  # held, not moved
        self.withdrawals.append(made)

    @precondition(lambda self: any(w.state == WithdrawalState.REQUESTED for w in self.withdrawals))
    @rule(data=st.data(), paid=st.booleans(), repeat=st.booleans())
    def approve_and_pay(self, data: st.DataObject, paid: bool, repeat: bool) -> None:
        """Finance approves; the payout goes to the provider, whose notification says paid or failed."""
        made = data.draw(
            st.sampled_from([w for w in self.withdrawals if w.state == WithdrawalState.REQUESTED])
        )
        before = self.snapshot()
        if self.charged_back_deposit:
            # A deposit charged back holds the client's withdrawals: finance's approval is refused and
            # nothing moves (the hold's own journeys: tests/compliance/test_withdrawal_holds.py).
            with pytest.raises(Conflict) as held:
                withdrawal_approve(withdrawal=made, actor=self.w.finance)
            assert held.value.code == "withdrawal_held" and self.snapshot() == before
            return
        made = withdrawal_approve(withdrawal=made, actor=self.w.finance)
        assert made.state == WithdrawalState.APPROVED and self.snapshot() == before
        made = withdrawal_payout_send(withdrawal_id=made.pk)
        assert made.state == WithdrawalState.PROCESSING
        message = WebhookMessage(
            kind=WebhookKind.PAYOUT_SUCCEEDED if paid else WebhookKind.PAYOUT_FAILED,
            event_id=f"evt-po-{made.merchant_ref}",
            provider_ref=made.provider_ref,
            merchant_ref=made.merchant_ref,
            amount=made.money - made.fee_money,
            fee=None,
            occurred_at=timezone.now(),
            sequence=1,
        )
        for _ in range(2 if repeat else 1):
            assert withdrawal_webhook(self.w.provider, message, None)
        made.refresh_from_db()
        if paid:
            assert made.state == WithdrawalState.PAID
            assert self.snapshot() == (before[0] - made.money, before[1])
        else:
            assert made.state == WithdrawalState.FAILED
            assert self.snapshot() == (before[0], before[1] + made.money)
        self.withdrawals = [made if w.pk == made.pk else w for w in self.withdrawals]

    # --- transfers ------------------------------------------------------------------------------------

    @rule(index=st.integers(0, 1), amount=whole, direction=st.sampled_from(["in", "out"]), lost=st.booleans())
    def transfer(self, index: int, amount: int, direction: str, lost: bool) -> None:
        """Wallet -> account or account -> wallet; the platform applies it, perhaps losing its answer."""
        account = self.accounts[index]
        source, target = (None, account) if direction == "in" else (account, None)
        before = self.snapshot()
        try:
            t = transfer_request(
                actor=None,
                client=self.client,
                source=source,
                target=target,
                amount=usd(amount),
                key=f"sm:{uuid.uuid4()}",
            )
        except TransferRefused as refused:
            assert refused.code in {
                "insufficient_funds",
                "transfer_above_free_margin",
                "balance_operation_unknown",
            }
            if direction == "in" and refused.code == "insufficient_funds":
                assert before[1].amount < amount
            assert self.snapshot() == before
            return
        if direction == "in":
            assert self.snapshot() == (before[0], before[1] - usd(amount))
        if lost:
            self.w.sim.faults(LOST_ANSWER)
        self.send_pending()
        t.refresh_from_db()
        if lost and t.state == TransferState.UNKNOWN:
            return  # resolved by `resolve_unknown` or at the end
        if direction == "out" and t.state == TransferState.FAILED:  # the platform had not that much
            assert "Not enough money" in t.reason and self.snapshot() == before
        else:
            assert t.state == TransferState.COMPLETED, (t.state, t.reason)
        self.w.sim.control("/_sim/faults/clear", {})

    @precondition(lambda self: self.accounts)
    @rule()
    def resolve_unknown(self) -> None:
        self.w.sim.control("/_sim/faults/clear", {})
        for op in self.unknown_operations():
            balance_operation_resolve(operation_id=op.pk)
            events.dispatch_pending()
        self.send_pending()

    def send_pending(self) -> None:
        """What the worker does after commit: send the operations, deliver the events."""
        while pending := self.pending_operations():
            balance_operation_send(operation_id=pending[0].pk)
            events.dispatch_pending()

    # --- invariants ------------------------------------------------------------------------------------

    @invariant()
    def ledger_holds_together(self) -> None:
        assert ledger_verify() == {}
        with connection.cursor() as cursor:
            cursor.execute("""SELECT t.id, l.currency, SUM(l.amount) FROM wallet_ledgerleg l
                              JOIN wallet_ledgertransaction t ON t.id = l.transaction_id
                              GROUP BY t.id, l.currency HAVING SUM(l.amount) <> 0""")
            assert cursor.fetchall() == []
            cursor.execute(
                "SELECT currency, SUM(amount) FROM wallet_ledgerleg GROUP BY currency HAVING SUM(amount) <> 0"
            )
            assert cursor.fetchall() == []
            cursor.execute("""SELECT b.account_id FROM wallet_ledgerbalance b
                              WHERE b.balance <> COALESCE((SELECT SUM(amount) FROM wallet_ledgerleg
                                                           WHERE account_id = b.account_id), 0)
                                 OR b.held <> COALESCE((SELECT SUM(amount) FROM wallet_ledgerhold
                                                        WHERE account_id = b.account_id AND state = 'held'), 0)
                                 OR b.available <> b.balance - b.held""")
            assert cursor.fetchall() == []
            cursor.execute("""SELECT b.account_id FROM wallet_ledgerbalance b
                              JOIN wallet_ledgeraccount a ON a.id = b.account_id
                              WHERE a.kind = 'client_wallet' AND (b.balance < 0 OR b.available < 0)""")
            assert cursor.fetchall() == []
            # A client owes money only through a chargeback's shortfall.
            cursor.execute("""SELECT l.id FROM wallet_ledgerleg l JOIN wallet_ledgeraccount a ON a.id = l.account_id
                              JOIN wallet_ledgertransaction t ON t.id = l.transaction_id
                              WHERE a.kind = 'client_debt' AND t.kind <> 'chargeback'""")
            assert cursor.fetchall() == []

    @invariant()
    def mirrors_equal_the_platform_once_settled(self) -> None:
        if not self.accounts or self.unknown_operations() or self.pending_operations():
            return
        if (
            Transfer.objects.filter(client=self.client)
            .exclude(state__in=[TransferState.COMPLETED, TransferState.FAILED])
            .exists()
        ):
            return
        truth = {row["Login"]: Decimal(row["Balance"]) for row in self.w.sim.truth()["accounts"]}
        for account in self.accounts:
            mirror = balance(mirror_account_for(trading_account=account)).amount
            assert mirror == truth[str(account.login)], (account.login, mirror, truth[str(account.login)])


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


def test_random_sequences_of_wallet_operations_keep_the_books(world, psp):
    w = build_world(base_url=psp.base_url, brand=world.brand, client=world.client, fund=None)
    payment_method_save(
        brand=w.brand,
        method="card",
        direction="deposit",
        provider=w.provider,
        order=10,
        currencies=[CurrencyRule(USD, Decimal("10"), Decimal("5000"), Decimal("1.50"))],
    )
    w.server, w.sim = world.server, world.sim
    WalletMachine.w = w
    try:
        run_state_machine_as_test(
            WalletMachine,
            settings=settings(
                max_examples=15,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        WalletMachine.w = None
