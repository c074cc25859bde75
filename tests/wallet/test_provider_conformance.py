"""The conformance suite: every payment connector (tests/wallet/connectors.py: the PSP simulator's,
Praxis Cashier's, Paysafe's and CoinsPaid's), every scenario its simulator plays, through the public path (the client pays
on the simulator's hosted page, the simulator's notifications are posted to the webhook endpoint),
and the ledger checked after each: nothing credited twice, nothing on a bad signature, a different
amount credited as the provider confirmed it with the difference open in reconciliation, another
currency held for finance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import Event, Stage
from tests.factories import make_brand, make_client
from tests.wallet.connectors import (  # noqa: F401 - fixtures
    CONNECTORS,
    Capture,
    Captured,
    Connector,
    capture,
    coinspaid_session,
    paysafe_session,
    praxis_session,
)
from wallet.deposits import deposit_create, deposit_status_refresh
from wallet.ledger import balance, ledger_verify, wallet_account_for
from wallet.models import BreakKind, Deposit, DepositStatus, ReconciliationBreak, WebhookDelivery
from wallet.three_ds import deposit_three_ds

RETURN = "https://crm.example.com/portal/wallet/deposit/return/"
# The 3-D Secure result each connector's deposit keeps after the 3-D Secure scenario (approved, failed).
THREE_DS = {"praxis": {True: "challenge", False: "not_authenticated"}}
SKIPPED_HEADERS = {"host", "content-length", "content-type", "connection", "accept-encoding", "user-agent"}


class World:
    def __init__(self, connector: Connector, sink: Capture) -> None:
        self.connector, self.capture = connector, sink
        self.brand = make_brand()
        self.provider = connector.methods(self.brand)
        self.client = make_client(brand=self.brand, country="DE", stage=Stage.VERIFIED, first_name="Ann",
                                  last_name="Smith")
        self.http = HttpClient()

    def deposit(self, card: str = "approve", amount: str = "100.00") -> Deposit:
        deposit = deposit_create(client=self.client, amount=Money(amount, "USD"), method=self.connector.method,
                                 return_url=RETURN)
        assert deposit.status == DepositStatus.PENDING
        self.connector.start(deposit, card)
        return deposit

    def post(self, got: Captured) -> Any:
        """A notification posted to the webhook endpoint as the simulator sent it."""
        headers = {k: v for k, v in got.headers.items() if k.lower() not in SKIPPED_HEADERS}
        return self.http.post(reverse("wallet_webhook", args=[self.connector.code]), data=got.body,
                              content_type="application/json", headers=headers)

    def deliver(self, deposit: Deposit, count: int = 1, *, start: int = 0) -> list[Any]:
        got = self.capture.wait_about(self.connector.ref_of, deposit.merchant_ref, start + count)[start:start + count]
        return [self.post(c) for c in got]

    def wallet(self, currency: str = "USD") -> Money:
        return balance(wallet_account_for(client=self.client, currency=currency))

    def outcomes(self, deposit: Deposit) -> list[str]:
        return sorted(WebhookDelivery.objects.filter(merchant_ref=deposit.merchant_ref).values_list("outcome", flat=True))

    def settled(self, deposit: Deposit, status: str, credited: str) -> Deposit:
        """The deposit's status and the wallet after the scenario, and the ledger still balanced."""
        deposit.refresh_from_db()
        assert deposit.status == status, deposit.status_message
        assert self.wallet() == Money(credited, "USD")
        assert ledger_verify() == {}
        return deposit


@pytest.fixture(params=list(CONNECTORS))
def world(request: pytest.FixtureRequest, db: Any, capture: Capture, settings: Any) -> World:  # noqa: F811
    fixture, connector_class = CONNECTORS[request.param]
    sim = request.getfixturevalue(fixture)
    sim.control("/_sim/faults/clear", {})
    request.addfinalizer(lambda: sim.control("/_sim/faults/clear", {}))
    settings.CRM_PUBLIC_URL = capture.base
    return World(connector_class(sim), capture)


def test_an_approved_card_is_credited_once_however_often_its_notification_is_replayed(world):
    deposit = world.deposit("approve")
    [answer] = world.deliver(deposit)

    assert answer.status_code == 200
    world.settled(deposit, DepositStatus.SUCCEEDED, "100.00")
    [replayed] = [world.post(c) for c in world.capture.about(world.connector.ref_of, deposit.merchant_ref)]
    assert replayed.status_code == 200
    world.settled(deposit, DepositStatus.SUCCEEDED, "100.00")
    assert world.outcomes(deposit) == ["accepted", "duplicate"]
    assert Event.objects.filter(name="wallet.deposit_succeeded").count() == 1


def test_the_client_comes_back_to_the_return_address_naming_the_deposit(world):
    """Whatever the provider adds to the return address (Praxis its order_id, Paysafe nothing), the
    client lands on it with the deposit's reference, which the trader's room looks the deposit up by."""
    deposit = deposit_create(client=world.client, amount=Money("100.00", "USD"), method=world.connector.method,
                             return_url=RETURN)
    if not deposit.redirect_url:
        pytest.skip("no hosted page: the client pays from a wallet of its own")

    status, location, _ = world.connector.pay(deposit.redirect_url, "approve")

    assert status == 303 and location.startswith(RETURN), (status, location)
    assert set(parse_qs(urlsplit(location).query)["merchant_ref"]) == {deposit.merchant_ref}


def test_a_declined_card_fails_and_moves_no_money(world):
    deposit = world.deposit("decline")
    world.deliver(deposit)

    deposit = world.settled(deposit, DepositStatus.FAILED, "0")
    assert deposit.status_message


@pytest.mark.parametrize("approve", [True, False], ids=["3ds-approved", "3ds-failed"])
def test_a_3ds_step_waits_pending_then_ends_as_the_client_answered(world, approve):
    deposit = world.deposit("3ds")
    [pending] = world.deliver(deposit)
    world.settled(deposit, DepositStatus.PENDING, "0")
    assert pending.status_code == 200

    world.connector.three_ds(deposit.redirect_url, approve=approve)
    world.deliver(deposit, start=1)

    if approve:
        deposit = world.settled(deposit, DepositStatus.SUCCEEDED, "100.00")
    else:
        deposit = world.settled(deposit, DepositStatus.FAILED, "0")
    # What the provider reported of 3-D Secure is kept on the deposit (Praxis: the sale's pending_async
    # sent the card to the challenge; the others' simulators report nothing of it).
    assert deposit_three_ds(deposit) == THREE_DS.get(world.connector.code, {}).get(approve, "")


def test_a_notification_that_never_comes_is_resolved_by_the_status_lookup_once(world):
    world.connector.fault(type="drop_webhooks", count=1)
    deposit = world.deposit("approve")
    world.settled(deposit, DepositStatus.PENDING, "0")

    deposit_status_refresh(deposit=deposit)
    deposit_status_refresh(deposit=deposit)

    world.settled(deposit, DepositStatus.SUCCEEDED, "100.00")


def test_a_partial_approval_credits_what_the_provider_confirmed_and_reconciliation_shows_the_rest(world):
    world.connector.fault(type="paid_amount", amount="60.00", count=1)
    deposit = world.deposit("approve")
    world.deliver(deposit)

    deposit = world.settled(deposit, DepositStatus.SUCCEEDED, "60.00")
    assert deposit.requested_money == Money("100.00", "USD")
    [gap] = ReconciliationBreak.objects.filter(kind=BreakKind.AMOUNT_MISMATCH, provider=world.provider)
    assert gap.difference == Decimal("-40.00")


def test_a_larger_confirmed_amount_is_credited_and_the_difference_is_open(world):
    world.connector.fault(type="paid_amount", amount="120.00", count=1)
    deposit = world.deposit("approve")
    world.deliver(deposit)

    world.settled(deposit, DepositStatus.SUCCEEDED, "120.00")
    [gap] = ReconciliationBreak.objects.filter(kind=BreakKind.AMOUNT_MISMATCH, provider=world.provider)
    assert gap.difference == Decimal("20.00")


def test_another_currency_than_asked_is_held_for_finance_and_credits_nothing(world):
    world.connector.fault(type="paid_amount", amount="100.00", currency="EUR", count=1)
    deposit = world.deposit("approve")
    world.deliver(deposit)

    deposit = world.settled(deposit, DepositStatus.HELD, "0")
    assert deposit.money == Money("100.00", "EUR") and deposit.requested_money == Money("100.00", "USD")
    assert world.wallet("EUR") == Money("0", "EUR")
    assert Event.objects.filter(name="wallet.deposit_held").count() == 1


def test_duplicate_notifications_credit_once(world):
    world.connector.fault(type="duplicate_webhooks", copies=2, count=1)
    deposit = world.deposit("approve")
    answers = world.deliver(deposit, 3)

    assert [a.status_code for a in answers] == [200, 200, 200]
    world.settled(deposit, DepositStatus.SUCCEEDED, "100.00")
    assert world.outcomes(deposit) == ["accepted", "duplicate", "duplicate"]
    assert Event.objects.filter(name="wallet.deposit_succeeded").count() == 1


def test_an_older_status_arriving_after_a_newer_one_changes_nothing(world):
    world.connector.fault(type="reorder_webhooks", count=2)
    deposit = world.deposit("3ds")
    world.connector.three_ds(deposit.redirect_url, approve=True)
    world.deliver(deposit, 2)  # the approval first, then the older "pending"

    deposit = world.settled(deposit, DepositStatus.SUCCEEDED, "100.00")
    assert world.outcomes(deposit) == ["accepted", "accepted"]
    assert deposit_three_ds(deposit) == THREE_DS.get(world.connector.code, {}).get(True, "")  # kept all the same


def test_a_notification_about_an_unknown_order_is_refused_for_a_retry_and_moves_no_money(world):
    deposit = world.deposit("approve")
    world.deliver(deposit)

    answer = world.post(world.connector.unknown_order(world.capture))

    assert answer.status_code == 404
    assert WebhookDelivery.objects.filter(outcome="unknown_payment").count() == 1
    world.settled(deposit, DepositStatus.SUCCEEDED, "100.00")


def test_a_bad_signature_is_refused_and_credits_nothing(world):
    world.connector.fault(type="webhook_bad_signature", count=1)
    deposit = world.deposit("approve")
    [answer] = world.deliver(deposit)

    assert answer.status_code == 401
    world.settled(deposit, DepositStatus.PENDING, "0")
    # Refused before anybody read it: the row keeps the body, not the reference it claims.
    assert list(WebhookDelivery.objects.values_list("outcome", flat=True)) == ["refused:bad_signature"]
