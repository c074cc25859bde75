"""Payment notifications applied in batches by the worker (wallet.webhook_batches), as in production:
the provider is answered once the notification is stored; the worker credits the deposit, each
notification exactly once, one failing notification never holding back the others."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from crm.lib.money import Money
from crm.lib.redis import get_redis
from crm.models import Event
from tests.wallet.conftest import WEBHOOK_SECRET
from tests.wallet.support import signed_webhook
from tests.wallet.test_deposits import World, _pay
from wallet import tasks, webhook_batches
from wallet.instruments import PayerDetails
from wallet.ledger import balance, ledger_verify
from wallet.models import Deposit, DepositStatus, WebhookDelivery, WebhookOutcome
from wallet.providers.base import WebhookKind, WebhookMessage
from wallet.webhook_batches import (
    QUEUED_KEY,
    message_dump,
    message_load,
    webhook_batches_apply,
    webhook_batches_run,
    webhook_batches_sweep,
)
from wallet.webhooks import webhook_receive


@pytest.fixture
def world(db, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    settings.WALLET_WEBHOOK_BATCHES = True
    settings.WALLET_WEBHOOK_BATCH_INLINE = False  # production's: the worker applies them
    return World(psp, hooks)


@pytest.fixture
def queued(monkeypatch):
    """The runs of the worker's task the trigger queued (not run: the test runs the worker itself)."""
    runs: list[int] = []
    monkeypatch.setattr(tasks.webhook_batches_apply, "delay", lambda: runs.append(1))
    get_redis().delete(QUEUED_KEY)
    yield runs
    get_redis().delete(QUEUED_KEY)


def _status(deposit: Deposit) -> str:
    deposit.refresh_from_db()
    return deposit.status


def test_a_paid_deposit_is_answered_once_stored_and_credited_by_the_worker_once(
        world, queued, django_capture_on_commit_callbacks):
    deposit = _pay(world)
    with django_capture_on_commit_callbacks(execute=True):
        [receipt] = world.deliver(deposit)

    assert receipt.outcome == "accepted" and receipt.status_code == 200
    assert _status(deposit) == DepositStatus.PENDING  # answered before anything was credited
    row = WebhookDelivery.objects.get(merchant_ref=deposit.merchant_ref)
    assert row.pending and row.message["kind"] == "deposit_succeeded"
    assert queued == [1]

    assert webhook_batches_run() == 1
    assert _status(deposit) == DepositStatus.SUCCEEDED
    assert balance(world.wallet()) == Money("99.50", "USD")
    row.refresh_from_db()
    assert not row.pending and row.outcome == "accepted"

    assert webhook_batches_run() == 0  # applied once
    [again] = world.deliver(deposit)  # the provider sends it again
    assert again.outcome == "duplicate" and again.status_code == 200
    assert webhook_batches_run() == 0
    assert balance(world.wallet()) == Money("99.50", "USD")
    assert not any(ledger_verify().values())


def test_one_run_is_queued_for_many_notifications_until_it_starts(world, queued, django_capture_on_commit_callbacks):
    first, second, third = _pay(world), _pay(world), _pay(world)
    with django_capture_on_commit_callbacks(execute=True):
        world.deliver(first)
    with django_capture_on_commit_callbacks(execute=True):
        world.deliver(second)
    assert queued == [1]  # the run queued by the first will find the second

    assert webhook_batches_run() == 2
    with django_capture_on_commit_callbacks(execute=True):
        world.deliver(third)
    assert queued == [1, 1]  # the run started: the next notification queues another
    assert webhook_batches_run() == 1
    assert {_status(d) for d in (first, second, third)} == {DepositStatus.SUCCEEDED}


def test_a_notification_that_fails_does_not_hold_back_the_others_and_the_sweep_applies_it_later(
        world, queued, monkeypatch):
    deposits = [_pay(world) for _ in range(3)]
    for deposit in deposits:
        world.deliver(deposit)
    broken = deposits[1].merchant_ref
    real = webhook_batches.deposit_webhook_apply

    def failing(provider, message, row):
        if message.merchant_ref == broken:
            raise RuntimeError("the deposit code failed")
        return real(provider, message, row)

    monkeypatch.setattr(webhook_batches, "deposit_webhook_apply", failing)
    assert webhook_batches_run() == 2
    assert [_status(d) for d in deposits] == [DepositStatus.SUCCEEDED, DepositStatus.PENDING, DepositStatus.SUCCEEDED]
    row = WebhookDelivery.objects.get(merchant_ref=broken)
    assert row.pending and row.detail.startswith("not applied yet: RuntimeError")
    assert webhook_batches_run() == 0  # later batches pass it by

    monkeypatch.setattr(webhook_batches, "deposit_webhook_apply", real)
    assert webhook_batches_sweep() == 1
    assert _status(deposits[1]) == DepositStatus.SUCCEEDED
    row.refresh_from_db()
    assert not row.pending and row.detail == ""
    assert balance(world.wallet()) == Money("298.50", "USD")
    assert not any(ledger_verify().values())


def test_a_bad_signature_stores_nothing_to_apply_and_credits_nothing(world, queued):
    deposit = _pay(world)
    headers, body = signed_webhook("not-the-secret", merchant_ref=deposit.merchant_ref)

    receipt = webhook_receive(provider_code="psp-sim", headers=headers, body=body)

    assert receipt.status_code == 401 and receipt.outcome == WebhookOutcome.REFUSED_BAD_SIGNATURE
    assert not WebhookDelivery.objects.filter(pending=True).exists()
    assert queued == [] and webhook_batches_run() == 0
    assert _status(deposit) == DepositStatus.PENDING


def test_a_notification_of_an_unknown_deposit_is_answered_404_at_once_so_that_the_provider_retries(world, queued):
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-nobody-knows")

    receipt = webhook_receive(provider_code="psp-sim", headers=headers, body=body)

    assert receipt.status_code == 404 and receipt.outcome == WebhookOutcome.UNKNOWN_PAYMENT
    assert not WebhookDelivery.objects.filter(pending=True).exists() and queued == []


def test_what_the_adapter_read_is_kept_whole_on_the_row():
    message = WebhookMessage(
        kind=WebhookKind.DEPOSIT_SUCCEEDED, event_id="evt-1", provider_ref="pay_1", merchant_ref="dep-1",
        amount=Money("100.005", "USD"), fee=Money("3.20", "USD"),
        occurred_at=dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC), sequence=2, payment_ref="p", batch_id="b",
        payer=PayerDetails(name="Ann Smith", country="DE", fingerprint="f" * 64, earlier=("e" * 64,), last4="4242"),
        raw={"data": {"risk_score": "0.1", "failure_reason": ""}})

    assert message_load(message_dump(message)) == message


@pytest.mark.django_db(transaction=True)
def test_workers_running_at_once_apply_each_stored_notification_exactly_once(psp, hooks, settings, queued):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    settings.WALLET_WEBHOOK_BATCHES, settings.WALLET_WEBHOOK_BATCH_INLINE = True, False
    world = World(psp, hooks)
    deposits = [_pay(world) for _ in range(6)]
    for deposit in deposits:
        world.deliver(deposit)  # committed, pending
    applied: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            applied.append(webhook_batches_apply(size=2))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(applied) == 6
    assert {_status(d) for d in deposits} == {DepositStatus.SUCCEEDED}
    assert balance(world.wallet()) == Money("597.00", "USD")
    assert Event.objects.filter(name="wallet.deposit_succeeded").count() == 6
    assert not WebhookDelivery.objects.filter(pending=True).exists()
    assert not any(ledger_verify().values())
