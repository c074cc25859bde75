"""Paysafe beyond the common scenarios (test_provider_conformance.py): the client picks Skrill or
Neteller on the deposit page, a refund of the payment and its webhook, a wallet payment that stays
pending until its own webhook, payouts as standalone credits, and a wrong API key refused."""

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
    PaysafeConnector,
    capture,
    paysafe_session,
)
from tests.wallet.support import checkout
from wallet.deposits import deposit_create, deposit_refund
from wallet.exceptions import ProviderRejected
from wallet.ledger import balance, ledger_verify, wallet_account_for
from wallet.models import DepositStatus
from wallet.provider_selectors import methods_for
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.providers.base import ClientFacts, Operation, Outcome, PayoutRequest

SKIPPED = {"host", "content-length", "content-type", "connection", "accept-encoding", "user-agent"}


@pytest.fixture
def paysafe(db: Any, paysafe_session: Any, capture: Capture, settings: Any) -> Any:  # noqa: F811
    paysafe_session.control("/_sim/faults/clear", {})
    settings.CRM_PUBLIC_URL = capture.base
    connector = PaysafeConnector(paysafe_session)
    brand = make_brand()
    provider = connector.methods(brand)
    payment_method_save(brand=brand, method="neteller", direction="deposit", provider=provider,
                        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))], order=11)
    client = make_client(brand=brand, country="DE", stage=Stage.VERIFIED, first_name="Ann", last_name="Smith")
    http = HttpClient()

    def deliver(ref: str, count: int = 1, start: int = 0) -> list[Any]:
        got = capture.wait_about(connector.ref_of, ref, start + count)[start:start + count]
        return [http.post(reverse("wallet_webhook", args=["paysafe"]), data=c.body, content_type="application/json",
                          headers={k: v for k, v in c.headers.items() if k.lower() not in SKIPPED}) for c in got]

    yield type("Paysafe", (), {"connector": connector, "provider": provider, "client": client, "deliver": deliver,
                               "sim": paysafe_session, "brand": brand})
    paysafe_session.control("/_sim/faults/clear", {})


def _wallet(client: Any) -> Money:
    return balance(wallet_account_for(client=client, currency="USD"))


def _paid(paysafe: Any, amount: str = "100.00", method: str = "skrill") -> Any:
    deposit = deposit_create(client=paysafe.client, amount=Money(amount, "USD"), method=method, return_url="")
    paysafe.connector.pay(deposit.redirect_url, "approve")
    paysafe.deliver(deposit.merchant_ref)
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED and deposit.provider_ref  # the payment's id
    return deposit


def test_the_client_picks_skrill_or_neteller_and_pays_in_that_wallet(paysafe):
    offered = [option.method for option in methods_for(brand=paysafe.brand, country="DE", currency="USD",
                                                        direction="deposit")]
    assert {"skrill", "neteller"} <= set(offered)

    deposit = deposit_create(client=paysafe.client, amount=Money("20.00", "USD"), method="neteller", return_url="")
    _, _, page = checkout(deposit.redirect_url, {"account": "ann@example.com"})

    assert "Pay 20.00 USD with Neteller" in page
    paysafe.deliver(deposit.merchant_ref)
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED and _wallet(paysafe.client) == Money("20.00", "USD")


def test_a_partial_refund_goes_to_the_payments_settlement_and_debits_the_wallet_once(paysafe):
    deposit = _paid(paysafe)

    refund = deposit_refund(deposit=deposit, amount=Money("30.00", "USD"), actor=None, reason="client asked")
    [answer] = paysafe.deliver(refund.merchant_ref)  # REFUND_COMPLETED

    refund.refresh_from_db()
    deposit.refresh_from_db()
    assert answer.status_code == 200 and refund.status == "succeeded" and refund.provider_ref
    assert deposit.status == DepositStatus.PARTIALLY_REFUNDED and deposit.refunded_money == Money("30.00", "USD")
    assert _wallet(paysafe.client) == Money("70.00", "USD") and ledger_verify() == {}


def test_a_payment_the_wallet_leaves_pending_is_credited_on_its_completed_webhook_once(paysafe):
    deposit = deposit_create(client=paysafe.client, amount=Money("50.00", "USD"), method="skrill", return_url="")
    paysafe.connector.pay(deposit.redirect_url, "timeout")
    [payable] = paysafe.deliver(deposit.merchant_ref)
    deposit.refresh_from_db()
    assert payable.status_code == 200 and deposit.status == DepositStatus.PENDING
    assert _wallet(paysafe.client) == Money("0", "USD")

    paysafe.sim.control("/_sim/complete", {"merchantRefNum": deposit.merchant_ref, "approve": True})
    [completed] = paysafe.deliver(deposit.merchant_ref, start=1)
    [again] = paysafe.deliver(deposit.merchant_ref, start=1)

    deposit.refresh_from_db()
    assert (completed.status_code, again.status_code) == (200, 200)
    assert deposit.status == DepositStatus.SUCCEEDED and _wallet(paysafe.client) == Money("50.00", "USD")
    assert ledger_verify() == {}


def test_a_payout_is_a_standalone_credit_to_the_wallets_address_and_a_refused_one_fails(paysafe):
    adapter = paysafe.provider.adapter()
    client = ClientFacts(reference="C-1", country="DE", email="ann@example.com")

    paid = adapter.payout(PayoutRequest(merchant_ref="wd-1", amount=Money("25.00", "USD"), method="skrill",
                                        destination={"skrill": "ann@example.com"}, client=client))
    refused = adapter.payout(PayoutRequest(merchant_ref="wd-2", amount=Money("25.00", "USD"), method="neteller",
                                           destination={"neteller": "fail@example.com"}, client=client))
    nowhere = adapter.payout(PayoutRequest(merchant_ref="wd-3", amount=Money("25.00", "USD"), method="skrill",
                                           destination={"iban": "DE00"}, client=client))

    assert (paid.outcome, refused.outcome, nowhere.outcome) == (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.FAILED)
    assert paid.provider_ref and nowhere.reason == "no_wallet_account"
    assert adapter.fetch_status(merchant_ref="wd-1", operation=Operation.PAYOUT).outcome == Outcome.SUCCEEDED
    assert adapter.fetch_status(merchant_ref="wd-nobody", operation=Operation.PAYOUT).outcome == Outcome.NOT_FOUND


def test_a_wrong_api_password_is_refused_and_nothing_is_asked_for(paysafe):
    wrong = payment_provider_save(code="paysafe-wrong", name="Paysafe", kind="paysafe",
                                  base_url=paysafe.sim.base_url + "/paymenthub/v1", api_key="paysafe-test-merchant",
                                  api_secret="not-the-password", webhook_secret="k")

    with pytest.raises(ProviderRejected):
        wrong.adapter().fetch_status(merchant_ref="dep-anything")
