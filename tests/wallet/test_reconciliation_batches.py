"""Payout batches in reconciliation, against the PSP simulator (a separate process): payouts that know
their provider's batch are matched to the batch's total line and to no other batch of the same day;
a payout paid without the provider naming its batch learns it from the settlement line that settles it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from crm.lib.money import Money
from tests.wallet.conftest import WEBHOOK_SECRET
from tests.wallet.recon_support import csv_file, import_file, line
from tests.wallet.support import signed_webhook
from tests.wallet.withdrawal_support import CARD, build_world
from wallet.models import ReconciliationBreak, ReconciliationMatch, WithdrawalState
from wallet.webhooks import webhook_receive
from wallet.withdrawals import (
    withdrawal_approve,
    withdrawal_payout_send,
    withdrawal_request,
    withdrawal_resolve,
)

S = WithdrawalState


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(db, psp):
    return build_world(base_url=psp.base_url, timeout_seconds=1)


def _sent(world, amount: str):
    w = withdrawal_request(client=world.client, amount=Money(amount, "USD"), method=world.card, destination=CARD)
    return withdrawal_payout_send(withdrawal_id=withdrawal_approve(withdrawal=w, actor=world.finance).pk)


def _paid(psp, *sent):
    psp.control("/_sim/payouts/process", {})  # the provider pays and closes its open batch
    return [withdrawal_resolve(withdrawal_id=w.pk) for w in sent]


def test_two_batch_totals_of_one_day_each_match_the_payouts_of_their_own_batch(
        world, psp, django_capture_on_commit_callbacks):
    first = _paid(psp, _sent(world, "100"), _sent(world, "50"))
    second = _paid(psp, _sent(world, "70"), _sent(world, "30"))
    assert all(w.state == S.PAID for w in first + second)
    batch_one, batch_two = first[0].provider_batch_id, second[0].provider_batch_id
    assert batch_one and batch_two and batch_one != batch_two
    assert {w.provider_batch_id for w in first} == {batch_one} and {w.provider_batch_id for w in second} == {batch_two}

    # One total line per batch, on the same day: by day and amount alone either payout set could be
    # claimed by either line; the batch ids say which is which. Paid out: the amount less the fee.
    today = timezone.localdate()
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(
        line("stl_1", "-148.00", fee="2.00", kind="payout", batch=batch_one, day=today),
        line("stl_2", "-98.00", fee="2.00", kind="payout", batch=batch_two, day=today)))
    assert imp.status == "done", imp.error
    assert imp.matched_count == 2
    matched = {}
    for match in ReconciliationMatch.objects.filter(line__settlement=imp).select_related("line"):
        assert match.method == "batch"
        matched.setdefault(match.line.provider_ref, set()).add(match.withdrawal_id)
    assert matched == {"stl_1": {w.pk for w in first}, "stl_2": {w.pk for w in second}}
    # The totals agree: no difference to resolve (the wallet's funding deposit of the day is all the
    # file does not carry).
    assert set(ReconciliationBreak.objects.filter(settlement=imp).values_list("kind", flat=True)) <= {
        "missing_at_provider"}


def test_a_payout_paid_without_its_batch_takes_the_batch_of_the_line_that_settles_it(
        world, psp, django_capture_on_commit_callbacks):
    psp.faults({"type": "timeout_after_apply", "path": "/v1/payouts", "seconds": 3, "count": 1})
    w = _sent(world, "200")
    assert w.state == S.UNKNOWN and w.provider_batch_id == ""
    psp.control("/_sim/payouts/process", {})
    # A notification that names no batch ends it.
    headers, body = signed_webhook(WEBHOOK_SECRET, event_type="payout.succeeded", merchant_ref=w.merchant_ref, data={
        "object": "payout", "id": "po_nobatch", "amount": "199.00", "fee": "1.00", "status": "succeeded"})
    assert webhook_receive(provider_code=world.provider.code, headers=headers, body=body).status_code == 200
    w.refresh_from_db()
    assert (w.state, w.provider_batch_id) == (S.PAID, "")

    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(
        line("po_nobatch", "-199.00", fee="1.00", kind="payout", batch="B20260302-9", day=timezone.localdate())))
    assert imp.matched_count == 1
    w.refresh_from_db()
    assert w.provider_batch_id == "B20260302-9"
    assert ReconciliationMatch.objects.get(line__settlement=imp).withdrawal_id == w.pk
    assert not ReconciliationBreak.objects.filter(settlement=imp, kind__in=["amount_mismatch", "fee_mismatch"])
