"""Withdrawal payouts through the PSP simulator (a separate process): success captures the hold
into the provider's clearing account and the fee account, failure releases it, a lost answer stays
unknown until the status lookup resolves it, and webhooks end what the batch decided."""

from __future__ import annotations

import pytest

from crm.lib.money import Money
from crm.models import Event
from tests.wallet.conftest import WEBHOOK_SECRET
from tests.wallet.support import signed_webhook
from tests.wallet.withdrawal_support import CARD, build_world
from wallet.ledger import (
    available,
    balance,
    clearing_account_for,
    ledger_verify,
    system_account_for,
    wallet_account_for,
)
from wallet.models import AccountKind, HoldState, LedgerHold, WithdrawalState
from wallet.webhooks import webhook_receive
from wallet.withdrawals import (
    withdrawal_approve,
    withdrawal_payout_send,
    withdrawal_request,
    withdrawal_resolve,
    withdrawals_resolve_due,
)

S = WithdrawalState


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(db, psp):
    return build_world(base_url=psp.base_url, timeout_seconds=1)


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def _approved(world, amount: str = "300", destination=None):
    w = withdrawal_request(client=world.client, amount=usd(amount), method=world.card, destination=destination or CARD)
    return withdrawal_approve(withdrawal=w, actor=world.finance)


def test_a_paid_payout_captures_the_hold_into_clearing_and_the_fee(world, psp):
    w = withdrawal_payout_send(withdrawal_id=_approved(world).pk)
    assert w.state == S.PROCESSING and w.provider_ref.startswith("po_")
    psp.control("/_sim/payouts/process", {})
    w = withdrawal_resolve(withdrawal_id=w.pk)

    wallet = wallet_account_for(client=world.client, currency="USD")
    assert w.state == S.PAID and w.capture is not None
    assert balance(wallet) == usd("700") and available(wallet) == usd("700")
    assert LedgerHold.objects.get(pk=w.hold_id).state == HoldState.CAPTURED
    clearing = clearing_account_for(provider=world.provider.code, currency="USD", brand=world.brand)
    fees = system_account_for(kind=AccountKind.FEES, currency="USD", brand=world.brand)
    assert balance(fees) == usd("1.00")
    assert balance(clearing) == usd("-1000") + usd("299.00")  # the deposit came in through it, the payout left
    assert ledger_verify() == {}
    assert Event.objects.filter(client=world.client, name="wallet.withdrawal_paid").exists()
    assert [c.to_state for c in w.changes.all()] == [S.APPROVED, S.PROCESSING, S.PAID]


def test_a_failed_payout_releases_the_hold(world, psp):
    w = withdrawal_payout_send(withdrawal_id=_approved(world, destination={"card": "fail-this-card"}).pk)
    psp.control("/_sim/payouts/process", {})
    w = withdrawal_resolve(withdrawal_id=w.pk)

    wallet = wallet_account_for(client=world.client, currency="USD")
    assert w.state == S.FAILED and w.reason == "destination_refused"
    assert balance(wallet) == usd("1000") and available(wallet) == usd("1000")
    assert LedgerHold.objects.get(pk=w.hold_id).state == HoldState.RELEASED
    assert Event.objects.filter(client=world.client, name="wallet.withdrawal_failed").exists()


def test_a_lost_answer_stays_unknown_and_the_status_lookup_resolves_it_without_sending_again(world, psp):
    psp.faults({"type": "timeout_after_apply", "path": "/v1/payouts", "seconds": 3, "count": 1})
    w = withdrawal_payout_send(withdrawal_id=_approved(world).pk)
    assert w.state == S.UNKNOWN and w.provider_ref == "" and w.next_check_at is not None
    assert available(wallet_account_for(client=world.client, currency="USD")) == usd("700")  # still held

    assert withdrawals_resolve_due(now=w.next_check_at) == 1
    w.refresh_from_db()
    assert w.state == S.PROCESSING and w.provider_ref.startswith("po_")  # found: it was applied, once
    psp.control("/_sim/payouts/process", {})
    w = withdrawal_resolve(withdrawal_id=w.pk)
    assert w.state == S.PAID
    assert [c.to_state for c in w.changes.all()] == [S.APPROVED, S.PROCESSING, S.UNKNOWN, S.PROCESSING, S.PAID]


def test_a_payout_the_provider_never_got_is_sent_again_under_the_same_reference(world, psp):
    psp.faults({"type": "http_error", "path": "/v1/payouts", "status": 500, "count": 1})
    w = withdrawal_payout_send(withdrawal_id=_approved(world).pk)
    assert w.state == S.UNKNOWN
    w = withdrawal_resolve(withdrawal_id=w.pk)
    assert w.state == S.APPROVED  # not found at the provider: queued to be sent again
    w = withdrawal_payout_send(withdrawal_id=w.pk)
    assert w.state == S.PROCESSING and w.provider_ref.startswith("po_")


def test_a_signed_payout_webhook_ends_the_withdrawal(world, psp):
    w = withdrawal_payout_send(withdrawal_id=_approved(world).pk)
    psp.control("/_sim/payouts/process", {})
    headers, body = signed_webhook(WEBHOOK_SECRET, event_type="payout.succeeded", merchant_ref=w.merchant_ref, data={
        "object": "payout", "id": w.provider_ref, "amount": "299.00", "fee": "1.00", "status": "succeeded"})
    receipt = webhook_receive(provider_code=world.provider.code, headers=headers, body=body)
    assert receipt.status_code == 200
    w.refresh_from_db()
    assert w.state == S.PAID


# --- the provider's batch -------------------------------------------------------------------------------

def test_a_payout_keeps_the_batch_the_provider_put_it_in_and_finance_sees_it(world, psp, login_verified):
    from django.test import Client as HttpClient
    from django.urls import reverse

    w = withdrawal_payout_send(withdrawal_id=_approved(world).pk)
    batch = w.provider_batch_id
    assert batch.startswith("B2026") and batch in {b["id"] for b in psp.control("/_sim/status")["batches"]}
    psp.control("/_sim/payouts/process", {})
    w = withdrawal_resolve(withdrawal_id=w.pk)
    assert w.state == S.PAID and w.provider_batch_id == batch
    assert w.capture.metadata["batch_id"] == batch  # the ledger's movement says it too

    http = HttpClient()
    login_verified(http, world.finance)
    page = http.get(reverse("wallet_withdrawal_queue"), {"state": "paid"}).content.decode()
    assert w.provider_ref in page and f"batch {batch}" in page


def test_a_payout_whose_answer_was_lost_learns_its_batch_from_the_webhook(world, psp):
    psp.faults({"type": "timeout_after_apply", "path": "/v1/payouts", "seconds": 3, "count": 1})
    w = withdrawal_payout_send(withdrawal_id=_approved(world).pk)
    assert w.state == S.UNKNOWN and w.provider_batch_id == ""
    psp.control("/_sim/payouts/process", {})
    headers, body = signed_webhook(WEBHOOK_SECRET, event_type="payout.succeeded", merchant_ref=w.merchant_ref, data={
        "object": "payout", "id": "po_lost", "amount": "299.00", "fee": "1.00", "status": "succeeded",
        "batch_id": "B20260302-7"})
    assert webhook_receive(provider_code=world.provider.code, headers=headers, body=body).status_code == 200
    w.refresh_from_db()
    assert (w.state, w.provider_ref, w.provider_batch_id) == (S.PAID, "po_lost", "B20260302-7")
    assert w.capture.metadata["batch_id"] == "B20260302-7"


def test_a_status_lookup_tells_the_batch(world, psp):
    psp.faults({"type": "timeout_after_apply", "path": "/v1/payouts", "seconds": 3, "count": 1})
    w = withdrawal_payout_send(withdrawal_id=_approved(world).pk)
    assert w.provider_batch_id == ""
    w = withdrawal_resolve(withdrawal_id=w.pk)  # found at the provider, still pending in its batch
    assert w.state == S.PROCESSING and w.provider_batch_id.startswith("B2026")
