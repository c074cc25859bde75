"""Demo money (wallet_seed_demo and the trader's room's funded demo client): the bank-wire provider
and wire deposits made through the deposit services and confirmed by the provider's notification
applied through the webhook handler, as a real confirmation would be."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction

from crm.events import events_ready
from crm.lib.money import Money
from crm.models import AuditLog, Brand, Client, Event
from trading.services import balance_operation_send_now
from wallet.deposits import deposit_create, deposit_webhook_apply
from wallet.instruments import PayerDetails
from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for
from wallet.models import Deposit, PaymentProvider, WithdrawalPolicy
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.providers.base import WebhookKind, WebhookMessage
from wallet.transfers import transfer_operation_settled, transfer_request
from wallet.withdrawal_policy import SAVED_ACTION
from wallet.withdrawals import withdrawal_policy_save

WIRE_CODE = "bank-wire"  # the same provider wallet_demo_setup configures
# The demo's withdrawal policy, per currency: a low-risk client's withdrawal up to 200 approves
# itself; above 1,000 two people of finance approve (the finance officer and the administrator in
# the demo), so four eyes can be tried with a 2,500 withdrawal; 10,000 a day per client.
DEMO_WITHDRAWAL_POLICY = {"auto_approve_below": {"USD": "200", "EUR": "200"},
                          "four_eyes_above": {"USD": "1000", "EUR": "1000"},
                          "daily_limit": {"USD": "10000", "EUR": "10000"}}


def demo_wire_provider() -> PaymentProvider:
    """The demo's bank-wire provider (saved again as it is: idempotent)."""
    return payment_provider_save(code=WIRE_CODE, name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Demo Brokerage Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N",
        "bank_name": "Demo Bank of Cyprus", "bank_address": "1 Demo Street, Limassol"})


def demo_wire_methods(*, brand: Any, wire: PaymentProvider) -> None:
    """The brand takes and pays bank wires in USD and EUR (from 100; a 15.00 fee on a withdrawal)."""
    payment_method_save(brand=brand, method="bank_wire", direction="deposit", provider=wire, currencies=[
        CurrencyRule(c, Decimal("100"), None) for c in ("USD", "EUR")], order=200)
    payment_method_save(brand=brand, method="bank_wire", direction="withdrawal", provider=wire, currencies=[
        CurrencyRule(c, Decimal("100"), None, Decimal("15.00")) for c in ("USD", "EUR")], order=200)


def demo_wire_deposit(*, provider: PaymentProvider, client: Client, amount: Money, at: dt.datetime, n: int,
                      asked_minutes_before: int = 30, succeeded: bool = True,
                      payer: PayerDetails | None = None) -> Any:
    """A wire deposit of `amount` asked for a little before `at` and confirmed (or failed) at `at` by
    the bank's notification through the webhook handler (naming the sender when `payer` is given:
    wallet.instruments.payer_details). The brand must offer bank wires."""
    deposit = deposit_create(client=client, amount=amount, method="bank_wire", return_url="")
    # Demo history: the deposit was asked for a little before its money arrived.
    Deposit.objects.filter(pk=deposit.pk).update(created_at=at - dt.timedelta(minutes=asked_minutes_before))
    outcome = WebhookKind.DEPOSIT_SUCCEEDED if succeeded else WebhookKind.DEPOSIT_FAILED
    message = WebhookMessage(kind=outcome, event_id=f"demo-{deposit.merchant_ref}-{n}",
                             provider_ref=deposit.provider_ref, merchant_ref=deposit.merchant_ref,
                             amount=amount, fee=None, occurred_at=at, sequence=1, payer=payer)
    with transaction.atomic():
        deposit_webhook_apply(provider, message, None)
        # Demo history: the deposit succeeded (or failed) when the bank's notification came, and its
        # events say so, so that the reports (the daily money report reads the events by day) spread
        # the demo's deposits over their weeks instead of the day the demo was loaded.
        Deposit.objects.filter(pk=deposit.pk, succeeded_at__isnull=False).update(succeeded_at=at)
        events_ready([at])  # the outbox's partition of that month
        Event.objects.filter(client=client, name__startswith="wallet.", data__deposit=str(deposit.code)).update(
            occurred_at=at)
    return deposit


# The demo's disputes: (kind, reason code, reason, days left to answer; negative: overdue).
DEMO_DISPUTES = [("chargeback", "10.4", "Other fraud: card-absent environment", 5),
                 ("retrieval_request", "28", "Request for copy: the cardholder does not recognise the payment", -1)]


def demo_disputes(*, provider: PaymentProvider, brand: Brand) -> int:
    """Open the demo's disputes on the brand's newest credited deposits, each through the provider's
    notification and the webhook handlers as a real one arrives (a chargeback holds its amount on the
    client's wallet). Idempotent: a brand with disputes already is left alone. Returns how many."""
    from wallet.disputes import dispute_webhook_apply
    from wallet.models import DepositStatus, Dispute

    if Dispute.objects.filter(brand=brand).exists():
        return 0
    deposits = list(Deposit.objects.filter(brand=brand, provider=provider, status=DepositStatus.SUCCEEDED)
                    .order_by("-succeeded_at", "-pk")[:len(DEMO_DISPUTES)])
    now = dt.datetime.now(dt.UTC)
    for (kind, code, reason, days), deposit in zip(DEMO_DISPUTES, deposits, strict=False):
        message = WebhookMessage(
            kind=WebhookKind.CHARGEBACK if kind == "chargeback" else WebhookKind.RETRIEVAL_REQUEST,
            event_id=f"demo-dispute-{deposit.merchant_ref}", provider_ref=f"demo-{kind}-{deposit.pk}",
            merchant_ref=deposit.merchant_ref, amount=deposit.money, fee=None, occurred_at=now,
            raw={"data": {"reason_code": code, "reason_text": reason,
                          "respond_by": (now + dt.timedelta(days=days)).isoformat()}})
        with transaction.atomic():
            if not deposit_webhook_apply(provider, message, None):
                dispute_webhook_apply(provider, message, None)
    return min(len(DEMO_DISPUTES), len(deposits))


def demo_withdrawal_policy(*, brand: Brand) -> bool:
    """Give `brand` the demo's withdrawal policy (DEMO_WITHDRAWAL_POLICY) unless its policy was ever
    saved (an administrator's own choice is kept at every start). True when set now."""
    policy = WithdrawalPolicy.objects.filter(brand=brand).first()
    if policy is not None and AuditLog.objects.filter(action=SAVED_ACTION, object_id=str(policy.pk),
                                                      object_type=policy._meta.label_lower).exists():
        return False
    withdrawal_policy_save(brand=brand, actor=None, auto_approve_below=DEMO_WITHDRAWAL_POLICY["auto_approve_below"],
                           four_eyes_above=DEMO_WITHDRAWAL_POLICY["four_eyes_above"],
                           daily_limit=DEMO_WITHDRAWAL_POLICY["daily_limit"])
    return True


# The clearing account the demo's money for trading accounts comes from (demo.prop's too).
DEMO_FUNDING_PROVIDER = "demo"


def demo_account_fund(*, account: Any, amount: Decimal, reason: str = "Demo deposit") -> Any:
    """Fund the demo's live trading `account` with `amount` the way a client's money reaches it: a
    deposit into the client's wallet in the account's currency (a ledger deposit from the demo's
    clearing account), then a transfer from the wallet to the account (wallet.transfers: held, the
    platform's balance operation sent at once, posted into the account's ledger mirror once applied),
    so that the platform reconciliation finds the account's balance in the ledger. Returns the
    transfer's balance operation. Idempotent per account (keys "demo-fund:<account>"): trading's demo
    loader calls it through trading.demo_funding."""
    money = Money(amount, account.currency)
    client = account.client
    key = f"demo-fund:{account.code}"
    ledger_post(key=f"{key}:deposit", kind="deposit", memo=reason[:200],
                meta={"method": "bank_wire", "provider": DEMO_FUNDING_PROVIDER},
                legs=[Leg(clearing_account_for(provider=DEMO_FUNDING_PROVIDER, currency=money.currency,
                                               brand=client.brand_id), -money),
                      Leg(wallet_account_for(client=client, currency=money.currency), money)])
    transfer = transfer_request(actor=None, client=client, source=None, target=account, amount=money, key=key)
    assert transfer.deposit_operation_id is not None  # noqa: S101 - a transfer to an account deposits to it
    # Sent here and now, not by a worker later: the demo trades with the money next. A worker that
    # claimed the operation first (make run's) is waited for.
    operation = balance_operation_send_now(operation_id=transfer.deposit_operation_id)
    transfer_operation_settled(operation=operation)
    return operation
