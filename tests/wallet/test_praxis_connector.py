"""Praxis Cashier beyond the common scenarios (test_provider_conformance.py): a refund through the
Direct API and its notification, a card the processor never answers for (pending until the
look-up finds the approval), a chargeback, a payout to the card's token, the withdrawal cashier."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import Stage
from tests.factories import make_brand, make_client
from tests.wallet.connectors import (  # noqa: F401 - fixtures
    Capture,
    PraxisConnector,
    capture,
    praxis_session,
)
from tests.wallet.support import checkout
from wallet.deposits import deposit_create, deposit_refund, deposit_status_refresh
from wallet.disputes import dispute_outcome_record
from wallet.ledger import balance, ledger_verify, wallet_account_for
from wallet.models import DepositStatus, Dispute
from wallet.providers.base import ClientFacts, Outcome, PayoutRequest

SKIPPED = {"host", "content-length", "content-type", "connection", "accept-encoding", "user-agent"}


@pytest.fixture
def praxis(db: Any, praxis_session: Any, capture: Capture, settings: Any) -> Any:  # noqa: F811
    praxis_session.control("/_sim/faults/clear", {})
    settings.CRM_PUBLIC_URL = capture.base
    connector = PraxisConnector(praxis_session)
    brand = make_brand()
    provider = connector.methods(brand)
    client = make_client(brand=brand, country="DE", stage=Stage.VERIFIED, first_name="Ann", last_name="Smith")
    http = HttpClient()

    def deliver(ref: str, count: int = 1, start: int = 0) -> list[Any]:
        got = capture.wait_about(connector.ref_of, ref, start + count)[start:start + count]
        return [http.post(reverse("wallet_webhook", args=["praxis"]), data=c.body, content_type="application/json",
                          headers={k: v for k, v in c.headers.items() if k.lower() not in SKIPPED}) for c in got]

    yield type("Praxis", (), {"connector": connector, "provider": provider, "client": client, "deliver": deliver,
                              "sim": praxis_session})
    praxis_session.control("/_sim/faults/clear", {})


def _wallet(client: Any) -> Money:
    return balance(wallet_account_for(client=client, currency="USD"))


def _paid(praxis: Any, amount: str = "100.00") -> Any:
    deposit = deposit_create(client=praxis.client, amount=Money(amount, "USD"), method="card", return_url="")
    praxis.connector.pay(deposit.redirect_url, "approve")
    praxis.deliver(deposit.merchant_ref)
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED and deposit.provider_ref  # the sale's tid
    return deposit


def test_a_partial_refund_goes_to_praxis_by_the_sales_tid_and_debits_the_wallet_once(praxis):
    deposit = _paid(praxis)

    refund = deposit_refund(deposit=deposit, amount=Money("30.00", "USD"), actor=None, reason="client asked")
    [answer] = praxis.deliver(refund.merchant_ref)  # the refund transaction's own notification

    refund.refresh_from_db()
    deposit.refresh_from_db()
    assert answer.status_code == 200 and refund.status == "succeeded" and refund.provider_ref
    assert deposit.status == DepositStatus.PARTIALLY_REFUNDED and deposit.refunded_money == Money("30.00", "USD")
    assert _wallet(praxis.client) == Money("70.00", "USD") and ledger_verify() == {}


def test_a_card_the_processor_never_answers_for_stays_pending_until_the_look_up_finds_it_approved(praxis):
    deposit = deposit_create(client=praxis.client, amount=Money("50.00", "USD"), method="card", return_url="")
    praxis.connector.pay(deposit.redirect_url, "timeout")
    praxis.deliver(deposit.merchant_ref)  # pending
    deposit_status_refresh(deposit=deposit)
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.PENDING and _wallet(praxis.client) == Money("0", "USD")

    praxis.sim.faults({"type": "drop_webhooks", "count": 1})
    praxis.sim.control("/_sim/complete", {"order_id": deposit.merchant_ref, "approve": True})
    deposit_status_refresh(deposit=deposit)

    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED and _wallet(praxis.client) == Money("50.00", "USD")
    assert ledger_verify() == {}


def test_a_chargeback_notification_opens_a_dispute_whose_loss_takes_the_money_back(praxis):
    deposit = _paid(praxis)

    praxis.sim.control("/_sim/chargeback", {"order_id": deposit.merchant_ref})
    [answer] = praxis.deliver(deposit.merchant_ref, start=1)
    dispute = Dispute.objects.get(deposit=deposit)
    assert dispute.kind == "chargeback" and dispute.is_open
    assert dispute.reason == "Chargeback: fraud (reason 10.4)"  # Praxis's status_details, shown on the case
    dispute_outcome_record(dispute=dispute, outcome="lost", note="", actor=None)

    deposit.refresh_from_db()
    assert answer.status_code == 200 and deposit.status == DepositStatus.CHARGED_BACK
    assert _wallet(praxis.client) == Money("0", "USD") and ledger_verify() == {}


def test_a_payout_goes_to_the_cards_token_and_a_refused_token_fails(praxis):
    adapter = praxis.provider.adapter()
    client = ClientFacts(reference="C-1", country="DE")

    paid = adapter.payout(PayoutRequest(merchant_ref="wd-1", amount=Money("25.00", "USD"), method="card",
                                        destination={"card_token": "tok_abc"}, client=client))
    refused = adapter.payout(PayoutRequest(merchant_ref="wd-2", amount=Money("25.00", "USD"), method="card",
                                           destination={"card_token": "tok_fail"}, client=client))
    untokened = adapter.payout(PayoutRequest(merchant_ref="wd-3", amount=Money("25.00", "USD"), method="card",
                                             destination={"iban": "DE00"}, client=client))

    assert (paid.outcome, refused.outcome, untokened.outcome) == (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.FAILED)
    assert paid.provider_ref and untokened.reason == "no_payout_token"
    assert adapter.fetch_status(merchant_ref="wd-1").outcome == Outcome.SUCCEEDED
    assert adapter.fetch_status(merchant_ref="wd-nobody").outcome == Outcome.NOT_FOUND


def test_the_withdrawal_cashier_opens_a_session_whose_request_is_approved(praxis):
    adapter = praxis.provider.adapter()
    start = adapter.withdrawal_session(PayoutRequest(
        merchant_ref="wd-cashier-1", amount=Money("40.00", "USD"), method="card", destination={},
        client=ClientFacts(reference="C-1", country="DE"), webhook_url=f"{praxis.sim.base_url}/nowhere"))

    status, _, page = checkout(start.redirect_url, {"card_number": "4111111111111111"})

    assert "Withdraw 40.00 USD" in page and status == 200
    assert adapter.fetch_status(merchant_ref="wd-cashier-1").outcome == Outcome.SUCCEEDED
    assert Decimal(adapter.fetch_status(merchant_ref="wd-cashier-1").amount.amount) == Decimal("40.00")
