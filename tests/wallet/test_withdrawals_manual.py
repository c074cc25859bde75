"""Withdrawals by bank wire: the wire provider has no payout API, so an approved withdrawal waits in
finance's queue to be sent from the bank; finance records the bank's reference (the hold is captured,
the client sees it paid) or why it could not be sent (the hold is released). A mistyped IBAN is
refused when the client asks, not by the bank days later."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.exceptions import Conflict, ValidationFailed
from crm.lib.money import Money
from crm.models import AuditLog, Event
from plumbing.iban import iban_normalise
from tests.wallet.withdrawal_support import build_world, deposit
from wallet.ledger import available, balance, clearing_account_for, ledger_verify, wallet_account_for
from wallet.models import HoldState, LedgerHold, Withdrawal, WithdrawalState
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.withdrawals import (
    withdrawal_approve,
    withdrawal_mark_failed,
    withdrawal_mark_paid,
    withdrawal_payout_send,
    withdrawal_request,
    withdrawal_resolve,
    withdrawals_resolve_due,
)

S = WithdrawalState
IBAN = "GB82WEST12345698765432"


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(db):
    world = build_world(fund=None)
    world.wire = payment_provider_save(code="wire-test", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Broker Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N", "bank_name": "Bank"})
    world.wire_method = payment_method_save(
        brand=world.brand, method="bank_wire", direction="withdrawal", provider=world.wire, order=30,
        currencies=[CurrencyRule("USD", Decimal("100"), None, Decimal("15.00"))])
    deposit(world.client, "1000.00", method="bank_wire", provider=world.wire.code)
    return world


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def _sent(world, amount: str = "400", iban: str = "gb82 west 1234 5698 7654 32") -> Withdrawal:
    w = withdrawal_request(client=world.client, amount=usd(amount), method=world.wire_method,
                           destination={"bank_wire": iban})
    w = withdrawal_approve(withdrawal=w, actor=world.finance)
    return withdrawal_payout_send(withdrawal_id=w.pk)


def test_iban_check_digits_length_and_shape():
    assert iban_normalise("gb82 west 1234 5698 7654 32") == IBAN
    assert iban_normalise("DE89-3704-0044-0532-0130-00") == "DE89370400440532013000"
    assert iban_normalise("GB82WEST12345698765423") is None  # two digits swapped: the check fails
    assert iban_normalise("GB82WEST1234569876543") is None  # a character short for a British IBAN
    assert iban_normalise("4242424242424242") is None
    assert iban_normalise("") is None


def test_an_approved_wire_waits_for_finance_and_is_never_looked_up_at_a_provider(world):
    w = _sent(world)

    assert w.state == S.PROCESSING and w.awaits_manual_payout
    assert w.destination == {"bank_wire": IBAN}  # stored as the bank wants it typed
    assert w.next_check_at is None
    assert LedgerHold.objects.get(pk=w.hold_id).state == HoldState.HELD
    wallet = wallet_account_for(client=world.client, currency="USD")
    assert balance(wallet) == usd("1000") and available(wallet) == usd("600")
    # Neither the beat lookup nor a resolve moves it: no provider knows of it.
    assert withdrawals_resolve_due() == 0
    assert withdrawal_resolve(withdrawal_id=w.pk).state == S.PROCESSING
    assert withdrawal_payout_send(withdrawal_id=w.pk).state == S.PROCESSING  # a repeated task does nothing


def test_finance_records_the_banks_reference_and_the_hold_is_captured(world):
    w = _sent(world)

    w = withdrawal_mark_paid(withdrawal=w, actor=world.finance2, bank_reference="  FT2611250042   BARC ")

    assert w.state == S.PAID and w.provider_ref == "FT2611250042 BARC"
    wallet = wallet_account_for(client=world.client, currency="USD")
    clearing = clearing_account_for(provider=world.wire.code, currency="USD", brand=world.brand)
    assert balance(wallet) == usd("600") and available(wallet) == usd("600")
    assert balance(clearing) == usd("-1000") + usd("385.00")  # what reached the client: 400 less the 15 fee
    assert w.capture.metadata["provider_ref"] == "FT2611250042 BARC"
    assert ledger_verify() == {}
    assert w.changes.order_by("pk").last().actor == world.finance2
    assert AuditLog.objects.filter(action="wallet.withdrawal_paid", actor=world.finance2).exists()
    assert Event.objects.filter(client=world.client, name="wallet.withdrawal_paid").exists()
    with pytest.raises(Conflict) as twice:
        withdrawal_mark_paid(withdrawal=w, actor=world.finance, bank_reference="FT2611250042")
    assert twice.value.code == "withdrawal_not_manual"
    assert balance(wallet) == usd("600")


def test_a_wire_that_could_not_be_sent_fails_and_releases_the_hold(world):
    w = _sent(world)

    with pytest.raises(ValidationFailed) as empty:
        withdrawal_mark_failed(withdrawal=w, actor=world.finance, reason="   ")
    assert "reason" in empty.value.fields
    w = withdrawal_mark_failed(withdrawal=w, actor=world.finance, reason="Beneficiary name does not match the account")

    assert w.state == S.FAILED and w.reason == "Beneficiary name does not match the account"
    wallet = wallet_account_for(client=world.client, currency="USD")
    assert available(wallet) == usd("1000") and balance(wallet) == usd("1000")
    assert LedgerHold.objects.get(pk=w.hold_id).state == HoldState.RELEASED
    assert AuditLog.objects.filter(action="wallet.withdrawal_failed", actor=world.finance).exists()


def test_marking_by_hand_is_refused_before_approval_and_without_a_reference(world):
    w = withdrawal_request(client=world.client, amount=usd("200"), method=world.wire_method,
                           destination={"bank_wire": IBAN})
    with pytest.raises(Conflict) as early:
        withdrawal_mark_paid(withdrawal=w, actor=world.finance, bank_reference="FT1")
    assert early.value.code == "withdrawal_not_manual" and "requested" in early.value.message
    w = withdrawal_payout_send(withdrawal_id=withdrawal_approve(withdrawal=w, actor=world.finance).pk)
    with pytest.raises(ValidationFailed) as blank:
        withdrawal_mark_paid(withdrawal=w, actor=world.finance, bank_reference=" ")
    assert "bank_reference" in blank.value.fields
    with pytest.raises(ValidationFailed):
        withdrawal_mark_paid(withdrawal=w, actor=world.finance, bank_reference="X" * 201)
    w.refresh_from_db()
    assert w.state == S.PROCESSING and w.provider_ref == ""


def test_a_card_payout_cannot_be_marked_paid_by_hand(world):
    deposit(world.client, "500.00", provider=world.provider.code)  # by card: the card is paid back first
    w = withdrawal_request(client=world.client, amount=usd("100"), method=world.card,
                           destination={"card": "4242424242424242"})
    w = withdrawal_approve(withdrawal=w, actor=world.finance)
    Withdrawal.objects.filter(pk=w.pk).update(state=S.PROCESSING)  # the payout left for the provider
    with pytest.raises(Conflict) as refused:
        withdrawal_mark_paid(withdrawal=w, actor=world.finance, bank_reference="FT1")
    assert refused.value.code == "withdrawal_not_manual"


def test_a_mistyped_iban_is_refused_by_name_and_nothing_is_held(world):
    with pytest.raises(ValidationFailed) as refused:
        withdrawal_request(client=world.client, amount=usd("200"), method=world.wire_method,
                           destination={"bank_wire": "GB82WEST12345698765423"})
    assert "GB82WEST12345698765423 is not a valid IBAN" in str(refused.value.fields["destination"])
    assert not Withdrawal.objects.filter(client=world.client).exists()
    assert available(wallet_account_for(client=world.client, currency="USD")) == usd("1000")


def test_the_queue_shows_finance_what_to_send_and_takes_the_reference(world, login_verified):
    w = _sent(world)
    staff = HttpClient()
    login_verified(staff, world.finance)

    page = staff.get(reverse("wallet_withdrawal_queue")).content.decode()
    assert "Send from the bank" in page and IBAN in page and w.merchant_ref in page
    assert "385.00" in page  # the amount to send, the fee kept

    staff.post(reverse("wallet_withdrawal_mark_paid", args=[w.code]), {"bank_reference": ""})
    w.refresh_from_db()
    assert w.state == S.PROCESSING
    response = staff.post(reverse("wallet_withdrawal_mark_paid", args=[w.code]), {"bank_reference": "FT26112500"},
                          follow=True)
    w.refresh_from_db()
    assert w.state == S.PAID and w.provider_ref == "FT26112500"
    assert "Recorded as paid" in response.content.decode()

    for user in (world.outsider, world.agent):
        someone = HttpClient()
        login_verified(someone, user)
        assert someone.post(reverse("wallet_withdrawal_mark_failed", args=[w.code]),
                            {"reason": "x"}).status_code == 404
