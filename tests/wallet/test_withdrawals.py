"""Withdrawals: what blocks one, the hold at request, automatic approval, finance's queue, four
eyes, rejection and cancellation."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from crm.exceptions import ValidationFailed
from crm.lib.money import Money
from crm.models import AuditLog, Event
from tests.factories import make_client
from tests.wallet.withdrawal_support import CARD, build_world, deposit, kyc_approve
from wallet.ledger import available, balance, wallet_account_for
from wallet.models import HoldState, Withdrawal, WithdrawalState
from wallet.withdrawals import (
    Blocker,
    FourEyesRefused,
    WithdrawalBlocked,
    register_withdrawal_check,
    unregister_withdrawal_check,
    withdrawal_approve,
    withdrawal_blockers,
    withdrawal_cancel,
    withdrawal_first_approval_send_back,
    withdrawal_policy_save,
    withdrawal_queue_for_user,
    withdrawal_reject,
    withdrawal_request,
)

S = WithdrawalState


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(db):
    return build_world()


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def codes(blockers: list[Blocker]) -> list[str]:
    return [b.code for b in blockers]


def test_nothing_blocks_a_verified_funded_client_withdrawing_to_the_card_it_paid_with(world):
    assert withdrawal_blockers(client=world.client, amount=usd("100"), method=world.card) == []


def test_it_blocks_a_client_whose_kyc_is_not_approved(db, settings, tmp_path):
    world = build_world(approve_kyc=False)
    assert "kyc_not_approved" in codes(withdrawal_blockers(client=world.client, amount=usd("100"), method=world.card))


def test_it_rejects_withdrawal_above_available_balance(world):
    blockers = withdrawal_blockers(client=world.client, amount=usd("1000.01"), method=world.card)
    assert "insufficient_funds" in codes(blockers)
    assert "1,000.00" in next(b.message for b in blockers if b.code == "insufficient_funds")
    with pytest.raises(WithdrawalBlocked) as blocked:
        withdrawal_request(client=world.client, amount=usd("1000.01"), method=world.card, destination=CARD)
    assert "insufficient_funds" in codes(blocked.value.blockers)
    assert not Withdrawal.objects.filter(client=world.client).exists()


def test_it_blocks_amounts_outside_the_methods_limits_and_methods_not_offered(world):
    assert "method_limits" in codes(withdrawal_blockers(client=world.client, amount=usd("5"), method=world.card))
    assert "method_unavailable" in codes(withdrawal_blockers(client=world.client, amount=Money("5", "EUR"),
                                                            method=world.card))


def test_card_deposits_go_back_to_the_card_first_and_at_most_what_it_deposited(world):
    deposit(world.client, "500.00", method="ewallet", provider=world.provider.code)  # 1000 card + 500 e-wallet
    assert "return_to_source" in codes(withdrawal_blockers(client=world.client, amount=usd("100"),
                                                          method=world.ewallet))
    assert "return_to_source_limit" in codes(withdrawal_blockers(client=world.client, amount=usd("1200"),
                                                                method=world.card))
    withdrawal_request(client=world.client, amount=usd("1000"), method=world.card, destination=CARD)
    # The card has its deposits back (pending): the rest may go to the e-wallet.
    assert withdrawal_blockers(client=world.client, amount=usd("100"), method=world.ewallet) == []


def test_a_card_takes_back_nothing_it_did_not_deposit(world):
    # The world's 1000 came by card: once the card has it all back, it takes no more (the rest of a
    # wallet funded by card and e-wallet leaves by the e-wallet), whatever the amount.
    deposit(world.client, "500.00", method="ewallet", provider=world.provider.code)
    withdrawal_request(client=world.client, amount=usd("1000"), method=world.card, destination=CARD)
    blockers = withdrawal_blockers(client=world.client, amount=usd("10"), method=world.card)
    assert codes(blockers) == ["return_to_source_no_card"] and "taken back all" in blockers[0].message
    assert withdrawal_blockers(client=world.client, amount=usd("10"), method=world.ewallet) == []


def test_money_that_came_by_e_wallet_does_not_leave_to_a_card(world):
    other = make_client(brand=world.brand, country="DE")
    kyc_approve(other)
    deposit(other, "300.00", method="ewallet", provider=world.provider.code)
    blockers = withdrawal_blockers(client=other, amount=usd("50"), method=world.card)
    assert codes(blockers) == ["return_to_source_no_card"] and "only to a card you deposited with" in blockers[0].message
    assert withdrawal_blockers(client=other, amount=usd("50"), method=world.ewallet) == []


def test_an_amount_with_more_decimals_than_its_currency_is_refused_not_rounded(world):
    blockers = withdrawal_blockers(client=world.client, amount=Money("150.123", "USD"), method=world.card)
    assert codes(blockers) == ["amount_precision"] and "at most 2 decimals" in blockers[0].message
    with pytest.raises(ValidationFailed) as refused:
        withdrawal_request(client=world.client, amount=Money("150.123", "USD"), method=world.card, destination=CARD)
    assert "amount" in refused.value.fields
    assert not Withdrawal.objects.filter(client=world.client).exists()
    assert available(wallet_account_for(client=world.client, currency="USD")) == usd("1000")


def test_the_daily_limit_counts_the_days_other_withdrawals(world):
    withdrawal_policy_save(brand=world.brand, actor=None, daily_limit={"USD": "300"})
    withdrawal_request(client=world.client, amount=usd("200"), method=world.card, destination=CARD)
    blockers = withdrawal_blockers(client=world.client, amount=usd("150"), method=world.card)
    assert codes(blockers) == ["daily_limit"] and "100.00" in blockers[0].message
    assert withdrawal_blockers(client=world.client, amount=usd("100"), method=world.card) == []


def test_a_registered_compliance_check_blocks_and_is_gone_when_unregistered(world):
    def sanctions(*, client, amount, method):
        return [Blocker("compliance_review", "Compliance is reviewing this account.")]

    register_withdrawal_check(sanctions)
    try:
        assert codes(withdrawal_blockers(client=world.client, amount=usd("100"), method=world.card)) == [
            "compliance_review"]
        with pytest.raises(WithdrawalBlocked):
            withdrawal_request(client=world.client, amount=usd("100"), method=world.card, destination=CARD)
    finally:
        unregister_withdrawal_check(sanctions)
    assert withdrawal_blockers(client=world.client, amount=usd("100"), method=world.card) == []


def test_a_request_holds_the_amount_available_drops_and_balance_does_not(world):
    w = withdrawal_request(client=world.client, amount=usd("250"), method=world.card, destination=CARD)
    wallet = wallet_account_for(client=world.client, currency="USD")
    assert balance(wallet) == usd("1000") and available(wallet) == usd("750")
    assert w.state == S.REQUESTED and w.hold.state == HoldState.HELD and w.hold.money == usd("250")
    assert w.fee_money == usd("1.00") and w.destination_masked == "…4242"
    assert Event.objects.filter(client=world.client, name="wallet.withdrawal_requested").exists()
    assert AuditLog.objects.filter(action="wallet.withdrawal_requested", object_id=str(w.code)).exists()


def test_a_small_withdrawal_of_a_low_risk_client_approves_itself_and_a_larger_one_waits(world):
    withdrawal_policy_save(brand=world.brand, actor=None, auto_approve_below={"USD": "100"})
    small = withdrawal_request(client=world.client, amount=usd("100"), method=world.card, destination=CARD)
    large = withdrawal_request(client=world.client, amount=usd("100.01"), method=world.card, destination=CARD)
    assert small.state == S.APPROVED and small.auto_approved and small.first_approved_by is None
    assert large.state == S.REQUESTED
    assert list(small.changes.values_list("to_state", flat=True)) == [S.APPROVED]


def test_the_finance_queue_lists_requests_by_sla_and_only_to_finance_of_the_brand(world):
    first = withdrawal_request(client=world.client, amount=usd("100"), method=world.card, destination=CARD)
    second = withdrawal_request(client=world.client, amount=usd("50"), method=world.card, destination=CARD)
    assert list(withdrawal_queue_for_user(user=world.finance)) == [first, second]
    assert list(withdrawal_queue_for_user(user=world.outsider)) == []
    assert list(withdrawal_queue_for_user(user=world.agent)) == []
    approved = withdrawal_approve(withdrawal=first, actor=world.finance)
    assert approved.state == S.APPROVED and approved.first_approved_by == world.finance


def test_above_the_four_eyes_threshold_the_same_approver_twice_is_refused(world):
    withdrawal_policy_save(brand=world.brand, actor=None, four_eyes_above={"USD": "500"},
                           auto_approve_below={"USD": "1000"})
    w = withdrawal_request(client=world.client, amount=usd("600"), method=world.card, destination=CARD)
    assert w.state == S.REQUESTED and w.needs_two_approvals  # never automatic above four eyes
    w = withdrawal_approve(withdrawal=w, actor=world.finance)
    assert w.state == S.REQUESTED and w.first_approved_by == world.finance
    with pytest.raises(FourEyesRefused):
        withdrawal_approve(withdrawal=w, actor=world.finance)
    w = withdrawal_approve(withdrawal=w, actor=world.finance2)
    assert w.state == S.APPROVED and w.second_approved_by == world.finance2


def test_a_second_approver_sends_a_first_approval_back_and_two_approvals_are_needed_again(world):
    withdrawal_policy_save(brand=world.brand, actor=None, four_eyes_above={"USD": "500"})
    w = withdrawal_approve(withdrawal=withdrawal_request(client=world.client, amount=usd("600"), method=world.card,
                                                         destination=CARD), actor=world.finance)
    with pytest.raises(FourEyesRefused) as own:
        withdrawal_first_approval_send_back(withdrawal=w, actor=world.finance, reason="second thoughts")
    assert own.value.code == "withdrawal_four_eyes"
    w.refresh_from_db()
    assert w.first_approved_by == world.finance
    w = withdrawal_first_approval_send_back(withdrawal=w, actor=world.finance2, reason="Destination looks new")
    w.refresh_from_db()
    assert (w.state, w.first_approved_by, w.first_approved_at) == (S.REQUESTED, None, None)
    row = AuditLog.objects.filter(action="wallet.withdrawal_first_approval_sent_back").get()
    assert row.actor == world.finance2 and row.reason == "Destination looks new"
    assert row.after["proposed_by"] == str(world.finance.code)
    # Two approvals again, and the one who sent it back may now approve first.
    w = withdrawal_approve(withdrawal=w, actor=world.finance2)
    assert w.state == S.REQUESTED and w.first_approved_by == world.finance2
    w = withdrawal_approve(withdrawal=w, actor=world.finance)
    assert w.state == S.APPROVED and w.second_approved_by == world.finance


def test_the_database_refuses_one_person_as_both_approvers(world):
    withdrawal_policy_save(brand=world.brand, actor=None, four_eyes_above={"USD": "500"})
    w = withdrawal_approve(withdrawal=withdrawal_request(client=world.client, amount=usd("600"), method=world.card,
                                                         destination=CARD), actor=world.finance)
    with pytest.raises(IntegrityError), transaction.atomic():
        Withdrawal.objects.filter(pk=w.pk).update(second_approved_by=world.finance, state=S.APPROVED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Withdrawal.objects.filter(pk=w.pk).update(state=S.APPROVED)  # one approver is not enough


def test_rejecting_needs_a_reason_and_releases_the_hold(world):
    w = withdrawal_request(client=world.client, amount=usd("300"), method=world.card, destination=CARD)
    with pytest.raises(Exception) as missing:
        withdrawal_reject(withdrawal=w, actor=world.finance, reason=" ")
    assert "reason" in missing.value.fields
    w = withdrawal_reject(withdrawal=w, actor=world.finance, reason="Destination does not match the client")
    assert w.state == S.REJECTED and w.hold.__class__.objects.get(pk=w.hold_id).state == HoldState.RELEASED
    assert available(wallet_account_for(client=world.client, currency="USD")) == usd("1000")


def test_the_client_cancels_a_pending_withdrawal_and_the_hold_is_released(world):
    w = withdrawal_request(client=world.client, amount=usd("300"), method=world.card, destination=CARD)
    w = withdrawal_cancel(withdrawal=w)
    assert w.state == S.CANCELLED
    assert available(wallet_account_for(client=world.client, currency="USD")) == usd("1000")
    with pytest.raises(Exception) as again:
        withdrawal_cancel(withdrawal=w)
    assert again.value.code == "withdrawal_not_pending"
    assert list(w.changes.values_list("from_state", "to_state")) == [(S.REQUESTED, S.CANCELLED)]
