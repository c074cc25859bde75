"""Internal transfers: a client's money moved between the wallet and the client's own live trading
accounts, or between two of them, through trading's balance operations.

The pipeline (wallet.models.transfers.TRANSITIONS), by kind:
- wallet -> account: the amount is held on the wallet at the request and a deposit to the account
  is sent. Applied: the hold is captured into the account's mirror. Failed: the hold is released.
- account -> wallet: a withdrawal from the account is sent. Applied: the mirror is debited and the
  wallet credited. Failed: nothing moved.
- account -> account (same client, same currency): a withdrawal from the source is sent. Applied:
  the money moves from the source's mirror to the brand's transfers-in-transit account and a
  deposit to the target is sent. Applied: from transit to the target's mirror. Failed: a deposit
  back to the source (the compensation) is sent; applied, from transit back to the source's
  mirror; refused too, from transit to the client's wallet, so that the money is never stranded.

The ledger moves only when the platform has applied an operation: trading emits
"trading.balance_applied" / "_failed" / "_unknown" and wallet.handlers calls
`transfer_operation_settled`, which reads the operation's state from the database (never the
event's copy) and acts once: postings carry idempotency keys ("transfer:<code>:out|in|back") and
every step checks the transfer's state under its row lock, so a repeated or late event does
nothing. An operation whose answer was lost leaves the transfer "unknown" until trading's look-up
settles the operation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import Conflict, DomainError, NotFound, ValidationFailed
from crm.lib.money import Money, money_format
from crm.lib.validation import InvalidValue
from crm.models import Client
from crm.permissions import code_or_404
from trading.models import BalanceKind, BalanceOperation, BalanceState, TradingAccount
from trading.services import balance_operation_request
from wallet.exceptions import InsufficientFunds, TransferRefused
from wallet.ledger import (
    Leg,
    available,
    ledger_hold,
    ledger_post,
    ledger_release,
    mirror_account_for,
    system_account_for,
    wallet_account_for,
)
from wallet.models import AccountKind, LedgerAccount, LedgerBalance, Transfer, TransferKind, TransferState

S = TransferState
TRANSIT = "transfers in transit"  # owner_ref of the brand's suspense account between two accounts


def _refuse(code: str, field: str, message: str) -> TransferRefused:
    return TransferRefused(message, code=code, fields={field: message})


# --- selectors ---------------------------------------------------------------------------------------

def transfer_accounts_for(*, client: Client) -> QuerySet[TradingAccount]:
    """The client's accounts money may be transferred to or from: live and not archived."""
    return (TradingAccount.objects.filter(client=client, is_demo=False, is_archived=False)
            .select_related("server").order_by("login"))


def transfers_for_client(*, client: Client) -> QuerySet[Transfer]:
    return (Transfer.objects.filter(client=client).select_related("source_account", "target_account")
            .order_by("-requested_at", "-id"))


def transfer_get_for_client(*, client: Client, code: Any) -> Transfer:
    found = transfers_for_client(client=client).filter(code=code_or_404(code)).first()
    if found is None:
        raise NotFound()
    return found


# --- the request ---------------------------------------------------------------------------------------

def _check_account(account: TradingAccount, client: Client, field: str) -> None:
    if account.client_id != client.pk:
        raise _refuse("transfer_not_own_account", field, gettext("This trading account is not yours."))
    if account.is_demo:
        raise _refuse("transfer_demo_account", field, gettext("A demo account holds no real money: choose a live "
                                                             "account."))
    if account.is_archived:
        raise _refuse("transfer_archived_account", field, gettext("This trading account is archived."))
    if BalanceOperation.objects.filter(account=account, state=BalanceState.UNKNOWN).exists():
        raise _refuse("balance_operation_unknown", field, gettext(
            "An earlier transfer on account %(login)s is still being confirmed by the platform; try again "
            "shortly.") % {"login": account.login})


def _check_free_margin(account: TradingAccount, money: Money) -> None:
    """Money leaves a trading account only within what it can spare: its free margin (what open
    positions do not hold) and its balance (credit is the broker's, never paid out), as last
    read from the platform. An account never read yet is left to the platform to refuse."""
    if account.state_observed_at is None:
        return
    spare = Money(max(min(account.free_margin, account.balance), Decimal(0)), account.currency).quantize()
    if money.amount > spare.amount:
        raise _refuse("transfer_above_free_margin", "amount", gettext(
            "Account %(login)s can spare %(spare)s now (its free margin, within its balance); open positions "
            "hold the rest.") % {"login": account.login, "spare": money_format(spare)})


def _kind(source: TradingAccount | None, target: TradingAccount | None) -> str:
    if source is None and target is None:
        raise _refuse("transfer_no_account", "target", gettext("Choose a trading account to transfer to or from."))
    if source is None:
        return TransferKind.WALLET_TO_ACCOUNT
    if target is None:
        return TransferKind.ACCOUNT_TO_WALLET
    if source.pk == target.pk:
        raise _refuse("transfer_same_account", "target", gettext("Choose two different accounts."))
    return TransferKind.ACCOUNT_TO_ACCOUNT


def _amount(amount: Money, currency: str) -> Money:
    if amount.currency != currency:
        raise _refuse("transfer_currency_mismatch", "amount", gettext(
            "The account is in %(account)s; enter the amount in %(account)s, not %(amount)s.") % {
            "account": currency, "amount": amount.currency})
    try:
        exact = Money.exact(amount.amount, currency)
    except InvalidValue as error:
        raise _refuse("transfer_amount_precision", "amount", error.message) from None
    if exact.amount <= 0:
        raise _refuse("transfer_amount_invalid", "amount", gettext("Enter an amount above zero."))
    return exact


def _same(existing: Transfer, *, client: Client, kind: str, source: TradingAccount | None,
          target: TradingAccount | None, amount: Money) -> Transfer:
    if (existing.client_id, existing.kind, existing.source_account_id, existing.target_account_id,
            existing.amount, existing.currency) != (client.pk, kind, getattr(source, "pk", None),
                                                    getattr(target, "pk", None), amount.amount, amount.currency):
        raise Conflict(gettext("This transfer key was used for another transfer."), code="transfer_key_reused")
    return existing


def _payload(t: Transfer) -> dict[str, Any]:
    return {"transfer": str(t.code), "kind": t.kind, "amount": t.money.text(), "currency": t.currency,
            "source": str(t.source_account.code) if t.source_account is not None else "",
            "target": str(t.target_account.code) if t.target_account is not None else "",
            "state": t.state, "reason": t.reason}


def _comment(t: Transfer) -> str:
    return f"transfer {t.code.hex[:8]}"


@transaction.atomic
def transfer_request(*, actor: Any, client: Client, source: TradingAccount | None, target: TradingAccount | None,
                     amount: Money, key: str) -> Transfer:
    """Transfer `amount` from `source` to `target` (None: the client's wallet in the account's
    currency). Validates first (TransferRefused naming the field: not the client's account, demo or
    archived, an operation of the account whose outcome is unknown, different currencies, an amount
    not above zero or finer than the currency's minor unit, more than the wallet has available);
    from the wallet, holds the amount; then records the transfer and its first balance operation,
    which trading sends after commit. Idempotent by `key`: the same key returns the first transfer.
    `actor`: staff acting for the client (needs trading's balance permission), or None for the client."""
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise ValidationFailed(fields={"key": gettext("Every transfer needs an idempotency key.")})
    kind = _kind(source, target)
    existing = Transfer.objects.filter(idempotency_key=key).first()
    if existing is not None:  # a repeated submit: the first transfer, whatever happened to it since
        return _same(existing, client=client, kind=kind, source=source, target=target, amount=amount)
    for account, field in ((source, "source"), (target, "target")):
        if account is not None:
            _check_account(account, client, field)
    account = source or target
    assert account is not None  # noqa: S101 - _kind refused neither
    currency = account.currency
    if source is not None and target is not None and source.currency != target.currency:
        raise _refuse("transfer_currency_mismatch", "target", gettext(
            "The accounts are in different currencies (%(source)s and %(target)s); transfer between accounts in "
            "one currency.") % {"source": source.currency, "target": target.currency})
    money = _amount(amount, currency)
    if source is not None:
        _check_free_margin(source, money)
    wallet = wallet_account_for(client=client, currency=currency)
    # The wallet's lock: one client's transfers in one currency are checked and held one at a time.
    LedgerBalance.objects.select_for_update().get(account_id=wallet.pk)
    existing = Transfer.objects.filter(idempotency_key=key).first()
    if existing is not None:  # a concurrent submit that held the wallet's lock first
        return _same(existing, client=client, kind=kind, source=source, target=target, amount=money)
    t = Transfer(idempotency_key=key, client=client, brand_id=client.brand_id, kind=kind, source_account=source,
                 target_account=target, amount=money.amount, currency=currency,
                 requested_by=actor if getattr(actor, "pk", None) else None)
    if kind == TransferKind.WALLET_TO_ACCOUNT:
        try:
            t.hold = ledger_hold(key=f"transfer:{t.code}", account=wallet, amount=money, actor=actor,
                                 memo=f"transfer {t.code}")
        except InsufficientFunds as error:
            raise _refuse("insufficient_funds", "amount", gettext(
                "Your wallet has %(available)s available to transfer.") % {
                "available": money_format(error.available)}) from None
    t.save()
    if kind == TransferKind.WALLET_TO_ACCOUNT:
        assert target is not None  # noqa: S101
        t.deposit_operation = balance_operation_request(actor=actor, account=target, kind=BalanceKind.BALANCE,
                                                        amount=money.amount, reason=_comment(t))
    else:
        assert source is not None  # noqa: S101
        t.withdraw_operation = balance_operation_request(actor=actor, account=source, kind=BalanceKind.BALANCE,
                                                         amount=-money.amount, reason=_comment(t))
    t.state_set(S.SENT, actor=actor)
    t.save()
    audit_record(action="wallet.transfer_requested", obj=t, actor=actor, after=_payload(t))
    return t


# --- the platform's answers ----------------------------------------------------------------------------

def _transit(t: Transfer) -> LedgerAccount:
    return system_account_for(kind=AccountKind.SUSPENSE, currency=t.currency, brand=t.brand_id, owner_ref=TRANSIT)


def _post(t: Transfer, step: str, legs: list[Leg], **more: Any) -> None:
    ledger_post(key=f"transfer:{t.code}:{step}", kind="transfer", legs=legs, ref_kind="transfer",
                ref_code=str(t.code), meta={"transfer_kind": t.kind, "step": step}, **more)


def _request(t: Transfer, account: TradingAccount, amount: Decimal) -> BalanceOperation | None:
    """A further operation of the transfer (inside the handler's transaction: sent after commit);
    None if trading refuses to record it (the account archived meanwhile, a platform that cannot)."""
    try:
        with transaction.atomic():
            return balance_operation_request(actor=None, account=account, kind=BalanceKind.BALANCE, amount=amount,
                                             reason=_comment(t))
    except DomainError:
        return None


def _finish(t: Transfer, to: str, *, reason: str = "") -> None:
    t.state_set(to, reason=reason)
    t.reason, t.completed_at = reason[:500], timezone.now()
    t.save()
    action = "wallet.transfer_completed" if to == S.COMPLETED else "wallet.transfer_failed"
    emit(action, client=t.client, actor=None, data=_payload(t))
    audit_record(action=action, obj=t, actor=None, reason=t.reason, after=_payload(t))


def _compensate(t: Transfer, reason: str) -> None:
    """The target's deposit failed after the source's withdrawal was applied: send the money back
    to the source; if trading will not even record that, return it to the client's wallet."""
    assert t.source_account is not None  # noqa: S101
    back = _request(t, t.source_account, t.amount)
    if back is None:
        _return_to_wallet(t, reason)
        return
    t.compensation_operation = back
    t.state_set(S.COMPENSATING, reason=reason)
    t.reason = reason[:500]
    t.save()


def _return_to_wallet(t: Transfer, reason: str) -> None:
    wallet = wallet_account_for(client=t.client, currency=t.currency)
    _post(t, "back", [Leg(_transit(t), -t.money), Leg(wallet, t.money)])
    _finish(t, S.FAILED, reason=gettext("%(reason)s The amount was returned to your wallet.") % {"reason": reason})


def _failure(op: BalanceOperation) -> str:
    return gettext("The platform did not apply the operation.") if not op.error else gettext(
        "The platform did not apply the operation: %(error)s") % {"error": op.error[:200]}


def _on_wallet_to_account(t: Transfer, op: BalanceOperation) -> None:
    assert t.target_account is not None and t.hold is not None  # noqa: S101
    if op.state == BalanceState.APPLIED:
        wallet = t.hold.account
        _post(t, "in", [Leg(wallet, -t.money), Leg(mirror_account_for(trading_account=t.target_account), t.money)],
              consume_holds=[t.hold])
        _finish(t, S.COMPLETED)
    elif op.state == BalanceState.FAILED:
        ledger_release(hold=t.hold, reason="transfer failed")
        _finish(t, S.FAILED, reason=_failure(op))


def _on_account_to_wallet(t: Transfer, op: BalanceOperation) -> None:
    assert t.source_account is not None  # noqa: S101
    if op.state == BalanceState.APPLIED:
        wallet = wallet_account_for(client=t.client, currency=t.currency)
        _post(t, "out", [Leg(mirror_account_for(trading_account=t.source_account), -t.money), Leg(wallet, t.money)])
        _finish(t, S.COMPLETED)
    elif op.state == BalanceState.FAILED:
        _finish(t, S.FAILED, reason=_failure(op))


def _on_account_to_account(t: Transfer, op: BalanceOperation) -> None:
    assert t.source_account is not None and t.target_account is not None  # noqa: S101
    if op.pk == t.withdraw_operation_id and t.deposit_operation_id is None:
        if op.state == BalanceState.APPLIED:
            _post(t, "out", [Leg(mirror_account_for(trading_account=t.source_account), -t.money),
                             Leg(_transit(t), t.money)])
            deposit = _request(t, t.target_account, t.amount)
            if deposit is None:
                _compensate(t, gettext("The target account could not take the deposit."))
                return
            t.deposit_operation = deposit
            t.state_set(S.SENT, reason="withdrawn from the source; depositing to the target")
            t.save()
        elif op.state == BalanceState.FAILED:
            _finish(t, S.FAILED, reason=_failure(op))
    elif op.pk == t.deposit_operation_id and t.compensation_operation_id is None:
        if op.state == BalanceState.APPLIED:
            _post(t, "in", [Leg(_transit(t), -t.money),
                            Leg(mirror_account_for(trading_account=t.target_account), t.money)])
            _finish(t, S.COMPLETED)
        elif op.state == BalanceState.FAILED:
            _compensate(t, _failure(op))
    elif op.pk == t.compensation_operation_id:
        if op.state == BalanceState.APPLIED:
            _post(t, "back", [Leg(_transit(t), -t.money),
                              Leg(mirror_account_for(trading_account=t.source_account), t.money)])
            _finish(t, S.FAILED, reason=gettext("%(reason)s The amount went back to the source account.")
                    % {"reason": t.reason})
        elif op.state == BalanceState.FAILED:
            _return_to_wallet(t, t.reason)


@transaction.atomic
def transfer_operation_settled(*, operation: BalanceOperation) -> Transfer | None:
    """Move the transfer `operation` belongs to (None: it belongs to none) by the operation's state
    as stored now: applied -> post the leg and go on; failed -> release or compensate; unknown ->
    wait. Safe to call any number of times for one operation."""
    t = (Transfer.objects.select_for_update(of=("self",))
         .select_related("client", "source_account", "target_account", "hold__account")
         .filter(Q(withdraw_operation=operation.pk) | Q(deposit_operation=operation.pk)
                 | Q(compensation_operation=operation.pk)).first())
    if t is None or not t.is_open:
        return t
    op = BalanceOperation.objects.get(pk=operation.pk)
    if op.state == BalanceState.UNKNOWN:
        if t.state == S.SENT:
            t.state_set(S.UNKNOWN, reason="the platform's answer was lost; it is being looked up")
            t.save()
        return t
    if op.state == BalanceState.PENDING:
        return t
    if t.state == S.UNKNOWN:
        t.state_set(S.SENT, reason="the platform answered")
    if t.kind == TransferKind.WALLET_TO_ACCOUNT:
        _on_wallet_to_account(t, op)
    elif t.kind == TransferKind.ACCOUNT_TO_WALLET:
        _on_account_to_wallet(t, op)
    else:
        _on_account_to_account(t, op)
    if t.state == S.SENT:
        t.save()
    return t


def transfer_available(*, client: Client, currency: str) -> Money:
    """What the client's wallet in `currency` could transfer now."""
    return available(wallet_account_for(client=client, currency=currency))
