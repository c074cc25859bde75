"""The wallet API: a client's balances, the deposit and withdrawal lists, a withdrawal's approval and
rejection, a deposit's refund and a transfer between a client's wallet and trading accounts.

Everything goes through the wallet's selectors, permissions and services exactly like finance's
pages: the four-eyes rule (a withdrawal above the brand's threshold needs two different people),
a refund of at most what is left and still in the wallet, a transfer's checks (the client's own live
account, one currency, the available balance). Amounts arrive as decimal strings and are read by
`crm.lib.money` (an unknown currency, a float-like or over-precise amount is **422** naming the
field); they leave as decimal strings with their currency, times in UTC.

Scopes: `wallet:read` (balances and lists), `wallet:write` (refunds and transfers), `wallet:approve`
(withdrawal decisions). An API key sees its brand's rows and acts as the system (the audit log names
the key); as four eyes count people, a key may not approve a withdrawal that needs two approvals
(**403** `four_eyes_needs_staff`); two members of finance approve it. Staff sessions need the
permissions the pages need: wallet.view_deposit (balances, deposits), wallet.approve_withdrawal
(the withdrawal queue and its decisions), wallet.refund_deposit, wallet.transfer_funds.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from crm.api import (
    ApiError,
    Caller,
    Code,
    InputSchema,
    IsoDatetime,
    PageIn,
    Text16,
    Text40,
    Text100,
    Text500,
    caller_of,
    client_for,
    one_of,
    paginate,
    requires_scope,
    utc_text,
)
from crm.exceptions import NotFound, ValidationFailed
from crm.lib.money import Money, decimal_text, money_parse
from crm.lib.pagination import Key
from crm.models import Client
from crm.permissions import user_can
from wallet import selectors, services
from wallet.dispute_api import router as dispute_router
from wallet.exceptions import RefundFourEyesRefused
from wallet.models import Deposit, DepositRefund, DepositStatus, Transfer, Withdrawal, WithdrawalState
from wallet.permissions import APPROVE_PERMISSION, deposit_get_for_user, withdrawal_get_for_user

router = Router(tags=["wallet"])
router.add_router("", dispute_router)

VIEW_PERMISSION = "wallet.view_deposit"
REFUND_PERMISSION = "wallet.refund_deposit"
TRANSFER_PERMISSION = "wallet.transfer_funds"
REQUESTED_NEWEST_FIRST = (Key("requested_at", True, "datetime"), Key("id", True, "int"))



def _money(money: Money) -> str:
    return decimal_text(money.quantize().amount)


# --- schemas --------------------------------------------------------------------------------------


class BalanceOut(Schema):
    currency: str
    balance: str = Field(..., description="What the wallet holds, a decimal string.")
    held: str = Field(..., description="Held for pending withdrawals and transfers.")
    available: str = Field(..., description="balance - held: what may be withdrawn or transferred now.")


class DepositOut(Schema):
    code: UUID
    client: UUID
    status: str
    amount: str = Field(..., description="A decimal string in `currency`: what the provider confirmed, "
                                         "or what was asked until it did.")
    currency: str
    fee: str
    refunded: str
    method: str
    provider: str = Field(..., description="The payment provider's code.")
    is_first: bool = Field(..., description="The client's first successful deposit (FTD).")
    created_at: str
    succeeded_at: str | None


class DepositPage(Schema):
    items: list[DepositOut]
    next_cursor: str | None


class FlagOut(Schema):
    kind: str = Field(..., description="A stable code of the flag's kind: compliance's (aml_alert, sanctions_hit, "
                                       "pep_hit, risk_band, restriction, an open case's) or the wallet's "
                                       "(chargeback, failed_attempts, card_velocity, new_destination, "
                                       "third_party_funding).")
    label: str = Field(..., description="The kind in words.")
    holds: bool = Field(..., description="True: nobody approves the withdrawal, and its payout is not sent, "
                                         "until the flag is gone. False: it only informs finance.")
    reason: str = Field(..., description="The detail, or \"Under compliance review\" where the caller may not read "
                                         "it (a compliance object: staff need the permission that reads it; an API "
                                         "key reads the wallet's own flags only).")


class WithdrawalOut(Schema):
    code: UUID
    client: UUID
    state: str
    amount: str
    currency: str
    fee: str
    method: str
    provider: str
    destination: str = Field(..., description="Masked, as finance sees it.")
    needs_two_approvals: bool
    approvals: int = Field(..., description="Approvals recorded so far (0, 1 or 2).")
    reason: str
    requested_at: str
    due_at: str = Field(..., description="The SLA: finance decides by then.")
    completed_at: str | None
    flags: list[FlagOut] | None = Field(None, description=(
        "Finance only: what finance should know before the money leaves, holds first, while the withdrawal "
        "waits for a decision (requested or approved; empty otherwise). Null for a caller without finance's "
        "permission (staff: wallet.approve_withdrawal; an API key: the wallet:approve scope). Never shown to "
        "the client."))


class WithdrawalPage(Schema):
    items: list[WithdrawalOut]
    next_cursor: str | None


class PeriodFilters(Schema):
    provider: Text40 | None = Field(None, description="Only this payment provider (its code).")
    since: IsoDatetime | None = Field(None, description="Created (requested) at or after this time.")
    until: IsoDatetime | None = Field(None, description="Created (requested) before this time.")


class DepositFilters(PeriodFilters):
    status: Text40 | None = Field(None, description="Only deposits in this status.")


class WithdrawalFilters(PeriodFilters):
    state: Text16 | None = Field(None, description="Only withdrawals in this state.")


class RejectIn(InputSchema):
    reason: Text500 = Field(..., min_length=1, description="Why; the client is told.")


class RefundIn(InputSchema):
    amount: Text40 = Field(..., description="A decimal string, at most what is left to refund.")
    currency: Text16 | None = Field(None, description="The deposit's currency (the default); another is refused.")
    reason: Text500 = Field(..., min_length=1, max_length=300, description="Kept on the refund and in the audit log.")


class RefundOut(Schema):
    code: UUID
    deposit: UUID
    amount: str
    currency: str
    status: str = Field(..., description="succeeded, failed, unknown (the provider's answer is awaited), requested, "
                                         "pending_approval (above the brand's refund threshold: waits for a second "
                                         "person, nothing asked of the provider yet) or sent_back (not made)")
    proposed_by: UUID | None = Field(None, description="Who asked for a refund that needs a second person.")
    approved_by: UUID | None = Field(None, description="The second person who approved it.")


class SendBackIn(InputSchema):
    reason: Text500 = Field(..., min_length=1, description="Why the refund is not made; kept in the audit log.")


class TransferIn(InputSchema):
    source: Code | None = Field(None, description="A trading account's code; null: the client's wallet.")
    target: Code | None = Field(None, description="A trading account's code; null: the client's wallet.")
    amount: Text40 = Field(..., description="A decimal string in the trading account's currency.")
    key: Text100 = Field(..., min_length=1, description="Your idempotency key: the same key returns the first "
                                                        "transfer instead of making another.")


class TransferOut(Schema):
    code: UUID
    client: UUID
    kind: str
    state: str
    amount: str
    currency: str
    source: UUID | None
    target: UUID | None
    requested_at: str
    reason: str


def deposit_out(d: Deposit) -> dict[str, Any]:
    return {"code": d.code, "client": d.client.code, "status": d.status, "amount": decimal_text(d.amount),
            "currency": d.currency, "fee": decimal_text(d.fee), "refunded": decimal_text(d.refunded),
            "method": d.method, "provider": d.provider.code, "is_first": d.is_first,
            "created_at": utc_text(d.created_at), "succeeded_at": utc_text(d.succeeded_at)}


def withdrawal_out(w: Withdrawal, flags: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    approvals = int(w.first_approved_at is not None) + int(w.second_approved_at is not None)
    return {"flags": flags, "code": w.code, "client": w.client.code, "state": w.state, "amount": decimal_text(w.amount),
            "currency": w.currency, "fee": decimal_text(w.fee), "method": w.method, "provider": w.provider.code,
            "destination": w.destination_masked, "needs_two_approvals": w.needs_two_approvals,
            "approvals": approvals, "reason": w.reason, "requested_at": utc_text(w.requested_at),
            "due_at": utc_text(w.due_at), "completed_at": utc_text(w.completed_at)}


def refund_out(r: DepositRefund) -> dict[str, Any]:
    return {"code": r.code, "deposit": r.deposit.code, "amount": decimal_text(r.amount), "currency": r.currency,
            "status": r.status, "proposed_by": r.proposed_by.code if r.proposed_by else None,
            "approved_by": r.approved_by.code if r.approved_by else None}


def transfer_out(t: Transfer) -> dict[str, Any]:
    return {"code": t.code, "client": t.client.code, "kind": t.kind, "state": t.state,
            "amount": decimal_text(t.amount), "currency": t.currency,
            "source": t.source_account.code if t.source_account else None,
            "target": t.target_account.code if t.target_account else None,
            "requested_at": utc_text(t.requested_at), "reason": t.reason}


# --- access -------------------------------------------------------------------------------------------


def _staff_may(caller: Caller, perm: str) -> None:
    """A staff session without the pages' permission sees nothing here (404, as the pages)."""
    if caller.api_key is None and not user_can(caller.user, perm):
        raise NotFound()


def _client(caller: Caller, code: UUID, perm: str) -> Client:
    _staff_may(caller, perm)
    return client_for(caller, code)


def _deposits(caller: Caller) -> QuerySet[Deposit]:
    if caller.api_key is None:
        _staff_may(caller, VIEW_PERMISSION)
        return selectors.deposit_list_for_user(caller.user)
    return Deposit.objects.filter(brand_id=caller.api_key.brand_id).select_related("client", "provider")


def _deposit(caller: Caller, code: UUID) -> Deposit:
    if caller.api_key is None:
        _staff_may(caller, VIEW_PERMISSION)
        return deposit_get_for_user(user=caller.user, code=code)
    found = _deposits(caller).filter(code=code).first()
    if found is None:
        raise NotFound()
    return found


def _withdrawals(caller: Caller) -> QuerySet[Withdrawal]:
    if caller.api_key is None:
        return selectors.withdrawal_queue_for_user(user=caller.user)  # none without the approval permission
    return Withdrawal.objects.filter(brand_id=caller.api_key.brand_id).select_related("client", "provider")


def _withdrawal(caller: Caller, code: UUID) -> Withdrawal:
    if caller.api_key is None:
        return withdrawal_get_for_user(user=caller.user, code=code)
    found = _withdrawals(caller).filter(code=code).first()
    if found is None:
        raise NotFound()
    return found


WALLET_PERMISSION_PREFIX = "wallet."


def _flags_for(caller: Caller, withdrawals: list[Withdrawal]) -> dict[int, list[dict[str, Any]]] | None:
    """Each withdrawal's flags for a finance caller, by id ({}: none waits for a decision), or None for
    any other. Staff read them as finance's queue shows them to that user; an API key with the
    wallet:approve scope reads the reasons of the wallet's own flags and "Under compliance review" for
    compliance's (a key holds no compliance permission: no tipping off through the API)."""
    if caller.api_key is None:
        if not user_can(caller.user, APPROVE_PERMISSION):
            return None
        shown = selectors.withdrawal_flags_for_queue(user=caller.user, withdrawals=withdrawals)
        return {pk: [{"kind": f.kind, "label": f.label, "holds": f.holds, "reason": f.reason} for f in flags]
                for pk, flags in shown.items()}
    if not caller.has_scope("wallet:approve"):
        return None
    out: dict[int, list[dict[str, Any]]] = {}
    by_client: dict[int, list[Any]] = {}
    for w in withdrawals:
        if w.state not in (WithdrawalState.REQUESTED, WithdrawalState.APPROVED):
            continue
        if w.client_id not in by_client:
            by_client[w.client_id] = selectors.client_risk_flags(client=w.client)
        out[w.pk] = [{"kind": f.kind, "label": f.label, "holds": f.holds,
                      "reason": f.reason if not f.permission or f.permission.startswith(WALLET_PERMISSION_PREFIX)
                      else _("Under compliance review")}
                     for f in selectors.withdrawal_flags(withdrawal=w, client_flags=by_client[w.client_id])]
    return out


def _withdrawals_out(caller: Caller, withdrawals: list[Withdrawal]) -> list[dict[str, Any]]:
    flags = _flags_for(caller, withdrawals)
    return [withdrawal_out(w, None if flags is None else flags.get(w.pk, [])) for w in withdrawals]


def _period(qs: QuerySet[Any], f: PeriodFilters, field: str) -> QuerySet[Any]:
    if f.since is not None and f.until is not None and f.until <= f.since:
        raise ValidationFailed(fields={"until": [_("Give a time after `since`.")]})
    if f.provider:
        qs = qs.filter(provider__code=f.provider)
    if f.since is not None:
        qs = qs.filter(**{f"{field}__gte": f.since})
    if f.until is not None:
        qs = qs.filter(**{f"{field}__lt": f.until})
    return qs



# --- reads ----------------------------------------------------------------------------------------


@router.get("/clients/{uuid:code}/wallet/balances", response=list[BalanceOut], url_name="api_wallet_balances",
            summary="A client's wallet balances")
@requires_scope("wallet:read")
def balance_list(request: HttpRequest, code: UUID) -> list[dict[str, Any]]:
    """One wallet per currency, by currency: the balance, what is held and what is available."""
    client = _client(caller_of(request), code, VIEW_PERMISSION)
    return [{"currency": b.balance.currency, "balance": _money(b.balance), "held": _money(b.held),
             "available": _money(b.available)} for b in selectors.wallet_balances_for_client(client)]


@router.get("/deposits", response=DepositPage, url_name="api_deposit_list", summary="List deposits")
@requires_scope("wallet:read")
def deposit_list(request: HttpRequest, filters: Query[DepositFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Deposits of the clients within your scope, newest first."""
    qs = _period(_deposits(caller_of(request)), filters, "created_at")
    status = one_of(filters.status, list(DepositStatus.values), "status")
    if status:
        qs = qs.filter(status=status)
    result = paginate(qs, page)
    return {"items": [deposit_out(d) for d in result.items], "next_cursor": result.next_cursor}


@router.get("/deposits/{uuid:code}", response=DepositOut, url_name="api_deposit_detail", summary="Get a deposit")
@requires_scope("wallet:read")
def deposit_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    return deposit_out(_deposit(caller_of(request), code))


@router.get("/withdrawals", response=WithdrawalPage, url_name="api_withdrawal_list", summary="List withdrawals")
@requires_scope("wallet:read")
def withdrawal_list(request: HttpRequest, filters: Query[WithdrawalFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Withdrawals of the clients within your scope, the newest request first. Staff need finance's
    withdrawal queue (wallet.approve_withdrawal)."""
    qs = _period(_withdrawals(caller_of(request)), filters, "requested_at")
    state = one_of(filters.state, list(WithdrawalState.values), "state")
    if state:
        qs = qs.filter(state=state)
    result = paginate(qs, page, keys=REQUESTED_NEWEST_FIRST)
    return {"items": _withdrawals_out(caller_of(request), list(result.items)), "next_cursor": result.next_cursor}


@router.get("/withdrawals/{uuid:code}", response=WithdrawalOut, url_name="api_withdrawal_detail",
            summary="Get a withdrawal")
@requires_scope("wallet:read")
def withdrawal_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """One withdrawal; for finance (wallet.approve_withdrawal, or a key's wallet:approve scope) with its
    flags (`flags`: their codes, whether they hold it, and the reasons the caller may read)."""
    caller = caller_of(request)
    return _withdrawals_out(caller, [_withdrawal(caller, code)])[0]


# --- decisions and movements ------------------------------------------------------------------------


@router.post("/withdrawals/{uuid:code}/approval", response=WithdrawalOut, url_name="api_withdrawal_approve",
             summary="Approve a withdrawal")
@requires_scope("wallet:approve")
def withdrawal_approve(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """Approve a requested withdrawal; the payout is sent once approved. Above the brand's four-eyes
    threshold the first approval is recorded (`approvals`: 1) and a second person approves (the same
    person twice: **409** `withdrawal_four_eyes`). An API key may approve only a withdrawal that needs one
    approval (**403** `four_eyes_needs_staff`). Not requested any more: **409**
    `withdrawal_not_requested`. Event `wallet.withdrawal_approved`."""
    caller = caller_of(request)
    withdrawal = _withdrawal(caller, code)
    if caller.api_key is not None and withdrawal.needs_two_approvals:
        raise ApiError(403, "four_eyes_needs_staff", _(
            "This withdrawal needs the approval of two people; members of finance approve it in the queue."))
    if caller.api_key is None:
        # The queue's own permission: the list may have been narrowed since, the decision is checked again.
        _staff_may(caller, APPROVE_PERMISSION)
    return withdrawal_out(services.withdrawal_approve(withdrawal=withdrawal, actor=caller.user))


@router.post("/withdrawals/{uuid:code}/rejection", response=WithdrawalOut, url_name="api_withdrawal_reject",
             summary="Reject a withdrawal")
@requires_scope("wallet:approve")
def withdrawal_reject(request: HttpRequest, code: UUID, payload: RejectIn) -> dict[str, Any]:
    """Turn a pending withdrawal down, saying why; the held amount is available to the client again.
    Not pending any more: **409** `withdrawal_not_pending`. Event `wallet.withdrawal_rejected`."""
    caller = caller_of(request)
    withdrawal = _withdrawal(caller, code)
    return withdrawal_out(services.withdrawal_reject(withdrawal=withdrawal, actor=caller.user, reason=payload.reason))


@router.post("/deposits/{uuid:code}/refunds", response={201: RefundOut}, url_name="api_deposit_refund",
             summary="Refund a deposit")
@requires_scope("wallet:write")
def deposit_refund(request: HttpRequest, code: UUID, payload: RefundIn) -> Status[dict[str, Any]]:
    """Give (part of) a succeeded deposit back through its provider, to the method it was paid with. The
    amount is at most what is left to refund and what the wallet still has available (**422** naming
    `amount` otherwise); the provider's answer is in `status`. A provider that fails is **400**
    `provider_failed`. Above the brand's refund threshold (its withdrawal policy) the refund waits for
    a second person: `status` is `pending_approval` and nothing is asked of the provider until another
    member of finance approves it (`.../approval`) or sends it back; an API key may not ask for such a
    refund (**403** `four_eyes_needs_staff`), as four eyes count people."""
    caller = caller_of(request)
    _staff_may(caller, REFUND_PERMISSION)
    deposit = _deposit(caller, code)
    money = money_parse(payload.amount, payload.currency or deposit.currency, typed=False)
    if money.currency != deposit.currency:
        raise ValidationFailed(fields={"currency": [_("Refund in the deposit's currency, %(currency)s.")
                                                    % {"currency": deposit.currency}]})
    try:
        refund = services.deposit_refund(deposit=deposit, amount=money, actor=caller.user, reason=payload.reason)
    except RefundFourEyesRefused as error:
        if error.code == "four_eyes_needs_staff":
            raise ApiError(403, error.code, error.message) from None
        raise
    return Status(201, refund_out(refund))


def _refund_for_second(caller: Caller, code: UUID, refund: UUID) -> DepositRefund:
    """A refund of a deposit in scope, for a staff session with the refund permission: four eyes
    count people, so an API key neither approves nor sends back (**403** `four_eyes_needs_staff`)."""
    if caller.api_key is not None:
        raise ApiError(403, "four_eyes_needs_staff", _(
            "A refund above the brand's threshold is approved or sent back by a second member of finance."))
    _staff_may(caller, REFUND_PERMISSION)
    return selectors.refund_get_for_deposit(deposit=_deposit(caller, code), code=refund)


@router.post("/deposits/{uuid:code}/refunds/{uuid:refund}/approval", response=RefundOut,
             url_name="api_deposit_refund_approve", summary="Approve a refund waiting for a second person")
@requires_scope("wallet:write")
def deposit_refund_approve(request: HttpRequest, code: UUID, refund: UUID) -> dict[str, Any]:
    """A second person approves a refund in `pending_approval`: it is asked of the provider at once
    (`status` as for a refund below the threshold). Its proposer: **409** `refund_four_eyes`; not
    waiting: **409** `refund_not_pending`; the money spent since: **422** naming `amount`."""
    caller = caller_of(request)
    found = _refund_for_second(caller, code, refund)
    return refund_out(services.deposit_refund_approve(refund=found, actor=caller.user))


@router.post("/deposits/{uuid:code}/refunds/{uuid:refund}/sending-back", response=RefundOut,
             url_name="api_deposit_refund_send_back", summary="Send back a refund waiting for a second person")
@requires_scope("wallet:write")
def deposit_refund_send_back(request: HttpRequest, code: UUID, refund: UUID, payload: SendBackIn) -> dict[str, Any]:
    """A second person sends a refund in `pending_approval` back, saying why: `status` `sent_back`,
    nothing refunded. Its proposer: **409** `refund_four_eyes`; not waiting: **409** `refund_not_pending`."""
    caller = caller_of(request)
    found = _refund_for_second(caller, code, refund)
    return refund_out(services.deposit_refund_send_back(refund=found, actor=caller.user, reason=payload.reason))


@router.post("/clients/{uuid:code}/transfers", response={201: TransferOut}, url_name="api_transfer_create",
             summary="Transfer between a client's wallet and trading accounts")
@requires_scope("wallet:write")
def transfer_create(request: HttpRequest, code: UUID, payload: TransferIn) -> Status[dict[str, Any]]:
    """Move money from the client's wallet to one of its live trading accounts, back, or between two
    of its accounts, in the account's currency. Refusals name the field (**422**: `source`, `target`,
    `amount`). The platform applies it after the answer: `state` follows. Repeating a `key` returns
    the first transfer."""
    caller = caller_of(request)
    client = _client(caller, code, TRANSFER_PERMISSION)
    accounts = {a.code: a for a in selectors.transfer_accounts_for(client=client)}
    chosen: dict[str, Any] = {}
    for field in ("source", "target"):
        value = getattr(payload, field)
        if value is not None and value not in accounts:
            raise ValidationFailed(fields={field: [_("Choose one of the client's live trading accounts.")]})
        chosen[field] = accounts.get(value) if value is not None else None
    account = chosen["source"] or chosen["target"]
    if account is None:
        raise ValidationFailed(fields={"target": [_("Choose a trading account to transfer to or from.")]})
    money = money_parse(payload.amount, account.currency, typed=False)
    transfer = services.transfer_request(actor=caller.user, client=client, source=chosen["source"],
                                         target=chosen["target"], amount=money,
                                         key=f"api:{caller.ident}:{payload.key}")
    return Status(201, transfer_out(transfer))

