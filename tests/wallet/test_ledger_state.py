"""Random sequences of postings, holds, releases, captures, reversals, conversions and chargebacks
(hypothesis' stateful testing), with the ledger's invariants checked in the database after every step
and the service's answers checked against a model of what each wallet can give."""

from __future__ import annotations

import itertools
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from crm.exceptions import Conflict
from crm.lib.money import Money
from tests.factories import make_brand, make_client
from wallet.exceptions import HoldNotOpen
from wallet.ledger import (
    AlreadyReversed,
    InsufficientFunds,
    Leg,
    clearing_account_for,
    ledger_chargeback,
    ledger_convert,
    ledger_hold,
    ledger_hold_capture,
    ledger_post,
    ledger_release,
    ledger_reverse,
    ledger_verify,
    system_account_for,
    wallet_account_for,
)
from wallet.models import AccountKind, HoldState, LedgerAccount, LedgerHold, LedgerTransaction

CURRENCIES = ("USD", "EUR", "JPY")
amounts = st.integers(min_value=1, max_value=50_000)  # minor units


def _money(units: int, currency: str) -> Money:
    return Money.from_minor(units, currency)


class LedgerMachine(RuleBasedStateMachine):
    transactions = Bundle("transactions")
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        # Each example runs in a savepoint of the test's transaction and is rolled back after it.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.keys = itertools.count(1)
        self.brand = make_brand()
        self.clients = [make_client(brand=self.brand) for _ in range(2)]
        self.available: dict[int, Decimal] = defaultdict(Decimal)  # the model: per wallet id
        self.accounts: dict[tuple[object, ...], LedgerAccount] = {}

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def key(self, prefix: str) -> str:
        return f"{prefix}-{next(self.keys)}"

    def wallet(self, client_index: int, currency: str) -> LedgerAccount:
        if ("wallet", client_index, currency) not in self.accounts:
            self.accounts["wallet", client_index, currency] = wallet_account_for(
                client=self.clients[client_index], currency=currency)
        return self.accounts["wallet", client_index, currency]

    def clearing(self, currency: str) -> LedgerAccount:
        if ("clearing", currency) not in self.accounts:
            self.accounts["clearing", currency] = clearing_account_for(provider="psp", currency=currency,
                                                                       brand=self.brand)
        return self.accounts["clearing", currency]

    def bank(self, currency: str) -> LedgerAccount:
        if ("bank", currency) not in self.accounts:
            self.accounts["bank", currency] = system_account_for(kind=AccountKind.BANK, currency=currency,
                                                                 brand=self.brand)
        return self.accounts["bank", currency]

    @initialize(target=transactions, units=amounts)
    def first_deposit(self, units: int) -> LedgerTransaction:
        return self.deposit(0, "USD", units)

    @rule(target=transactions, client_index=st.integers(0, 1), currency=st.sampled_from(CURRENCIES), units=amounts)
    def deposit(self, client_index: int, currency: str, units: int) -> LedgerTransaction:
        wallet = self.wallet(client_index, currency)
        amount = _money(units, currency)
        tx = ledger_post(key=self.key("dep"), kind="deposit", legs=[Leg(self.clearing(currency), -amount),
                                                                    Leg(wallet, amount)])
        self.available[wallet.pk] += amount.amount
        return tx

    @rule(target=transactions, client_index=st.integers(0, 1), currency=st.sampled_from(CURRENCIES), units=amounts)
    def withdraw(self, client_index: int, currency: str, units: int) -> LedgerTransaction:
        wallet = self.wallet(client_index, currency)
        amount = _money(units, currency)
        bank = self.bank(currency)
        try:
            tx = ledger_post(key=self.key("wd"), kind="withdrawal", legs=[Leg(wallet, -amount), Leg(bank, amount)])
        except InsufficientFunds as error:
            assert amount.amount > self.available[wallet.pk]
            assert error.available.amount == self.available[wallet.pk]
            return None  # type: ignore[return-value] - nothing enters the bundle
        assert amount.amount <= self.available[wallet.pk]
        self.available[wallet.pk] -= amount.amount
        return tx

    @rule(target=holds, client_index=st.integers(0, 1), currency=st.sampled_from(CURRENCIES), units=amounts)
    def hold(self, client_index: int, currency: str, units: int) -> LedgerHold | None:
        wallet = self.wallet(client_index, currency)
        amount = _money(units, currency)
        try:
            hold = ledger_hold(key=self.key("hold"), account=wallet, amount=amount)
        except InsufficientFunds:
            assert amount.amount > self.available[wallet.pk]
            return None
        self.available[wallet.pk] -= amount.amount
        return hold

    @rule(hold=holds)
    def release(self, hold: LedgerHold | None) -> None:
        if hold is None:
            return
        state = LedgerHold.objects.get(pk=hold.pk).state
        try:
            ledger_release(hold=hold)
        except HoldNotOpen:
            assert state == HoldState.CAPTURED
            return
        if state == HoldState.HELD:
            self.available[hold.account_id] += hold.amount

    @rule(target=transactions, hold=holds)
    def capture(self, hold: LedgerHold | None) -> LedgerTransaction | None:
        if hold is None:
            return None
        state = LedgerHold.objects.get(pk=hold.pk).state
        bank = self.bank(hold.currency)
        try:
            return ledger_hold_capture(hold=LedgerHold.objects.get(pk=hold.pk), key=self.key("cap"), to_account=bank)
        except HoldNotOpen:
            assert state != HoldState.HELD
            return None

    @rule(target=transactions, tx=transactions)
    def reverse(self, tx: LedgerTransaction | None) -> LedgerTransaction | None:
        if tx is None:
            return None
        legs = list(tx.legs.select_related("account"))
        try:
            reversal = ledger_reverse(transaction=tx, key=self.key("rev"), reason="test")
        except (AlreadyReversed, InsufficientFunds):
            return None
        except Conflict as error:  # a reversal of a reversal is refused by design
            assert error.code == "ledger_reversal_of_reversal" and tx.reverses_id is not None
            return None
        for leg in legs:
            if leg.account.kind == AccountKind.CLIENT_WALLET:
                self.available[leg.account_id] -= leg.amount
        return reversal

    @rule(target=transactions, client_index=st.integers(0, 1), pair=st.permutations(CURRENCIES), units=amounts,
          rate=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("500"), places=4))
    def convert(self, client_index: int, pair: list[str], units: int, rate: Decimal) -> LedgerTransaction | None:
        source, target = self.wallet(client_index, pair[0]), self.wallet(client_index, pair[1])
        amount = _money(units, pair[0])
        if Money(amount.amount * rate, pair[1]).quantize().amount == 0:
            return None  # worth nothing in the target currency: a zero leg would be refused
        try:
            tx = ledger_convert(key=self.key("fx"), source=source, target=target, amount=amount, rate=rate,
                                rate_source="test")
        except InsufficientFunds:
            assert amount.amount > self.available[source.pk]
            return None
        self.available[source.pk] -= amount.amount
        self.available[target.pk] += Money(amount.amount * rate, pair[1]).quantize().amount
        return tx

    @rule(target=transactions, client_index=st.integers(0, 1), currency=st.sampled_from(CURRENCIES), units=amounts)
    def chargeback(self, client_index: int, currency: str, units: int) -> LedgerTransaction:
        wallet = self.wallet(client_index, currency)
        amount = _money(units, currency)
        tx = ledger_chargeback(key=self.key("cb"), wallet=wallet, clearing=self.clearing(currency), amount=amount)
        self.available[wallet.pk] -= min(amount.amount, self.available[wallet.pk])
        return tx

    @rule(tx=transactions)
    def replay(self, tx: LedgerTransaction | None) -> None:
        """Posting a key again with the same legs returns the first posting and moves nothing."""
        if tx is None:
            return
        legs = [Leg(leg.account, leg.money) for leg in tx.legs.select_related("account")]
        again = ledger_post(key=tx.idempotency_key, kind=tx.kind, legs=legs, reverses=tx.reverses,
                            rate=tx.rate, rate_source=tx.rate_source, ref_kind=tx.ref_kind, ref_code=tx.ref_code)
        assert again.pk == tx.pk and again.replayed

    @invariant()
    def ledger_invariants_hold(self) -> None:
        ledger_invariants_check()
        for wallet_id, expected in self.available.items():
            with connection.cursor() as cursor:
                cursor.execute("SELECT available FROM wallet_ledgerbalance WHERE account_id = %s", [wallet_id])
                assert cursor.fetchone()[0] == expected


def ledger_invariants_check() -> None:
    """What must hold of the whole ledger at every moment (wallet.ledger.ledger_verify), and what
    COMMIT would check: the deferred balance triggers pass too."""
    assert ledger_verify() == {}
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.mark.django_db
def test_random_sequences_of_ledger_operations_keep_every_invariant():
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=15, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
