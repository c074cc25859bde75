"""The wallet's ledger: what the posting service and the database guarantee."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from crm.exceptions import ValidationFailed
from crm.lib.money import Money
from crm.models import AuditLog, Event
from tests.factories import make_client
from tests.wallet.ledger_support import deposit, funded_wallet, new_key, usd
from wallet.exceptions import HoldNotOpen
from wallet.ledger import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    Leg,
    UnbalancedTransaction,
    available,
    balance,
    balance_as_of,
    clearing_account_for,
    client_debt_account_for,
    ledger_chargeback,
    ledger_convert,
    ledger_hold,
    ledger_hold_capture,
    ledger_post,
    ledger_release,
    ledger_reverse,
    ledger_verify,
    statement_lines,
    system_account_for,
    wallet_account_for,
    wallet_balances_for_client,
)
from wallet.models import (
    AccountKind,
    HoldState,
    LedgerAccount,
    LedgerBalance,
    LedgerHold,
    LedgerLeg,
    LedgerTransaction,
)

pytestmark = pytest.mark.django_db

REFUSED = "immutable|permission denied"


@pytest.fixture
def client():
    return make_client()


@pytest.fixture
def wallet(client):
    return wallet_account_for(client=client, currency="USD")


@pytest.fixture
def bank():
    return system_account_for(kind=AccountKind.BANK, currency="USD")


# --- the chart of accounts ---------------------------------------------------------------------------

def test_a_client_has_one_wallet_per_currency(client):
    first = wallet_account_for(client=client, currency="USD")
    assert wallet_account_for(client=client, currency="USD") == first
    with pytest.raises(ValidationFailed):  # a code as ISO writes it, in capitals
        wallet_account_for(client=client, currency="usd")
    euro = wallet_account_for(client=client, currency="EUR")
    assert euro != first
    assert first.brand_id == client.brand_id
    assert not first.may_go_negative
    assert LedgerBalance.objects.get(account=first).balance == 0


def test_the_database_refuses_a_second_wallet_for_the_same_client_and_currency(client, wallet):
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.create(kind=AccountKind.CLIENT_WALLET, currency="USD", client=client,
                                     brand=client.brand, normal_side="credit", may_go_negative=False)


def test_the_database_refuses_a_wallet_that_may_go_negative(client):
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.create(kind=AccountKind.CLIENT_WALLET, currency="GBP", client=client,
                                     normal_side="credit", may_go_negative=True)


def test_an_unknown_currency_opens_no_account(client):
    with pytest.raises(ValidationFailed):
        wallet_account_for(client=client, currency="XYZ")


# --- posting -----------------------------------------------------------------------------------------

def test_a_deposit_moves_money_from_clearing_to_the_wallet(client, wallet):
    tx = deposit(wallet, usd("100.50"))
    clearing = clearing_account_for(provider="testpsp", currency="USD", brand=client.brand_id)
    assert balance(wallet) == usd("100.50")
    assert balance(clearing) == usd("-100.50")
    assert sorted(tx.legs.values_list("amount", flat=True)) == [Decimal("-100.5"), Decimal("100.5")]
    assert [b.balance for b in wallet_balances_for_client(client)] == [usd("100.50")]


def test_an_unbalanced_posting_is_refused_and_writes_nothing(wallet, bank):
    with pytest.raises(UnbalancedTransaction, match="sum to"):
        ledger_post(key=new_key(), kind="deposit", legs=[Leg(bank, usd(-100)), Leg(wallet, usd("100.01"))])
    assert not LedgerTransaction.objects.exists()
    assert balance(wallet) == usd(0)


def test_legs_must_be_in_the_accounts_currency(client, wallet):
    eur_bank = system_account_for(kind=AccountKind.BANK, currency="EUR")
    with pytest.raises(ValidationFailed) as info:
        ledger_post(key=new_key(), kind="deposit", legs=[Leg(eur_bank, usd(-5)), Leg(wallet, usd(5))])
    assert "legs[0]" in info.value.fields


def test_a_zero_leg_and_a_single_leg_are_refused(wallet, bank):
    with pytest.raises(ValidationFailed):
        ledger_post(key=new_key(), kind="x", legs=[Leg(bank, usd(0)), Leg(wallet, usd(0))])
    with pytest.raises(UnbalancedTransaction):
        ledger_post(key=new_key(), kind="x", legs=[Leg(wallet, usd(1))])


def test_amounts_are_rounded_once_half_even_at_posting(wallet, bank):
    tx = ledger_post(key=new_key(), kind="deposit", legs=[Leg(bank, usd("-10.005")), Leg(wallet, usd("10.005"))])
    assert balance(wallet) == usd("10.00")
    assert set(tx.legs.values_list("amount", flat=True)) == {Decimal("-10.00"), Decimal("10.00")}


def test_a_wallet_cannot_go_below_zero(wallet, bank):
    deposit(wallet, usd(50))
    with pytest.raises(InsufficientFunds) as info:
        ledger_post(key=new_key(), kind="withdrawal", legs=[Leg(wallet, usd(-50.01 if False else "-50.01")),
                                                            Leg(bank, usd("50.01"))])
    assert info.value.available == usd(50)
    assert "50.00" in info.value.message
    assert balance(wallet) == usd(50)


def test_the_database_refuses_a_negative_wallet_balance_written_directly(wallet):
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerBalance.objects.filter(account=wallet).update(balance=Decimal("-1"))


# --- idempotency -------------------------------------------------------------------------------------

def test_the_same_key_twice_posts_once(wallet):
    first = deposit(wallet, usd(20), key="psp-ref-1")
    again = deposit(wallet, usd(20), key="psp-ref-1")
    assert again.pk == first.pk and again.replayed and not first.replayed
    assert balance(wallet) == usd(20)
    assert LedgerTransaction.objects.count() == 1


def test_the_same_key_with_another_amount_is_a_conflict(wallet):
    deposit(wallet, usd(20), key="psp-ref-2")
    with pytest.raises(IdempotencyConflict, match="psp-ref-2"):
        deposit(wallet, usd(21), key="psp-ref-2")
    assert balance(wallet) == usd(20)


# --- the database holds the rules whoever writes -------------------------------------------------------

def _raw_transaction(cursor, key: str) -> int:
    now = timezone.now()
    cursor.execute(
        "INSERT INTO wallet_ledgertransaction (code, idempotency_key, fingerprint, kind, memo, occurred_at, "
        "recorded_at, rate_source, metadata, ref_kind, ref_code) VALUES (gen_random_uuid(), %s, '', 'raw', '', "
        "%s, %s, '', '{}', '', '') RETURNING id", [key, now, now])
    return cursor.fetchone()[0]


def _raw_legs(cursor, tx_id: int, *legs: tuple[Any, int]) -> None:
    """Legs (account, USD amount) of transaction `tx_id` written past the posting service, at its time."""
    cursor.execute("SELECT recorded_at FROM wallet_ledgertransaction WHERE id = %s", [tx_id])
    now = cursor.fetchone()[0]
    cursor.execute("INSERT INTO wallet_ledgerleg (transaction_id, account_id, currency, amount, recorded_at) VALUES "
                   + ", ".join(["(%s, %s, 'USD', %s, %s)"] * len(legs)),
                   [value for account, amount in legs for value in (tx_id, account.pk, amount, now)])


def test_an_unbalanced_transaction_written_with_raw_sql_is_refused_at_commit(wallet, bank):
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic(), \
            connection.cursor() as cursor:
        _raw_legs(cursor, _raw_transaction(cursor, "raw-1"), (wallet, 10), (bank, -9))
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what COMMIT does with the deferred trigger
    assert not LedgerTransaction.objects.filter(idempotency_key="raw-1").exists()


def test_a_transaction_without_legs_is_refused_at_commit():
    with pytest.raises(IntegrityError, match="fewer than two legs"), transaction.atomic(), \
            connection.cursor() as cursor:
        _raw_transaction(cursor, "raw-2")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_legs_added_after_the_transaction_was_checked_are_checked_again(wallet, bank):
    # The transaction's check at SET CONSTRAINTS covers the legs then written; a leg written after
    # it, in the same database transaction, is checked when it fires and refused.
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic(), \
            connection.cursor() as cursor:
        tx_id = _raw_transaction(cursor, "raw-late")
        _raw_legs(cursor, tx_id, (wallet, 10), (bank, -10))
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # checked: balanced
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        _raw_legs(cursor, tx_id, (wallet, 5))
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not LedgerTransaction.objects.filter(idempotency_key="raw-late").exists()


def test_a_leg_added_later_to_a_committed_transaction_is_refused(wallet, bank):
    tx = deposit(wallet, usd(10))
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic(), \
            connection.cursor() as cursor:
        _raw_legs(cursor, tx.pk, (bank, 1))
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert tx.legs.count() == 2


def test_a_leg_in_another_currency_than_its_account_is_refused_by_the_database(wallet):
    eur = system_account_for(kind=AccountKind.BANK, currency="EUR")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        _raw_legs(cursor, _raw_transaction(cursor, "raw-3"), (wallet, 10), (eur, -10))


def test_legs_cannot_be_updated_or_deleted(wallet):
    tx = deposit(wallet, usd(10))
    leg = tx.legs.first()
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        LedgerLeg.objects.filter(pk=leg.pk).update(amount=Decimal("1000"))
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_ledgerleg SET amount = amount * 2")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM wallet_ledgerleg WHERE id = %s", [leg.pk])
    assert LedgerLeg.objects.get(pk=leg.pk).amount == leg.amount


def test_transactions_cannot_be_updated_or_deleted(wallet):
    tx = deposit(wallet, usd(10))
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        LedgerTransaction.objects.filter(pk=tx.pk).update(memo="edited")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM wallet_ledgertransaction WHERE id = %s", [tx.pk])
    assert LedgerTransaction.objects.get(pk=tx.pk).memo == ""


def test_a_posting_is_sent_as_a_statement_prepared_once_per_connection(client, bank):
    """The posting path asks for its statement to be prepared (DATABASE_PREPARED_STATEMENTS):
    PostgreSQL then neither parses nor plans it again for every posting."""
    wallet = funded_wallet(client, usd(10))
    for _ in range(2):
        ledger_post(key=new_key(), kind="withdrawal", legs=[Leg(wallet, usd(-1)), Leg(bank, usd(1))])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT wallet_ledger_post(%%'")
        assert cursor.fetchone()[0] == 1


# --- holds -------------------------------------------------------------------------------------------

def test_a_hold_lowers_available_not_the_balance_and_release_gives_it_back(client, bank):
    wallet = funded_wallet(client, usd(100))
    hold = ledger_hold(key="wd-1", account=wallet, amount=usd(30))
    assert (balance(wallet), available(wallet)) == (usd(100), usd(70))
    assert ledger_hold(key="wd-1", account=wallet, amount=usd(30)).pk == hold.pk  # idempotent
    with pytest.raises(InsufficientFunds):
        ledger_post(key=new_key(), kind="withdrawal", legs=[Leg(wallet, usd(-71)), Leg(bank, usd(71))])
    released = ledger_release(hold=hold)
    assert released.state == HoldState.RELEASED
    assert ledger_release(hold=hold).state == HoldState.RELEASED  # releasing twice changes nothing
    assert available(wallet) == usd(100)


def test_a_hold_above_available_is_refused(client):
    wallet = funded_wallet(client, usd(10))
    ledger_hold(key="wd-2", account=wallet, amount=usd(8))
    with pytest.raises(InsufficientFunds) as info:
        ledger_hold(key="wd-3", account=wallet, amount=usd(3))
    assert info.value.available == usd(2)


def test_capturing_a_hold_posts_it_and_consumes_it(client, bank):
    wallet = funded_wallet(client, usd(100))
    hold = ledger_hold(key="wd-4", account=wallet, amount=usd(40))
    tx = ledger_hold_capture(hold=hold, key="wd-4-paid", to_account=bank)
    hold.refresh_from_db()
    assert hold.state == HoldState.CAPTURED and hold.capture_id == tx.pk
    assert (balance(wallet), available(wallet)) == (usd(60), usd(60))
    assert balance(bank) == usd(40)
    with pytest.raises(HoldNotOpen, match="already captured: it cannot be released") as refused:
        ledger_release(hold=hold)
    assert (refused.value.from_state, refused.value.to_state) == (HoldState.CAPTURED, HoldState.RELEASED)
    hold.refresh_from_db()
    assert hold.state == HoldState.CAPTURED and (balance(wallet), available(wallet)) == (usd(60), usd(60))


def test_a_hold_captured_already_is_named_when_captured_again_even_on_an_emptied_wallet(client, bank):
    """The second capture of a hold that took the wallet's last cent is refused as a hold captured
    already, not as a shortage of funds (which would send finance looking for money)."""
    wallet = funded_wallet(client, usd(3))
    hold = ledger_hold(key="wd-all", account=wallet, amount=usd(3))
    stale = LedgerHold.objects.get(pk=hold.pk)
    ledger_hold_capture(hold=hold, key="wd-all-paid", to_account=bank)
    with pytest.raises(HoldNotOpen, match="already captured: it cannot be captured"):
        ledger_hold_capture(hold=stale, key="wd-all-paid-again", to_account=bank)
    assert not LedgerTransaction.objects.filter(idempotency_key="wd-all-paid-again").exists()
    assert (balance(wallet), available(wallet), balance(bank)) == (usd(0), usd(0), usd(3))


# --- reversals ---------------------------------------------------------------------------------------

def test_a_reversal_points_at_the_original_and_undoes_it(client):
    wallet = wallet_account_for(client=client, currency="USD")
    original = deposit(wallet, usd(25))
    reversal = ledger_reverse(transaction=original, key="rev-1", reason="sent twice")
    assert reversal.reverses_id == original.pk
    assert balance(wallet) == usd(0)
    assert AuditLog.objects.filter(action="wallet.ledger_reversed", object_id=str(original.code)).exists()
    assert ledger_reverse(transaction=original, key="rev-1", reason="sent twice").pk == reversal.pk
    with pytest.raises(AlreadyReversed):
        ledger_reverse(transaction=original, key="rev-2", reason="again")


def test_a_reversal_that_would_overdraw_the_wallet_is_refused(client, bank):
    wallet = wallet_account_for(client=client, currency="USD")
    original = deposit(wallet, usd(25))
    ledger_post(key=new_key(), kind="withdrawal", legs=[Leg(wallet, usd(-20)), Leg(bank, usd(20))])
    with pytest.raises(InsufficientFunds):
        ledger_reverse(transaction=original, key="rev-3", reason="psp recalled it")


# --- conversions -------------------------------------------------------------------------------------

def test_a_conversion_posts_through_fx_at_the_recorded_rate(client):
    usd_wallet = funded_wallet(client, usd(100))
    jpy_wallet = wallet_account_for(client=client, currency="JPY")
    tx = ledger_convert(key="fx-1", source=usd_wallet, target=jpy_wallet, amount=usd("10.01"),
                        rate=Decimal("151.2345"), rate_source="ecb:2026-11-23")
    assert balance(jpy_wallet) == Money(1514, "JPY")  # 1513.857... rounded half-even to whole yen
    assert balance(usd_wallet) == usd("89.99")
    assert (tx.rate, tx.rate_source) == (Decimal("151.2345"), "ecb:2026-11-23")
    per_currency = {}
    for leg in tx.legs.all():
        per_currency[leg.currency] = per_currency.get(leg.currency, 0) + leg.amount
    assert per_currency == {"USD": 0, "JPY": 0}


def test_a_conversion_needs_a_rate_source(client):
    usd_wallet = funded_wallet(client, usd(100))
    eur_wallet = wallet_account_for(client=client, currency="EUR")
    with pytest.raises(ValidationFailed):
        ledger_convert(key="fx-2", source=usd_wallet, target=eur_wallet, amount=usd(1), rate=Decimal("0.9"),
                       rate_source="")


# --- chargebacks -------------------------------------------------------------------------------------

def test_a_chargeback_the_wallet_covers_creates_no_debt(client):
    wallet = funded_wallet(client, usd(100))
    clearing = clearing_account_for(provider="testpsp", currency="USD", brand=client.brand_id)
    ledger_chargeback(key="cb-1", wallet=wallet, clearing=clearing, amount=usd(60))
    assert balance(wallet) == usd(40)
    assert not Event.objects.filter(name="wallet.client_debt").exists()


def test_a_chargeback_after_the_money_was_spent_moves_the_shortfall_to_client_debt(client, bank):
    wallet = funded_wallet(client, usd(100))
    ledger_post(key=new_key(), kind="withdrawal", legs=[Leg(wallet, usd(-70)), Leg(bank, usd(70))])
    clearing = clearing_account_for(provider="testpsp", currency="USD", brand=client.brand_id)
    tx = ledger_chargeback(key="cb-2", wallet=wallet, clearing=clearing, amount=usd(100), ref_kind="deposit",
                           ref_code="abc")
    debt = client_debt_account_for(client=client, currency="USD")
    assert balance(wallet) == usd(0)
    assert balance(debt) == usd(-70)
    event = Event.objects.get(name="wallet.client_debt")
    assert event.client_id == client.pk
    assert event.data == {"transaction": str(tx.code), "debt_account": str(debt.code), "shortfall": "70.00",
                          "charged_back": "100.00", "currency": "USD", "reference": "deposit:abc"}
    assert ledger_chargeback(key="cb-2", wallet=wallet, clearing=clearing, amount=usd(100), ref_kind="deposit",
                             ref_code="abc").pk == tx.pk
    assert Event.objects.filter(name="wallet.client_debt").count() == 1


# --- reads -------------------------------------------------------------------------------------------

def test_balance_as_of_a_past_moment_and_the_statement(client, bank):
    wallet = wallet_account_for(client=client, currency="USD")
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        deposit(wallet, usd(100))
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        ledger_post(key=new_key(), kind="withdrawal", legs=[Leg(wallet, usd(-30)), Leg(bank, usd(30))])
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        deposit(wallet, usd(5))
    assert balance_as_of(wallet, start) == usd(0)
    assert balance_as_of(wallet, start + timedelta(hours=1, minutes=30)) == usd(100)
    assert balance_as_of(wallet, start + timedelta(hours=2)) == usd(70)
    assert balance_as_of(wallet, start + timedelta(days=1)) == balance(wallet) == usd(75)
    opening, lines = statement_lines(wallet, start=start + timedelta(hours=1, minutes=30))
    assert opening == usd(100)
    assert [(line.amount, line.running_balance) for line in lines] == [(usd(-30), usd(70)), (usd(5), usd(75))]


def test_ledger_verify_names_a_broken_balance(wallet):
    deposit(wallet, usd(10))
    assert ledger_verify() == {}
    LedgerBalance.objects.filter(account=wallet).update(balance=Decimal("11"))
    assert ledger_verify() == {"balances_not_sum_of_legs": [wallet.pk]}


def test_a_clients_account_is_found_by_id_and_always_in_the_clients_brand(client, wallet):
    from tests.factories import make_brand
    from wallet.ledger import account_for

    again = account_for(kind=AccountKind.CLIENT_WALLET, currency="USD", client=client.pk, brand=make_brand())
    assert again == wallet and again.brand_id == client.brand_id


# --- a posting made on its own (no caller's transaction): one statement, its own commit -----------

@pytest.mark.django_db(transaction=True)
def test_a_posting_outside_any_transaction_commits_on_its_own_and_refuses_whole():
    client = make_client()
    wallet = wallet_account_for(client=client, currency="USD")
    bank = system_account_for(kind=AccountKind.BANK, currency="USD")
    assert connection.get_autocommit() and not connection.in_atomic_block
    first = deposit(wallet, usd(30), key="solo-1")
    assert deposit(wallet, usd(30), key="solo-1").pk == first.pk  # replayed, not posted again
    with pytest.raises(InsufficientFunds) as info:
        ledger_post(key="solo-2", kind="withdrawal", legs=[Leg(wallet, usd("-30.01")), Leg(bank, usd("30.01"))])
    assert info.value.available == usd(30)
    # Nothing of the refused posting stayed, and the connection is still usable.
    assert not LedgerTransaction.objects.filter(idempotency_key="solo-2").exists()
    assert (balance(wallet), LedgerLeg.objects.filter(account=wallet).count()) == (usd(30), 1)
    hold = ledger_hold(key="solo-hold", account=wallet, amount=usd(20))
    with pytest.raises(InsufficientFunds) as info:  # 10 available beside the hold
        ledger_post(key="solo-3", kind="withdrawal", legs=[Leg(wallet, usd(-11)), Leg(bank, usd(11))])
    assert info.value.available == usd(10)
    paid = ledger_hold_capture(hold=hold, key="solo-4", to_account=bank)
    hold.refresh_from_db()
    assert hold.state == HoldState.CAPTURED and hold.capture_id == paid.pk
    assert (balance(wallet), available(wallet), balance(bank)) == (usd(10), usd(10), usd(20))
    assert not any(ledger_verify().values())


def test_a_hold_released_before_its_capture_refuses_the_capture_and_posts_nothing(client, bank):
    wallet = funded_wallet(client, usd(100))
    hold = ledger_hold(key="wd-released", account=wallet, amount=usd(40))
    stale = LedgerHold.objects.get(pk=hold.pk)  # what a second request still holds in memory
    ledger_release(hold=hold, reason="cancelled by the client")
    with pytest.raises(HoldNotOpen, match="already released: it cannot be captured"):
        ledger_hold_capture(hold=stale, key="wd-released-paid", to_account=bank)
    assert not LedgerTransaction.objects.filter(idempotency_key="wd-released-paid").exists()
    assert (balance(wallet), available(wallet), balance(bank)) == (usd(100), usd(100), usd(0))
