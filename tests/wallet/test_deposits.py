"""Deposits against the PSP simulator process: checkout, webhooks through the inbox (repeated,
reordered, concurrent), the wallet credited once, the first-deposit event, failures, expiry,
refunds and chargebacks with their ledger postings."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from crm.events import dispatch_pending
from crm.exceptions import ValidationFailed
from crm.lib.money import Money
from crm.models import Event, Stage
from tests.factories import make_brand, make_client
from tests.waiting import wait_until
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET
from tests.wallet.support import checkout
from wallet.deposits import (
    IllegalTransition,
    deposit_cancel,
    deposit_create,
    deposit_refund,
    deposit_status_refresh,
    deposits_refresh_due,
)
from wallet.disputes import dispute_outcome_record
from wallet.ledger import (
    Leg,
    available,
    balance,
    clearing_account_for,
    client_debt_account_for,
    ledger_post,
    ledger_verify,
    system_account_for,
    wallet_account_for,
)
from wallet.models import AccountKind, Deposit, DepositStatus, Dispute, WebhookDelivery
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.webhooks import webhook_receive

CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_3DS = "4000000000003220"
RETURN = "https://crm.example.com/portal/wallet/deposit/return/"


class World:
    def __init__(self, psp, hooks):
        self.psp, self.hooks = psp, hooks
        self.provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator",
                                              base_url=psp.base_url, api_key=API_KEY, api_secret=API_SECRET,
                                              webhook_secret=WEBHOOK_SECRET)
        self.brand = make_brand()
        payment_method_save(brand=self.brand, method="card", direction="deposit", provider=self.provider, currencies=[
            CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("0.50"))], order=10)
        payment_method_save(brand=self.brand, method="ewallet", direction="deposit", provider=self.provider,
                            currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))], order=20)
        self.client = make_client(brand=self.brand, country="DE", stage=Stage.VERIFIED)

    def deliver(self, deposit, count=1, *, start=0):
        """Hand the simulator's webhooks about ``deposit`` to the inbox, as the endpoint would."""
        got = self.hooks.wait_of(deposit.merchant_ref, start + count)[start:start + count]
        return [webhook_receive(provider_code="psp-sim", headers=c.headers, body=c.body) for c in got]

    def wallet(self, client=None):
        return wallet_account_for(client=client or self.client, currency="USD")


@pytest.fixture
def world(db, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    return World(psp, hooks)


def _pay(world, amount="100.00", card=CARD_OK, method="card", client=None):
    deposit = deposit_create(client=client or world.client, amount=Money(amount, "USD"), method=method,
                             return_url=RETURN)
    assert deposit.status == DepositStatus.PENDING and deposit.redirect_url
    form = {"card_number": card} if method == "card" else {"email": "ann@example.com"}
    checkout(deposit.redirect_url, form)
    return deposit


def test_a_paid_card_deposit_credits_the_wallet_once_and_emits_the_first_deposit(world):
    deposit = _pay(world)
    [receipt] = world.deliver(deposit)

    deposit.refresh_from_db()
    assert receipt.outcome == "accepted" and deposit.status == DepositStatus.SUCCEEDED
    assert balance(world.wallet()) == Money("99.50", "USD")  # 100 less the 0.50 fee
    fees = system_account_for(kind=AccountKind.FEES, currency="USD", brand=world.brand)
    assert balance(fees) == Money("0.50", "USD")
    clearing = clearing_account_for(provider="psp-sim", currency="USD", brand=world.brand)
    assert balance(clearing) == Money("-100.00", "USD")
    [ftd] = Event.objects.filter(name="wallet.first_deposit")
    assert ftd.client_id == world.client.pk
    assert ftd.data == {"deposit": str(deposit.code), "amount": "99.50", "currency": "USD", "method": "card"}
    [ok] = Event.objects.filter(name="wallet.deposit_succeeded")
    assert ok.data["first"] is True and ok.data["amount"] == "100.00" and ok.data["fee"] == "0.50"
    assert deposit.is_first and ledger_verify() == {}
    dispatch_pending()
    world.client.refresh_from_db()
    assert world.client.stage == Stage.FUNDED


def test_a_second_deposit_is_not_a_first_deposit(world):
    world.deliver(_pay(world))
    second = _pay(world, amount="50.00", method="ewallet")
    world.deliver(second)

    assert balance(world.wallet()) == Money("149.50", "USD")
    assert Event.objects.filter(name="wallet.first_deposit").count() == 1
    assert Event.objects.filter(name="wallet.deposit_succeeded").count() == 2
    second.refresh_from_db()
    assert not second.is_first


def test_a_repeated_webhook_changes_nothing(world):
    world.psp.faults({"type": "duplicate_webhooks", "copies": 2, "count": 1})
    deposit = _pay(world)

    receipts = world.deliver(deposit, 3)

    assert sorted(r.outcome for r in receipts) == ["accepted", "duplicate", "duplicate"]
    assert balance(world.wallet()) == Money("99.50", "USD")
    assert Event.objects.filter(name="wallet.deposit_succeeded").count() == 1


def test_webhooks_out_of_order_follow_the_sequence(world):
    world.psp.faults({"type": "reorder_webhooks", "count": 2})
    deposit = deposit_create(client=world.client, amount=Money("100", "USD"), method="card", return_url=RETURN)
    checkout(deposit.redirect_url, {"card_number": CARD_3DS})
    checkout(deposit.redirect_url, {"decision": "approve"}, suffix="/3ds")

    receipts = world.deliver(deposit, 2)  # succeeded first, then the older "pending"

    deposit.refresh_from_db()
    assert [r.message.kind for r in receipts] == ["deposit_succeeded", "deposit_pending"]
    assert deposit.status == DepositStatus.SUCCEEDED and deposit.provider_sequence == 2
    assert balance(world.wallet()) == Money("99.50", "USD")


def test_a_late_success_after_a_failure_is_credited_by_its_sequence(world):
    """The provider's later word wins: a failed deposit that it then reports paid is credited."""
    from wallet.deposits import deposit_webhook_apply
    from wallet.providers.base import WebhookKind, WebhookMessage

    deposit = _pay(world, card=CARD_DECLINED)
    world.deliver(deposit)
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.FAILED and balance(world.wallet()) == Money("0", "USD")
    late = WebhookMessage(kind=WebhookKind.DEPOSIT_SUCCEEDED, event_id="evt_late", provider_ref=deposit.provider_ref,
                          merchant_ref=deposit.merchant_ref, amount=Money("100", "USD"), fee=None,
                          occurred_at=timezone.now(), sequence=deposit.provider_sequence + 1)
    stale = WebhookMessage(kind=WebhookKind.DEPOSIT_FAILED, event_id="evt_stale", provider_ref=deposit.provider_ref,
                           merchant_ref=deposit.merchant_ref, amount=None, fee=None, occurred_at=timezone.now(),
                           sequence=1)

    assert deposit_webhook_apply(world.provider, late) and deposit_webhook_apply(world.provider, stale)

    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED and balance(world.wallet()) == Money("99.50", "USD")


def test_a_declined_card_fails_the_deposit_with_a_message_and_moves_no_money(world):
    deposit = _pay(world, card=CARD_DECLINED)
    world.deliver(deposit)

    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.FAILED and deposit.status_message == "The card was declined."
    assert balance(world.wallet()) == Money("0", "USD")
    assert not Event.objects.filter(name__startswith="wallet.").exists()


def test_bad_input_is_refused_naming_the_field_and_writes_nothing(world):
    with pytest.raises(ValidationFailed) as small:
        deposit_create(client=world.client, amount=Money("5", "USD"), method="card", return_url=RETURN)
    with pytest.raises(ValidationFailed) as method:
        deposit_create(client=world.client, amount=Money("50", "USD"), method="crypto", return_url=RETURN)
    with pytest.raises(ValidationFailed) as currency:
        deposit_create(client=world.client, amount=Money("50", "EUR"), method="card", return_url=RETURN)

    assert "minimum" in small.value.fields["amount"][0]
    assert "method" in method.value.fields and "method" in currency.value.fields
    assert not Deposit.objects.exists()


def test_a_provider_that_refuses_leaves_the_deposit_failed_and_one_that_is_silent_unknown(world):
    payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=world.psp.base_url,
                          api_key=API_KEY, api_secret="wrong-secret")
    refused = deposit_create(client=world.client, amount=Money("20", "USD"), method="card", return_url=RETURN)
    assert refused.status == DepositStatus.FAILED and "refused" in refused.status_message
    payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url="http://127.0.0.1:9",
                          api_key=API_KEY, api_secret=API_SECRET)
    silent = deposit_create(client=world.client, amount=Money("20", "USD"), method="card", return_url=RETURN)
    assert silent.status in {DepositStatus.UNKNOWN, DepositStatus.FAILED}
    assert balance(world.wallet()) == Money("0", "USD")


def test_a_lost_webhook_is_found_by_the_status_lookup_and_an_unpaid_deposit_expires(world, settings):
    world.psp.faults({"type": "drop_webhooks", "count": 1})
    paid = _pay(world)
    unpaid = deposit_create(client=world.client, amount=Money("30", "USD"), method="card", return_url=RETURN)

    deposit_status_refresh(deposit=paid)
    assert deposit_status_refresh(deposit=unpaid).status == DepositStatus.PENDING
    settings.WALLET_DEPOSIT_EXPIRY_MINUTES = 0
    settings.WALLET_DEPOSIT_REFRESH_AFTER_MINUTES = 0
    assert deposits_refresh_due() == 1

    paid.refresh_from_db()
    unpaid.refresh_from_db()
    assert paid.status == DepositStatus.SUCCEEDED and unpaid.status == DepositStatus.EXPIRED
    assert balance(world.wallet()) == Money("99.50", "USD")


def test_the_client_cancels_an_open_deposit_but_not_a_paid_one(world):
    open_one = deposit_create(client=world.client, amount=Money("30", "USD"), method="card", return_url=RETURN)
    assert deposit_cancel(deposit=open_one).status == DepositStatus.CANCELLED
    paid = _pay(world)
    world.deliver(paid)
    with pytest.raises(IllegalTransition):
        deposit_cancel(deposit=paid)
    assert [c.to_status for c in open_one.status_changes.all()] == ["created", "pending", "cancelled"]


def test_a_full_refund_reverses_the_credit_and_a_partial_one_debits_the_part(world):
    from tests.factories import make_user

    staff = make_user(all_brands=True)
    full = _pay(world)
    world.deliver(full)
    refund = deposit_refund(deposit=full, amount=Money("100", "USD"), actor=staff, reason="client asked")
    full.refresh_from_db()
    assert refund.status == "succeeded" and full.status == DepositStatus.REFUNDED
    assert refund.transaction.reverses_id == full.credit_transaction_id
    assert balance(world.wallet()) == Money("0", "USD")

    part = _pay(world, amount="200.00")
    world.deliver(part)
    half = deposit_refund(deposit=part, amount=Money("50", "USD"), actor=staff, reason="half")
    part.refresh_from_db()
    assert part.status == DepositStatus.PARTIALLY_REFUNDED and balance(world.wallet()) == Money("149.50", "USD")
    # The refund's own webhook, arriving afterwards, is known and changes nothing.
    [receipt] = world.deliver(half)
    assert receipt.outcome == "accepted"
    assert balance(world.wallet()) == Money("149.50", "USD") and ledger_verify() == {}
    with pytest.raises(ValidationFailed) as too_much:
        deposit_refund(deposit=part, amount=Money("151", "USD"), actor=staff, reason="more")
    assert "amount" in too_much.value.fields


def _lose(deposit):
    """Finance loses the dispute the chargeback opened (wallet.disputes): the wallet is debited."""
    dispute_outcome_record(dispute=Dispute.objects.get(deposit=deposit), outcome="lost", note="", actor=None)


def test_a_lost_chargeback_debits_the_wallet_and_after_spending_makes_client_debt(world):
    unspent = _pay(world)
    world.deliver(unspent)
    world.psp.control("/_sim/chargeback", {"payment_id": unspent.provider_ref, "reason": "fraud"})
    world.deliver(unspent, 1, start=1)
    _lose(unspent)
    unspent.refresh_from_db()
    assert unspent.status == DepositStatus.CHARGED_BACK and balance(world.wallet()) == Money("0", "USD")

    spent = _pay(world, amount="300.00")
    world.deliver(spent)
    bank = system_account_for(kind=AccountKind.BANK, currency="USD", brand=world.brand)
    ledger_post(key="spend-1", kind="withdrawal", legs=[Leg(world.wallet(), Money("-250", "USD")),
                                                        Leg(bank, Money("250", "USD"))])
    world.psp.control("/_sim/chargeback", {"payment_id": spent.provider_ref, "reason": "fraud"})
    world.deliver(spent, 1, start=1)
    _lose(spent)

    debt = client_debt_account_for(client=world.client, currency="USD")
    assert balance(world.wallet()) == Money("0", "USD")
    assert balance(debt) == Money("-250.00", "USD")  # 299.50 charged back, 49.50 was left
    [owed] = Event.objects.filter(name="wallet.client_debt")
    assert owed.data["shortfall"] == "250.00"
    assert ledger_verify() == {}


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_deliveries_of_one_webhook_credit_once(psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    world = World(psp, hooks)
    deposit = _pay(world)
    [captured] = hooks.wait_of(deposit.merchant_ref, 1)
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def deliver():
        try:
            barrier.wait()
            outcomes.append(webhook_receive(provider_code="psp-sim", headers=captured.headers,
                                            body=captured.body).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["accepted"] + ["duplicate"] * 19
    assert balance(world.wallet()) == Money("99.50", "USD")
    assert Event.objects.filter(name="wallet.first_deposit").count() == 1
    assert WebhookDelivery.objects.filter(outcome="accepted").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_simulator_posts_its_webhook_to_the_live_endpoint(psp, hooks, live_server, settings):
    settings.CRM_PUBLIC_URL = live_server.url
    world = World(psp, hooks)
    deposit = deposit_create(client=world.client, amount=Money("100", "USD"), method="card", return_url=RETURN)

    status, location, _ = checkout(deposit.redirect_url, {"card_number": CARD_OK})

    assert status == 303 and location.startswith(RETURN)
    def succeeded() -> bool:
        deposit.refresh_from_db()
        return deposit.status == DepositStatus.SUCCEEDED

    wait_until(succeeded, timeout=10, what="the deposit to succeed")
    assert deposit.status == DepositStatus.SUCCEEDED
    assert available(world.wallet()) == Money("99.50", "USD")
