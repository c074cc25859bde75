"""Where the wallet meets the commission engine: a card deposit paid through the PSP simulator (a
separate process), its signed webhook taken by the wallet's inbox and the domain events delivered,
reaches the partner's CPA line; the simulator's chargeback claws it back; a refund is recorded too.
Everything is built through the services and the sync's deal upsert, nothing by writing rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.events import dispatch_pending
from crm.lib.money import Money
from crm.models import Event
from ib import commissions as cs
from ib import selectors
from ib.models import ClientChargeback, ClientDeposit, CommissionLine
from tests.ib.engine_world import make_world, round_trip, store
from tests.waiting import wait_until
from tests.wallet import conftest as wallet_fixtures
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET
from tests.wallet.support import checkout
from wallet.deposits import deposit_create, deposit_refund
from wallet.disputes import dispute_outcome_record
from wallet.models import DepositStatus, Dispute
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.webhooks import webhook_receive

# The wallet tests' simulator process and webhook capture server, shared here.
psp_session = wallet_fixtures.psp_session
psp = wallet_fixtures.psp
hooks = wallet_fixtures.hooks

D = Decimal
CARD_OK = "4242424242424242"
RETURN = "https://crm.example.com/portal/wallet/deposit/return/"
CPA = [{"code": "cpa", "kind": "cpa", "level_rates": ["200", "50"], "cpa_min_deposit": "100", "cpa_min_lots": "1",
        "cpa_within_days": 30}]


@pytest.fixture
def world(db, psp, hooks, settings):
    """Master → Sub → Leaf with a CPA plan (200 to Leaf, 50 to Sub: a first deposit of 100 and a
    lot within 30 days); Leaf's client pays by card through the simulator."""
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    w = make_world(plan_rules=CPA)
    provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    payment_method_save(brand=w.brand, method="card", direction="deposit", provider=provider, currencies=[
        CurrencyRule("USD", D("10"), D("5000"), D("0.50"))], order=10)
    w.psp, w.hooks = psp, hooks
    return w


def _deliver(w, payment, index: int) -> str:
    """The simulator's webhook number `index` about `payment` (a deposit or a refund), handed to the wallet's inbox as the
    endpoint does, then the domain events delivered to their handlers."""
    captured = w.hooks.wait_of(payment.merchant_ref, index + 1, timeout=30)[index]
    receipt = webhook_receive(provider_code="psp-sim", headers=captured.headers, body=captured.body)
    dispatch_pending()
    return receipt.outcome


def _pay(w, amount: str):
    deposit = deposit_create(client=w.client, amount=Money(amount, "USD"), method="card", return_url=RETURN)
    checkout(deposit.redirect_url, {"card_number": CARD_OK})
    assert _deliver(w, deposit, 0) == "accepted"
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
    return deposit


def _month(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date().replace(day=1)


def test_a_card_deposit_paid_through_the_simulator_earns_the_cpa_and_its_chargeback_claws_it_back(world):
    from ib.handlers import deposit_fact, deposit_reversal_fact

    w = world
    deposit = _pay(w, "250.00")

    # The deposit is the engine's fact once, in its own currency, and the partner sees it.
    [fact] = ClientDeposit.objects.filter(client=w.client)
    assert (fact.amount, fact.currency, fact.source) == (D("250"), "USD", "wallet")
    [row] = selectors.partner_client_rows(w.leaf, selectors.partner_client_attributions(w.leaf))
    assert [(a.amount, a.currency) for a in row.deposits] == [(D("250.00"), "USD")]
    # The same webhook again is a duplicate, and a replayed event records nothing twice.
    assert _deliver(w, deposit, 0) == "duplicate"
    deposit_fact(Event.objects.get(name="wallet.deposit_succeeded", client=w.client))
    assert ClientDeposit.objects.filter(client=w.client).count() == 1

    # The client trades 1.2 lots after the deposit (through the sync's upsert): qualified at the close.
    closed = fact.at + dt.timedelta(seconds=2)
    store(w, round_trip(w.account, opened=fact.at + dt.timedelta(seconds=1), closed=closed, volume="1.2"))
    wait_until(lambda: timezone.now() > closed, what="the close to be in the past")
    run = cs.commission_run(actor=None, brand=w.brand, period=_month(closed))
    cpa = {line.beneficiary.display_name: line.amount
           for line in CommissionLine.objects.filter(run=run, source_kind="cpa").select_related("beneficiary")}
    assert cpa == {"Leaf": D("200"), "Sub": D("50")}

    # The simulator charges the payment back: its signed webhook, then the engine claws the CPA back.
    w.psp.control("/_sim/chargeback", {"payment_id": deposit.provider_ref, "reason": "fraud"})
    assert _deliver(w, deposit, 1) == "accepted"
    assert not ClientChargeback.objects.filter(client=w.client).exists()  # disputed: nothing clawed back yet
    # Finance loses the dispute the chargeback opened (wallet.disputes): then the engine hears of it.
    dispute_outcome_record(dispute=Dispute.objects.get(deposit=deposit), outcome="lost", note="", actor=None)
    dispatch_pending()
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.CHARGED_BACK
    [chargeback] = ClientChargeback.objects.filter(client=w.client)
    assert (chargeback.kind, chargeback.amount, chargeback.currency) == ("chargeback", D("250"), "USD")
    later = cs.commission_run(actor=None, brand=w.brand, period=_month(chargeback.at))
    clawed = {line.beneficiary.display_name: line.amount for line in
              CommissionLine.objects.filter(run=later, source_kind="chargeback").select_related("beneficiary")}
    assert clawed == {"Leaf": D("-200"), "Sub": D("-50")}
    deposit_reversal_fact(Event.objects.get(name="wallet.deposit_charged_back", client=w.client))
    assert ClientChargeback.objects.filter(client=w.client).count() == 1


def test_a_refund_through_the_simulator_is_recorded_once_against_the_cpa(world):
    from ib.handlers import deposit_reversal_fact
    from tests.factories import make_user

    w = world
    deposit = _pay(w, "300.00")
    refund = deposit_refund(deposit=deposit, amount=Money("120", "USD"), actor=make_user(all_brands=True),
                            reason="asked")
    dispatch_pending()
    # The refund's own webhook arrives afterwards and changes nothing.
    assert _deliver(w, refund, 0) == "accepted"
    [fact] = ClientChargeback.objects.filter(client=w.client)
    assert (fact.kind, fact.amount, fact.currency) == ("refund", D("120"), "USD")
    deposit_reversal_fact(Event.objects.get(name="wallet.deposit_refunded", client=w.client))
    assert ClientChargeback.objects.filter(client=w.client).count() == 1
