"""Deposits: services and selectors (the state machine is described in wallet.models.deposits).

Money moves only when the provider says it did: a webhook (``deposit_webhook_apply``, registered
with the inbox) or a status lookup (``deposit_status_refresh``). Both lock the deposit row, apply
only what moves it forward (a provider event with a lower ``sequence`` than the newest applied is
ignored) and post to the ledger with a key derived from the provider's payment, so that the
webhook, a repeated webhook and a lookup credit the wallet once between them.

A success posts: the provider's clearing account debited the amount (the provider owes it to us),
the client's wallet credited the amount less the method's fee, the brand's fees account credited
the fee; then ``wallet.deposit_succeeded`` and, for the client's first successful deposit,
``wallet.first_deposit``, in the same transaction. A refund's success emits
``wallet.deposit_refunded``; a chargeback opens a dispute (wallet.disputes), and one lost emits
``wallet.deposit_charged_back`` (once), so
that the IB engine's CPA sees the deposit and claws it back (ib.handlers).

Calls to the provider are made outside a database transaction: the deposit row is committed as
"created" first, then the provider's answer moves it to pending, failed (refused: nothing
happened there) or unknown (no answer: a lookup decides).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet, Sum, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, NotFound, ValidationFailed
from crm.lib.approvals import FourEyes
from crm.lib.money import Money
from crm.models import Client
from kyc.selectors import deposit_block
from plumbing.hooks import HookPoint
from plumbing.iban import iban_normalise
from wallet.exceptions import (
    HeldDepositDecided,
    IllegalTransition,
    MethodNotAvailable,
    ProviderError,
    RefundFourEyesRefused,
)
from wallet.instruments import PayerDetails, payer_details, payer_is_client
from wallet.ledger import (
    Leg,
    accounts_for,
    available,
    clearing_account_for,
    ledger_post,
    ledger_reverse,
    system_account_for,
)
from wallet.models import (
    AccountKind,
    BreakKind,
    Deposit,
    DepositRefund,
    DepositStatus,
    DepositStatusChange,
    MethodKind,
    PaymentProvider,
    ReconciliationBreak,
    WithdrawalPolicy,
)
from wallet.models.deposits import (
    CREDITED_STATUSES,
    DEPOSIT_STATES,
    OPEN_STATUSES,
    REFUND_STATES,
    RefundStatus,
)
from wallet.provider_selectors import (
    FeeQuote,
    MethodOption,
    method_check_amount,
    method_fee,
    method_quote,
    methods_for,
    provider_webhook_url,
)
from wallet.providers.base import (
    BankInstructions,
    ClientFacts,
    CryptoAddress,
    DepositRequest,
    DepositStart,
    Operation,
    Outcome,
    WebhookKind,
    WebhookMessage,
)
from wallet.providers.webhook_handlers import register_webhook_handler
from wallet.three_ds import THREE_DS_FACTS

if TYPE_CHECKING:
    from trading.models import TradingAccount  # for annotations only

logger = logging.getLogger("wallet.deposits")
S = DepositStatus


# --- the state machine ---------------------------------------------------------------------------------

def _move(deposit: Deposit, to: str, *, note: str = "", event_id: str = "", actor: Any = None,
          staff_note: str = "", changed: Iterable[str] = ()) -> None:
    """Change the (locked) deposit's status through DEPOSIT_STATES (IllegalTransition, nothing
    written, for what the machine does not allow) and leave its DepositStatusChange row. `note` is
    the deposit's message (the client reads it); `staff_note` is added on the history row only.
    `changed`: other fields the caller set on the deposit, written in the same UPDATE. No savepoint:
    every caller holds the deposit's lock in a transaction that a failure here ends."""
    history = f"{note} {staff_note}".strip() if staff_note else note
    DEPOSIT_STATES.move(deposit, to, also={"status_message": note[:300]} if note else None, savepoint=False,
                        save=(*dict.fromkeys(changed), "status_message", "updated_at"), note=history[:300],
                        event_id=event_id[:200], actor=actor if getattr(actor, "pk", None) else None)


def _save_changed(deposit: Deposit, changed: Iterable[str]) -> None:
    """Write the fields a caller set on the (locked) deposit and left for one UPDATE, if any."""
    fields = list(dict.fromkeys(changed))
    if fields:
        deposit.save(update_fields=[*fields, "updated_at"])


def _locked(deposit: Deposit | int) -> Deposit:
    """The deposit's row locked (its alone: not the provider's, which every deposit of the provider
    shares, nor the client's; crm.models.locks), with its provider and client loaded."""
    pk = deposit if isinstance(deposit, int) else deposit.pk
    return Deposit.objects.select_for_update(of=("self",)).select_related("provider", "client").get(pk=pk)


def _refund_locked(refund_id: int) -> DepositRefund:
    """A refund locked after its deposit (crm.models.locks: a deposit before its refunds, as deposit_refund
    and deposit_refuse take them); the deposit, locked, is the refund's."""
    deposit_id = DepositRefund.objects.values_list("deposit_id", flat=True).get(pk=refund_id)
    deposit = _locked(deposit_id)
    refund = DepositRefund.objects.select_for_update(of=("self",)).get(pk=refund_id)
    refund.deposit = deposit
    return refund


# --- creating --------------------------------------------------------------------------------------------

def deposit_options(*, client: Client, currency: str) -> list[MethodOption]:
    """The deposit methods the client may use in ``currency``."""
    return methods_for(brand=client.brand, country=client.country, currency=currency, direction="deposit")


def deposit_quote(*, client: Client, amount: Money, method: str) -> FeeQuote | None:
    """The fee of depositing ``amount`` by ``method`` (a method kind or a PaymentMethod code) and
    what the wallet is credited, as deposit_create would book them; None when the method does not
    take the amount's currency for the client. Shown before the client goes to pay."""
    option = next((o for o in deposit_options(client=client, currency=amount.currency)
                   if method in (o.method, o.method_code)), None)
    return method_quote(option, amount) if option is not None else None


def deposit_currencies(*, client: Client) -> list[str]:
    from wallet.models import PaymentMethodCurrency

    codes = (PaymentMethodCurrency.objects.filter(method__brand_id=client.brand_id, method__direction="deposit",
                                                  method__is_enabled=True)
             .values_list("currency", flat=True).distinct())
    return sorted(set(codes))


# --- the compliance hook point ---------------------------------------------------------------------

DepositCheck = Callable[..., str | None]
# A higher app (compliance) plugs in here what refuses any deposit of a client (called with client=);
# each returns the sentence the client is shown, or None.
deposit_checks: HookPoint[DepositCheck] = HookPoint("wallet.deposit")
register_deposit_check = deposit_checks.register
unregister_deposit_check = deposit_checks.unregister


def deposit_refusal(*, client: Client) -> str | None:
    """The first reason a registered check gives to refuse every deposit of `client` now, else None."""
    for check in deposit_checks:
        refused = check(client=client)
        if refused:
            return str(refused)
    return None


def _return_naming(return_url: str, merchant_ref: str) -> str:
    """``return_url`` with the deposit's reference in its query (``merchant_ref=...``): not every
    provider says which payment it sends the client back from (Paysafe's return links come back as
    given, Praxis adds its own ``order_id``), and the page the client lands on must find the deposit."""
    if not return_url:
        return ""
    parts = urlsplit(return_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "merchant_ref"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("merchant_ref", merchant_ref)])))


def deposit_create(*, client: Client, amount: Money, method: str, actor: Any = None,
                   trading_account: TradingAccount | None = None, return_url: str = "") -> Deposit:
    """Start a deposit of ``amount`` by ``method`` (a method kind such as "card", or a PaymentMethod
    code) for ``client``; ``actor``: the member of staff making it (None: the client). Returns the
    deposit: pending with a redirect URL or bank instructions, or failed/unknown with a message
    when the provider refused or did not answer. Raises ValidationFailed (nothing written) for a
    method, amount or trading account that is not allowed, or a KYC hold."""
    if not isinstance(amount, Money):
        raise TypeError("amount is Money")
    money = amount.quantize()
    refused = deposit_refusal(client=client)
    if refused:
        raise ValidationFailed(refused, code="deposit_refused", fields={"amount": refused})
    if money.amount <= 0:
        raise ValidationFailed(fields={"amount": gettext("Enter an amount above zero.")})
    options = deposit_options(client=client, currency=money.currency)
    option = next((o for o in options if method in (o.method, o.method_code)), None)
    if option is None:
        raise MethodNotAvailable(fields={"method": gettext("This payment method is not available for %(currency)s.")
                                         % {"currency": money.currency}})
    method_check_amount(option, money)
    fee = method_fee(option, money)
    if fee.amount >= money.amount:
        raise ValidationFailed(fields={"amount": gettext("The amount must be more than the fee of %(fee)s.")
                                       % {"fee": fee}})
    blocked = deposit_block(client=client)
    if blocked:
        raise ValidationFailed(blocked, fields={"amount": blocked})
    if trading_account is not None and (trading_account.client_id != client.pk or trading_account.is_demo):
        raise ValidationFailed(fields={"trading_account": gettext("Choose one of your live trading accounts.")})
    provider = PaymentProvider.objects.get(code=option.provider_code)
    by_staff = getattr(actor, "pk", None) is not None
    with transaction.atomic():
        deposit = Deposit.objects.create(
            client=client, brand_id=client.brand_id, provider=provider, method=option.method,
            method_code=option.method_code, currency=money.currency, amount=money.amount, fee=fee.amount,
            merchant_ref=f"dep-{uuid.uuid4().hex[:24]}", trading_account=trading_account,
            created_by_client=not by_staff, created_by=actor if by_staff else None)
        DepositStatusChange.objects.create(deposit=deposit, to_status=S.CREATED,
                                           actor=actor if by_staff else None)
        audit_record(action="wallet.deposit_created", obj=deposit, actor=actor if by_staff else None, after={
            "amount": money.text(), "currency": money.currency, "method": option.method,
            "provider": provider.code, "client": str(client.code),
            "trading_account": str(trading_account.code) if trading_account else ""})
    request = DepositRequest(
        merchant_ref=deposit.merchant_ref, amount=money, method=option.method,
        client=ClientFacts(reference=str(client.code), email=client.email, first_name=client.first_name,
                           last_name=client.last_name, country=client.country, language=client.language),
        return_url=_return_naming(return_url, deposit.merchant_ref), webhook_url=provider_webhook_url(provider))
    adapter = provider.adapter()
    try:
        start = adapter.create_deposit(request)
    except ProviderError as exc:
        with transaction.atomic():
            deposit = _locked(deposit)
            if deposit.status == S.CREATED:  # a webhook may have overtaken the answer
                if exc.outcome_unknown:
                    _move(deposit, S.UNKNOWN, note=gettext(
                        "The payment provider did not answer; the deposit is being checked with it."))
                else:
                    _move(deposit, S.FAILED, note=gettext("The payment provider refused the deposit: %(why)s")
                          % {"why": exc.message})
        logger.warning("deposit create failed", extra={"deposit": str(deposit.code), "code": exc.code})
        return deposit
    finally:
        adapter.close()
    with transaction.atomic():
        deposit = _locked(deposit)
        deposit.provider_ref = start.provider_ref[:200]
        deposit.redirect_url = (start.redirect_url or "")[:1000]
        deposit.instructions = _start_instructions(start) or deposit.instructions
        deposit.save(update_fields=["provider_ref", "redirect_url", "instructions", "updated_at"])
        if deposit.status == S.CREATED:
            if start.outcome == Outcome.FAILED:
                _move(deposit, S.FAILED, note=gettext("The payment provider refused the deposit."))
            elif start.outcome == Outcome.SUCCEEDED:
                _succeed(deposit, event_id=f"create:{deposit.merchant_ref}", amount=None, occurred_at=None)
            else:
                _move(deposit, S.PENDING)
    return deposit


def _instructions(value: BankInstructions) -> dict[str, str]:
    return {"reference": value.reference, "amount": value.amount.text(), "currency": value.amount.currency,
            "beneficiary": value.beneficiary, "iban": value.iban, "bic": value.bic, "bank_name": value.bank_name,
            "bank_address": value.bank_address}


def _start_instructions(start: DepositStart) -> dict[str, str]:
    """What the client is shown to pay with: a wire's bank details or a crypto address ({}: neither)."""
    if start.instructions is not None:
        return _instructions(start.instructions)
    return _crypto_instructions(start.crypto) if start.crypto is not None else {}


def _crypto_instructions(value: CryptoAddress) -> dict[str, str]:
    """A crypto deposit's address as the client is shown it (``kind`` tells it from a wire's)."""
    return {"kind": "crypto", "address": value.address, "tag": value.tag, "currency": value.currency,
            "convert_to": value.convert_to, "reference": value.reference, "amount": value.amount.text(),
            "amount_currency": value.amount.currency}


def _risk_record(deposit: Deposit, message: WebhookMessage) -> list[str]:
    """Keep the provider's risk score of the money (a crypto deposit's, 0-1) on the (locked)
    deposit; its wallet.deposit_succeeded event carries it on to compliance. Returns the fields
    set, for the caller to write."""
    score = str((message.raw.get("data") or {}).get("risk_score") or "") if message.raw else ""
    if score and deposit.instructions.get("risk_score") != score:
        deposit.instructions = {**deposit.instructions, "risk_score": score}
        return ["instructions"]
    return []


def _three_ds_record(deposit: Deposit, message: WebhookMessage) -> list[str]:
    """Keep the provider's word on the (locked) deposit's 3-D Secure (wallet.three_ds.THREE_DS_FACTS:
    a stronger word over a weaker one, whatever order they come in). Returns the fields set, for the
    caller to write."""
    fact = str((message.raw.get("data") or {}).get("three_ds") or "") if message.raw else ""
    if fact not in THREE_DS_FACTS:
        return []
    known = str(deposit.instructions.get("three_ds") or "")
    if known in THREE_DS_FACTS and THREE_DS_FACTS.index(known) >= THREE_DS_FACTS.index(fact):
        return []
    deposit.instructions = {**deposit.instructions, "three_ds": fact}
    return ["instructions"]


# --- what the provider says ------------------------------------------------------------------------------

def _key(deposit: Deposit, what: str) -> str:
    return f"psp:{deposit.provider.code}:{deposit.merchant_ref}:{what}"


def _accounts(deposit: Deposit) -> tuple[Any, Any, Any]:
    """The client's wallet, the provider's clearing account and the brand's fees in the deposit's
    currency (those of wallet_account_for, clearing_account_for and system_account_for), read together."""
    wallet, clearing, fees = accounts_for(
        {"kind": AccountKind.CLIENT_WALLET, "currency": deposit.currency, "client": deposit.client},
        {"kind": AccountKind.PSP_CLEARING, "currency": deposit.currency, "brand": deposit.brand_id,
         "owner_ref": deposit.provider.code},
        {"kind": AccountKind.FEES, "currency": deposit.currency, "brand": deposit.brand_id})
    return wallet, clearing, fees


def _hold(deposit: Deposit, *, event_id: str, paid: Money) -> None:
    """The provider confirmed money this deposit cannot be credited with (another currency, or
    nothing): hold the (locked) deposit for finance, crediting nothing. Money confirmed in another
    currency becomes the deposit's (the amount asked and its currency are kept), so that what
    finance decides (``deposit_release``, ``deposit_refuse``) moves what the provider holds."""
    asked = deposit.money
    note = gettext("Held for finance: the provider confirmed %(paid)s for a deposit of %(asked)s; "
                   "nothing was credited.") % {"paid": paid, "asked": asked}
    if paid.amount > 0:
        # The method's fee was quoted in the currency asked: none is taken from this money.
        deposit.requested_amount, deposit.requested_currency = asked.amount, asked.currency
        deposit.amount, deposit.currency, deposit.fee = paid.amount, paid.currency, 0
        deposit.save(update_fields=["requested_amount", "requested_currency", "amount", "currency", "fee",
                                    "updated_at"])
    _move(deposit, S.HELD, note=note, event_id=event_id)
    data = {"deposit": str(deposit.code), "amount": asked.text(), "currency": asked.currency,
            "paid": paid.text(), "paid_currency": paid.currency, "provider": deposit.provider.code}
    emit("wallet.deposit_held", client=deposit.client, actor=None, data=data)
    audit_record(action="wallet.deposit_held", obj=deposit, reason=note, after=data)


def _confirm_amount(deposit: Deposit, paid: Money) -> Money:
    """The provider confirmed ``paid`` (the deposit's currency) instead of the amount asked: the
    (locked) deposit becomes ``paid``, the amount asked is kept, and the fee is capped at ``paid``.
    Returns the amount asked."""
    asked = deposit.money
    deposit.requested_amount = asked.amount
    deposit.amount = paid.amount
    deposit.fee = min(deposit.fee, paid.amount)
    deposit.save(update_fields=["requested_amount", "amount", "fee", "updated_at"])
    return asked


def _open_amount_break(deposit: Deposit, *, asked: Money, tx: Any) -> None:
    """The difference between what was asked and what the provider confirmed (and was credited),
    open in finance's reconciliation queue. The ledger already holds what the provider confirmed,
    so resolving it posts nothing (wallet.reconciliation._legs)."""
    ReconciliationBreak.objects.create(
        kind=BreakKind.AMOUNT_MISMATCH, provider=deposit.provider, brand_id=deposit.brand_id, transaction=tx,
        currency=deposit.currency, provider_currency=deposit.currency, provider_amount=deposit.amount,
        ledger_amount=asked.amount, difference=deposit.amount - asked.amount, occurred_on=timezone.localdate())


def _succeed(deposit: Deposit, *, event_id: str, amount: Money | None, occurred_at: dt.datetime | None,
             changed: Iterable[str] = ()) -> None:
    """Credit the (locked) deposit with what the provider confirmed: one ledger posting, the
    status, the events. Another amount than asked is credited, with the difference open in
    reconciliation; another currency (or nothing) holds the deposit for finance. `changed`: fields
    the caller set on the deposit, written with the status (or alone when nothing is credited)."""
    if deposit.status in CREDITED_STATUSES or deposit.status in {S.HELD, S.REFUSED}:
        _save_changed(deposit, changed)
        return  # credited already, or finance decides
    paid = amount.quantize() if amount is not None else None
    if paid is not None and (paid.currency != deposit.currency or paid.amount <= 0):
        _save_changed(deposit, changed)
        _hold(deposit, event_id=event_id, paid=paid)
        return
    note = ""
    asked: Money | None = None
    if paid is not None and paid != deposit.money:
        asked = _confirm_amount(deposit, paid)
        note = gettext("The provider confirmed %(paid)s for a deposit of %(asked)s: %(paid)s was credited and "
                       "the difference is open in reconciliation.") % {"paid": paid, "asked": asked}
    tx = _credit(deposit, event_id=event_id, occurred_at=occurred_at, note=note, changed=changed)
    if asked is not None:
        _open_amount_break(deposit, asked=asked, tx=tx)


def _credit(deposit: Deposit, *, event_id: str, occurred_at: dt.datetime | None, note: str,
            actor: Any = None, staff_note: str = "", changed: Iterable[str] = ()) -> Any:
    """Post the (locked) deposit's money to the client's wallet in its currency (the fee to the
    brand), mark it succeeded (and the client's first deposit, once) and emit. ``actor``: the
    member of finance who released a held deposit (None: the provider's word); ``changed``: fields
    the caller set on the deposit, written with the status. Returns the posting."""
    wallet, clearing, fees = _accounts(deposit)
    legs = [Leg(clearing, -deposit.money), Leg(wallet, deposit.credited)]
    if deposit.fee_money:
        legs.append(Leg(fees, deposit.fee_money))
    legs = [leg for leg in legs if leg.amount]
    tx = ledger_post(key=_key(deposit, "paid"), kind="deposit", legs=legs, occurred_at=occurred_at,
                     memo=f"Deposit {deposit.merchant_ref}", ref_kind="deposit", ref_code=str(deposit.code),
                     actor=actor,
                     # method and provider: where a withdrawal must return the money first (wallet.withdrawals).
                     meta={"provider_event": event_id, "provider_ref": deposit.provider_ref,
                           "method": deposit.method, "provider": deposit.provider.code},
                     savepoint=False)  # a refusal fails the caller's whole transaction anyway
    first = False
    # Read with the deposit's lock by the webhook's handler (_FIRST_KNOWN), else asked here.
    has_first = getattr(deposit, _FIRST_KNOWN, None)
    if has_first is None:
        has_first = Deposit.objects.filter(client_id=deposit.client_id, is_first=True).exists()
    if not has_first:
        try:
            with transaction.atomic():  # the partial unique index settles a race between two first deposits
                Deposit.objects.filter(pk=deposit.pk).update(is_first=True)
            first = True
        except IntegrityError:
            first = False
        if first:
            _first_known(deposit)
    deposit.is_first = first
    deposit.credit_transaction = tx
    deposit.succeeded_at = timezone.now()
    # One UPDATE: the posting, the status and what the caller changed.
    _move(deposit, S.SUCCEEDED, note=note, event_id=event_id, actor=actor, staff_note=staff_note,
          changed=[*changed, "is_first", "credit_transaction", "succeeded_at"])
    data = {"deposit": str(deposit.code), "amount": deposit.money.text(), "asked": deposit.requested_money.text(),
            "credited": deposit.credited.text(),
            "fee": deposit.fee_money.text(), "currency": deposit.currency, "method": deposit.method,
            "provider": deposit.provider.code, "first": first}
    if deposit.requested_currency:  # released by finance in the currency the provider took
        data["asked_currency"] = deposit.requested_currency
    if deposit.instructions.get("risk_score"):  # the provider's score of the money (crypto)
        data["risk_score"] = str(deposit.instructions["risk_score"])
    creator = deposit.created_by
    emit("wallet.deposit_succeeded", client=deposit.client, actor=creator, data=data)
    if first:
        emit("wallet.first_deposit", client=deposit.client, actor=creator, data={
            "deposit": str(deposit.code), "amount": deposit.credited.text(), "currency": deposit.currency,
            "method": deposit.method})
    audit_record(action="wallet.deposit_succeeded", obj=deposit, after={**data, "transaction": str(tx.code)})
    return tx


def _fail(deposit: Deposit, *, event_id: str, reason: str, changed: Iterable[str] = ()) -> None:
    if deposit.status in OPEN_STATUSES:
        _move(deposit, S.FAILED, note=reason or gettext("The payment did not go through."), event_id=event_id,
              changed=changed)
        return
    _save_changed(deposit, changed)
    if deposit.status in CREDITED_STATUSES:
        logger.warning("failure reported for a credited deposit", extra={"deposit": str(deposit.code)})


def _apply_payment(deposit: Deposit, *, outcome: str, sequence: int, event_id: str, amount: Money | None,
                   reason: str = "", occurred_at: dt.datetime | None = None, provider_ref: str = "",
                   changed: Iterable[str] = ()) -> None:
    """Apply what the provider says of the payment to the locked ``deposit``; sequence 0: a lookup.
    ``changed``: fields the caller set on the deposit from the same message, written in the same
    UPDATE as what this changes (one UPDATE of the deposit per notification, nearly always)."""
    changed = list(changed)
    if sequence and sequence <= deposit.provider_sequence:
        _save_changed(deposit, changed)
        return  # older than what was applied: reordered or repeated
    if provider_ref and not deposit.provider_ref:
        deposit.provider_ref = provider_ref[:200]
        changed.append("provider_ref")
        _known_add(deposit)
    if sequence:
        deposit.provider_sequence = sequence
        changed.append("provider_sequence")
    if outcome == Outcome.SUCCEEDED:
        _succeed(deposit, event_id=event_id, amount=amount, occurred_at=occurred_at, changed=changed)
    elif outcome == Outcome.FAILED:
        _fail(deposit, event_id=event_id, reason=reason, changed=changed)
    elif outcome == Outcome.PENDING and deposit.status in {S.CREATED, S.UNKNOWN}:
        _move(deposit, S.PENDING, event_id=event_id, changed=changed)
    else:
        _save_changed(deposit, changed)


def refingerprint_deposits(fingerprint: str, earlier: Iterable[str]) -> int:
    """Deposits from an instrument whose fingerprint is one of its `earlier` ones (wallet.instruments:
    under a search key no longer current, or from before the key ring) brought to its current
    `fingerprint`, now that its number is seen again: a deposit keeps no number to hash again, so this is
    how its fingerprint follows a key change. Returns how many deposits changed."""
    earlier = [value for value in earlier if value and value != fingerprint]
    if not fingerprint or not earlier:
        return 0
    # A deposit another transaction holds (being refunded, say) is left for the next time: never waited
    # for, so that this never closes a lock cycle with the wallet's lock its holder takes next.
    ids = list(Deposit.objects.select_for_update(skip_locked=True).filter(instrument_fingerprint__in=earlier)
               .values_list("pk", flat=True))
    return Deposit.objects.filter(pk__in=ids).update(instrument_fingerprint=fingerprint) if ids else 0


def _payer_record(deposit: Deposit, payer: PayerDetails, *, save: bool = True) -> list[str]:
    """Keep what the provider said of the payer and the instrument on the (locked) deposit, once: the
    first word that names them is kept (a later notification cannot change who paid), and whether the
    payer is the client is decided now with the name matcher (wallet.instruments). Returns the fields
    set; ``save=False`` leaves writing them to the caller."""
    fields = ["payer_name", "payer_is_client", "instrument_country", "instrument_fingerprint", "instrument_last4"]
    if deposit.payer_name or deposit.instrument_fingerprint or deposit.instrument_country:
        return []
    client = deposit.client
    deposit.payer_name = payer.name
    deposit.payer_is_client = payer_is_client(payer_name=payer.name, first_name=client.first_name,
                                              last_name=client.last_name)
    deposit.instrument_country = payer.country
    deposit.instrument_fingerprint = payer.fingerprint
    deposit.instrument_last4 = payer.last4
    refingerprint_deposits(payer.fingerprint, payer.earlier)
    if save:
        deposit.save(update_fields=[*fields, "updated_at"])
    return fields


@transaction.atomic
def deposit_payer_record(*, deposit: Deposit, payer_name: str, iban: str = "", country: str = "",
                         actor: Any) -> Deposit:
    """Finance records who sent a wire deposit (the sender's name and account as the bank statement shows
    them; the bank's country, or the IBAN's). Kept once, like a provider's word; ValidationFailed for a wire
    without a sender's name, an account that is not an IBAN, or a deposit that is not a wire."""
    deposit = Deposit.objects.select_for_update(of=("self",)).select_related("client").get(pk=deposit.pk)
    errors: dict[str, str] = {}
    if deposit.method != MethodKind.BANK_WIRE:
        errors["deposit"] = gettext("Only a wire's sender is entered by hand: a provider tells the others.")
    if not payer_name.strip():
        errors["payer_name"] = gettext("Enter the sender's name as the bank shows it.")
    electronic = iban_normalise(iban) if iban.strip() else ""
    if electronic is None:
        errors["iban"] = gettext("%(value)s is not a valid IBAN.") % {"value": iban.strip()[:40]}
    country = (country.strip().upper() or (electronic or "")[:2])
    if country and not (len(country) == 2 and country.isalpha()):
        errors["country"] = gettext("A two-letter country code, such as DE.")
    if errors:
        raise ValidationFailed(fields=errors)
    if deposit.payer_name or deposit.instrument_fingerprint:
        raise ValidationFailed(fields={"payer_name": gettext("This deposit's sender is recorded already.")})
    details = payer_details(kind="iban", name=payer_name, country=country, number=electronic or "")
    _payer_record(deposit, details)
    audit_record(action="wallet.deposit_payer_recorded", obj=deposit, actor=actor, after={
        "payer": deposit.payer_name, "country": deposit.instrument_country, "last4": deposit.instrument_last4,
        "payer_is_client": deposit.payer_is_client})
    return deposit


_PAYMENT_KINDS = {WebhookKind.DEPOSIT_PENDING: Outcome.PENDING, WebhookKind.DEPOSIT_SUCCEEDED: Outcome.SUCCEEDED,
                  WebhookKind.DEPOSIT_FAILED: Outcome.FAILED}
# A pending refund is acknowledged and changes nothing but the provider's reference (_refund_outcome).
_REFUND_KINDS = {WebhookKind.REFUND_PENDING: Outcome.PENDING, WebhookKind.REFUND_SUCCEEDED: Outcome.SUCCEEDED,
                 WebhookKind.REFUND_FAILED: Outcome.FAILED}


# The annotation the webhook's handler reads with the deposit's lock: whether its client has a first
# deposit already (_credit asks otherwise).
_FIRST_KNOWN = "client_has_first"


def deposits_for_webhooks() -> QuerySet[Deposit]:
    """Deposits as the webhook's handler takes them: locked (their rows alone), with provider and
    client, and whether their client has a first deposit already (``_FIRST_KNOWN``)."""
    first = Deposit.objects.filter(client_id=OuterRef("client_id"), is_first=True)
    return (Deposit.objects.select_for_update(of=("self",)).select_related("provider", "client")
            .annotate(**{_FIRST_KNOWN: Exists(first)}))


@dataclass
class _Known:
    """Deposits a caller locked for many notifications (``deposits_known``), by reference."""

    by_merchant_ref: dict[tuple[int, str], Deposit]
    by_provider_ref: dict[tuple[int, str], Deposit]
    by_client: dict[int, list[Deposit]]
    complete: bool

    def add(self, deposit: Deposit) -> None:
        # The first of a reference (in id order), as the look-up of one would find.
        self.by_merchant_ref.setdefault((deposit.provider_id, deposit.merchant_ref), deposit)
        if deposit.provider_ref:
            self.by_provider_ref.setdefault((deposit.provider_id, deposit.provider_ref), deposit)
        if deposit not in self.by_client[deposit.client_id]:
            self.by_client[deposit.client_id].append(deposit)


_known: ContextVar[_Known | None] = ContextVar("wallet_deposits_known", default=None)


@contextmanager
def deposits_known(deposits: Iterable[Deposit], *, complete: bool = False) -> Iterator[None]:
    """Within: ``deposit_webhook_apply`` takes the deposit a notification names from ``deposits``
    (read with ``deposits_for_webhooks`` in the caller's transaction, so locked until it ends)
    instead of reading and locking it again, one statement fewer per notification of a batch.
    A deposit not among them is read as usual; with ``complete`` (the caller read every deposit
    the notifications name, by merchant reference and, for a provider of standing addresses, by
    the provider's reference), a reference none of them has is known to name none. A reference
    given to a deposit within (the provider's, a further payment's deposit) is added."""
    known = _Known({}, {}, defaultdict(list), complete)
    for deposit in deposits:
        known.add(deposit)
    token = _known.set(known)
    try:
        yield
    finally:
        _known.reset(token)


def _first_known(deposit: Deposit) -> None:
    """The client of ``deposit`` has its first deposit now: the other deposits of the client that
    ``deposits_known`` holds say so too."""
    known = _known.get()
    for other in known.by_client.get(deposit.client_id, ()) if known is not None else ():
        setattr(other, _FIRST_KNOWN, True)


def _known_add(deposit: Deposit) -> None:
    """A deposit within ``deposits_known`` was given a reference, or made: found by it from now on."""
    known = _known.get()
    if known is not None:
        known.add(deposit)


@register_webhook_handler
def deposit_webhook_apply(provider: PaymentProvider, message: WebhookMessage, delivery: Any = None) -> bool:
    """The inbox's handler for deposits, their refunds and chargebacks: True when the message is
    about one of them (and it was applied), False otherwise. Runs in the inbox's transaction."""
    if message.kind in _PAYMENT_KINDS or message.kind == WebhookKind.CHARGEBACK:
        known = _known.get()
        standing = provider.standing_addresses and bool(message.provider_ref)
        found: Deposit | None = None
        if standing:
            ref = message.provider_ref[:200]
            found = known.by_provider_ref.get((provider.pk, ref)) if known is not None else None
            if found is None and (known is None or not known.complete):
                found = deposits_for_webhooks().filter(provider=provider, provider_ref=ref).first()
        if found is None:
            found = known.by_merchant_ref.get((provider.pk, message.merchant_ref)) if known is not None else None
            if found is None and (known is None or not known.complete):
                found = deposits_for_webhooks().filter(provider=provider, merchant_ref=message.merchant_ref).first()
            if found is None:
                return False
            if standing and found.provider_ref and message.kind in _PAYMENT_KINDS:
                found = _deposit_again(found, message)  # another payment to the deposit's address
        if message.kind == WebhookKind.CHARGEBACK:
            _chargeback(found, message)
        else:
            reason = str((message.raw.get("data") or {}).get("failure_reason") or "") if message.raw else ""
            changed = list(dict.fromkeys(_risk_record(found, message) + _three_ds_record(found, message)))
            if message.payer is not None and message.kind == WebhookKind.DEPOSIT_SUCCEEDED:
                changed += _payer_record(found, message.payer, save=False)
            _apply_payment(found, outcome=_PAYMENT_KINDS[message.kind], sequence=message.sequence,
                           event_id=message.event_id, amount=message.amount, occurred_at=message.occurred_at,
                           provider_ref=message.provider_ref, reason=_failure_text(reason), changed=changed)
        return True
    if message.kind in _REFUND_KINDS:
        refund_id = (DepositRefund.objects.filter(deposit__provider=provider, merchant_ref=message.merchant_ref)
                     .values_list("pk", flat=True).first())
        if refund_id is None:
            return False
        refund = _refund_locked(refund_id)
        _refund_outcome(refund, _REFUND_KINDS[message.kind], provider_ref=message.provider_ref)
        return True
    return False


def _deposit_again(first: Deposit, message: WebhookMessage) -> Deposit:
    """A further payment to the (locked) ``first`` deposit's standing address (a crypto address
    takes any number): a deposit of its own for the client, by the same method and address, known
    by the provider's transaction reference; what the provider confirms is credited on it (the
    method's fee for that amount when the method still takes it). Returns it, locked."""
    currency = first.currency
    paid = message.amount.quantize() if message.amount is not None else None
    money = paid if paid is not None and paid.currency == currency and paid.amount > 0 else first.money
    option = next((o for o in deposit_options(client=first.client, currency=currency)
                   if o.method_code == first.method_code), None)
    fee = min(method_fee(option, money).amount, money.amount) if option is not None else Decimal(0)
    instructions = {key: value for key, value in first.instructions.items() if key not in ("risk_score", "three_ds")}
    deposit = Deposit.objects.create(
        client=first.client, brand_id=first.brand_id, provider=first.provider, method=first.method,
        method_code=first.method_code, currency=currency, amount=money.amount, fee=fee,
        merchant_ref=f"dep-{uuid.uuid4().hex[:24]}", provider_ref=message.provider_ref[:200],
        instructions={**instructions, "address_of": str(first.code)}, trading_account=first.trading_account,
        created_by_client=first.created_by_client)
    DepositStatusChange.objects.create(deposit=deposit, to_status=S.CREATED, event_id=message.event_id[:200],
                                       note=gettext("Another payment to the address of deposit %(code)s.")
                                       % {"code": first.code})
    audit_record(action="wallet.deposit_created", obj=deposit, after={
        "amount": money.text(), "currency": currency, "method": first.method, "provider": first.provider.code,
        "client": str(first.client.code), "address_of": str(first.code)})
    again = _locked(deposit)
    _known_add(again)
    return again


def _failure_text(code: str) -> str:
    texts = {"card_declined": gettext("The card was declined."), "3ds_failed": gettext("3-D Secure failed."),
             "ewallet_declined": gettext("The e-wallet declined the payment."),
             "crypto_not_confirmed": gettext("The crypto payment was not confirmed.")}
    return texts.get(code, gettext("The payment did not go through.") if code else "")


def _chargeback(deposit: Deposit, message: WebhookMessage) -> None:
    """A provider's chargeback opens (or finds) the deposit's dispute (wallet.disputes): the amount is
    held on the client's wallet until finance's case is decided; losing it debits the wallet and
    charges the deposit back, winning it releases the hold."""
    from wallet.disputes import dispute_receive, message_dispute_facts

    if deposit.status not in {S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.CHARGED_BACK}:
        logger.warning("chargeback of a deposit not credited", extra={"deposit": str(deposit.code)})
        return
    code, text, due = message_dispute_facts(message)
    dispute_receive(deposit=deposit, kind="chargeback", amount=message.amount, reason_code=code, reason=text,
                    provider_ref=message.provider_ref, due_at=due)


# --- lookups and expiry ------------------------------------------------------------------------------------

def deposit_status_refresh(*, deposit: Deposit) -> Deposit:
    """Ask the provider where an open deposit stands and apply it; expire one that is still open
    after WALLET_DEPOSIT_EXPIRY_MINUTES. Returns the deposit as it now is."""
    if deposit.status not in OPEN_STATUSES:
        return deposit
    provider = deposit.provider
    adapter = provider.adapter()
    try:
        result = adapter.fetch_status(provider_ref=deposit.provider_ref, merchant_ref=deposit.merchant_ref,
                                      operation=Operation.DEPOSIT)
    except ProviderError as exc:
        logger.warning("deposit status lookup failed", extra={"deposit": str(deposit.code), "code": exc.code})
        result = None
    finally:
        adapter.close()
    expire_before = timezone.now() - dt.timedelta(minutes=settings.WALLET_DEPOSIT_EXPIRY_MINUTES)
    with transaction.atomic():
        deposit = _locked(deposit)
        if result is not None and deposit.status in OPEN_STATUSES:
            if result.outcome == Outcome.NOT_FOUND:
                if deposit.status in {S.UNKNOWN, S.CREATED} and deposit.created_at < expire_before:
                    _move(deposit, S.FAILED, note=gettext("The payment provider never received this deposit."))
                elif deposit.status == S.UNKNOWN:
                    _move(deposit, S.FAILED, note=gettext("The payment provider never received this deposit."))
            else:
                _apply_payment(deposit, outcome=result.outcome, sequence=0,
                               event_id=f"status:{result.provider_ref or deposit.merchant_ref}",
                               amount=result.amount, reason=_failure_text(result.reason),
                               provider_ref=result.provider_ref)
        if deposit.status in OPEN_STATUSES and deposit.created_at < expire_before and (
                result is None or result.outcome != Outcome.SUCCEEDED):
            _move(deposit, S.EXPIRED, note=gettext("The deposit was not paid in time."))
    return deposit


def deposits_refresh_due(*, limit: int = 200) -> int:
    """Refresh the open deposits older than WALLET_DEPOSIT_REFRESH_AFTER_MINUTES (the beat task)."""
    before = timezone.now() - dt.timedelta(minutes=settings.WALLET_DEPOSIT_REFRESH_AFTER_MINUTES)
    due = list(Deposit.objects.filter(status__in=OPEN_STATUSES, updated_at__lt=before)
               .select_related("provider").order_by("updated_at")[:limit])
    for deposit in due:
        deposit_status_refresh(deposit=deposit)
    return len(due)


@transaction.atomic
def deposit_cancel(*, deposit: Deposit, actor: Any = None) -> Deposit:
    """The client (or staff) gives up an open deposit. Money that arrives afterwards is still credited."""
    deposit = _locked(deposit)
    if deposit.status not in {S.CREATED, S.PENDING}:
        raise IllegalTransition(gettext("Only a deposit that is not paid yet can be cancelled."))
    _move(deposit, S.CANCELLED, note=gettext("Cancelled."), actor=actor)
    audit_record(action="wallet.deposit_cancelled", obj=deposit, actor=actor if getattr(actor, "pk", None) else None)
    return deposit


# --- finance's decision on a held deposit -------------------------------------------------------------

DECIDE_HELD = "wallet.decide_held_deposit"


def _decision_check(deposit: Deposit, *, actor: Any, reason: str) -> str:
    from crm.permissions import user_can

    if not user_can(actor, DECIDE_HELD):
        raise NotAllowed(gettext("Releasing or refusing a held deposit needs the permission to decide held "
                                 "deposits."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": gettext("Say why, for the client's file and the audit log.")})
    return reason[:300]


def _not_held(deposit: Deposit) -> HeldDepositDecided:
    return HeldDepositDecided(gettext("This deposit is no longer held for finance: it is %(status)s. Nothing "
                                      "more was done.") % {"status": deposit.get_status_display().lower()})


def held_release_refusal(deposit: Deposit) -> str | None:
    """Why the held ``deposit`` cannot be released to the client, or None: the provider confirmed
    nothing, or money in a currency the brand keeps no wallets in (its deposit methods take none)."""
    if not deposit.held_with_money:
        return gettext("The provider confirmed nothing that could be credited: refuse the deposit to close it.")
    if deposit.currency not in deposit_currencies(client=deposit.client):
        return gettext("%(brand)s keeps no client wallets in %(currency)s (none of its deposit methods takes it): "
                       "refuse the deposit so that the provider returns the money to the payer.") % {
            "brand": deposit.client.brand.name, "currency": deposit.currency}
    return None


@transaction.atomic
def deposit_release(*, deposit: Deposit, actor: Any, reason: str) -> Deposit:
    """Finance releases a deposit held because the provider confirmed another currency than asked:
    the money is credited as the provider took it, in its own currency, to the client's wallet in
    that currency (opened if the client has none), with no fee (the method's fee was quoted in the
    currency asked). Then the deposit is succeeded like any other: the first deposit, the IB
    engine and the transfer to a trading account see it. Idempotent: the deposit row is locked and
    must still be held (HeldDepositDecided otherwise, nothing posted), and the posting's key is the
    deposit's own, so a second click credits nothing. NotAllowed without DECIDE_HELD; a currency
    the brand keeps no wallets in is refused (ValidationFailed, naming it)."""
    reason = _decision_check(deposit, actor=actor, reason=reason)
    deposit = _locked(deposit)
    if deposit.status != S.HELD:
        raise _not_held(deposit)
    refused = held_release_refusal(deposit)
    if refused:
        raise ValidationFailed(refused, fields={"currency": refused})
    note = gettext("Released by finance: %(paid)s credited in %(currency)s for a deposit of %(asked)s asked.") % {
        "paid": deposit.money, "currency": deposit.currency, "asked": deposit.requested_money}
    tx = _credit(deposit, event_id=f"release:{deposit.merchant_ref}", occurred_at=None, note=note, actor=actor,
                 staff_note=reason)
    data = {"deposit": str(deposit.code), "amount": deposit.money.text(), "currency": deposit.currency,
            "asked": deposit.requested_money.text(), "asked_currency": deposit.requested_money.currency,
            "provider": deposit.provider.code, "reason": reason}
    emit("wallet.deposit_released", client=deposit.client, actor=actor, data=data)
    audit_record(action="wallet.deposit_released", obj=deposit, actor=actor, reason=reason,
                 before={"status": S.HELD}, after={**data, "status": deposit.status, "transaction": str(tx.code)})
    return deposit


def deposit_refuse(*, deposit: Deposit, actor: Any, reason: str) -> Deposit:
    """Finance refuses a held deposit: the money the provider confirmed goes back to the payer.

    In one transaction (the deposit row locked, so a second click finds it refused and does
    nothing): the money is booked as the provider took it, from its clearing account to the
    brand's suspense account in that currency (it is owed to the payer, not to a client's wallet,
    and the provider's settlement line of the payment finds its posting), the deposit becomes
    refused and a refund is recorded. Then the refund is asked of the provider (outside the
    transaction); when it succeeds, suspense pays the clearing account back and the deposit is
    refunded. A refund the provider refused leaves the deposit refused, and this service asks
    again. A hold for nothing is closed as failed, returning nothing. Returns the deposit."""
    reason = _decision_check(deposit, actor=actor, reason=reason)
    with transaction.atomic():
        deposit = _locked(deposit)
        retry = deposit.status == S.REFUSED and not deposit.refunds.exclude(status=RefundStatus.FAILED).exists()
        if deposit.status != S.HELD and not retry:
            raise _not_held(deposit)
        if not deposit.held_with_money and not retry:
            _move(deposit, S.FAILED, actor=actor, staff_note=reason, note=gettext(
                "Refused by finance; the provider confirmed nothing, so nothing is returned."))
            _refused_emit(deposit, actor=actor, reason=reason)
            return deposit
        money = deposit.money
        if not retry:
            clearing = clearing_account_for(provider=deposit.provider.code, currency=money.currency,
                                            brand=deposit.brand_id)
            suspense = system_account_for(kind=AccountKind.SUSPENSE, currency=money.currency, brand=deposit.brand_id)
            ledger_post(key=_key(deposit, "refused"), kind="deposit", legs=[Leg(clearing, -money), Leg(suspense, money)],
                        actor=actor, memo=f"Deposit {deposit.merchant_ref} refused: owed back to the payer",
                        ref_kind="deposit", ref_code=str(deposit.code),
                        meta={"provider_ref": deposit.provider_ref, "provider": deposit.provider.code})
            _move(deposit, S.REFUSED, actor=actor, staff_note=reason, note=gettext(
                "Refused by finance: %(paid)s goes back to the payer through %(provider)s.")
                % {"paid": money, "provider": deposit.provider.name})
            _refused_emit(deposit, actor=actor, reason=reason)
        refund = DepositRefund.objects.create(deposit=deposit, merchant_ref=f"rf-{uuid.uuid4().hex[:24]}",
                                              amount=money.amount, currency=money.currency, actor=actor,
                                              reason=reason)
        audit_record(action="wallet.deposit_refund_requested", obj=deposit, actor=actor, reason=reason,
                     after={"amount": money.text(), "currency": money.currency, "refund": refund.merchant_ref})
    try:
        _refund_send(deposit, refund)
    except ProviderError as error:  # recorded on the refund; the page shows it and offers to ask again
        logger.warning("refund of a refused deposit failed", extra={"deposit": str(deposit.code), "code": error.code})
    deposit.refresh_from_db()
    return deposit


def _refused_emit(deposit: Deposit, *, actor: Any, reason: str) -> None:
    data = {"deposit": str(deposit.code), "amount": deposit.money.text(), "currency": deposit.currency,
            "asked": deposit.requested_money.text(), "asked_currency": deposit.requested_money.currency,
            "provider": deposit.provider.code, "reason": reason}
    emit("wallet.deposit_refused", client=deposit.client, actor=actor, data=data)
    audit_record(action="wallet.deposit_refused", obj=deposit, actor=actor, reason=reason,
                 before={"status": S.HELD}, after={**data, "status": deposit.status})


def _refused_returned(deposit: Deposit, refund: DepositRefund) -> None:
    """The provider returned a refused deposit's money to the payer (locked deposit and refund):
    suspense pays the clearing account back, once. No ``wallet.deposit_refunded``: the deposit was
    never credited, so there is nothing for the IB engine to claw back."""
    money = refund.money
    clearing = clearing_account_for(provider=deposit.provider.code, currency=money.currency, brand=deposit.brand_id)
    suspense = system_account_for(kind=AccountKind.SUSPENSE, currency=money.currency, brand=deposit.brand_id)
    tx = ledger_post(key=_key(deposit, f"refund:{refund.merchant_ref}"), kind="deposit_refund",
                     legs=[Leg(suspense, -money), Leg(clearing, money)], actor=refund.actor, memo=refund.reason,
                     ref_kind="deposit", ref_code=str(deposit.code))
    REFUND_STATES.move(refund, RefundStatus.SUCCEEDED, also={"transaction": tx}, save=("provider_ref",))
    deposit.refunded = money.amount
    deposit.save(update_fields=["refunded", "updated_at"])
    _move(deposit, S.REFUNDED, actor=refund.actor, note=gettext("Returned %(amount)s to the payer.") % {"amount": money})
    audit_record(action="wallet.deposit_refunded", obj=deposit, actor=refund.actor, reason=refund.reason,
                 after={"amount": money.text(), "currency": money.currency, "transaction": str(tx.code),
                        "refused": True})


# --- refunds ---------------------------------------------------------------------------------------------
# A refund goes back to the deposit's own method, through its provider. Above the brand's refund threshold
# (WithdrawalPolicy.refund_four_eyes_above, per currency: data, set on the policy page) it waits for a
# second person first: the refund row is kept "pending_approval" with who asked for it (REFUND_APPROVAL's
# proposal), nothing is asked of the provider; a second, different person with the refund permission
# approves it (it is asked of the provider at once) or sends it back ("sent_back", the proposal cleared).
#
#   pending_approval -> requested (approved) | sent_back;  requested -> succeeded | failed | unknown
#   (wallet.models.deposits.REFUND_STATES: every move goes through it)


def _refund_needs_two(refund: DepositRefund, values: Mapping[str, Any]) -> bool:
    policy = WithdrawalPolicy.objects.filter(brand_id=refund.deposit.brand_id).first()
    limit = policy.refund_four_eyes_limit(refund.currency) if policy is not None else None
    return limit is not None and refund.money.amount > limit.amount


REFUND_APPROVAL = FourEyes(
    name="deposit refund", proposer_field="proposed_by", value_fields=("proposed_at",),
    approver_field="approved_by", error=RefundFourEyesRefused, audit=audit_record,
    same_person_code=RefundFourEyesRefused.default_code,
    actions={"proposed": "wallet.deposit_refund_proposed", "approved": "wallet.deposit_refund_approved",
             "sent_back": "wallet.deposit_refund_sent_back"},
    needed=_refund_needs_two,
    same_person_approve=gettext_lazy("A second person must approve this refund."),
    same_person_send_back=gettext_lazy("A second person must review this refund."),
    not_pending=gettext_lazy("This refund is not waiting for a second person."),
)


def _waiting(deposit: Deposit) -> Money:
    """What refunds waiting for a second person would give back of `deposit`."""
    total = (DepositRefund.objects.filter(deposit=deposit, status=RefundStatus.PENDING_APPROVAL)
             .aggregate(total=Sum("amount"))["total"])
    return Money(total or Decimal(0), deposit.currency)


def _refund_check(deposit: Deposit, money: Money, *, waiting_besides: Money | None = None) -> None:
    """Refusals of refunding `money` of the locked `deposit` now: only a succeeded deposit, at most what
    is left (less what other refunds wait to give back), and what the client's wallet still has."""
    if deposit.status not in {S.SUCCEEDED, S.PARTIALLY_REFUNDED}:
        raise IllegalTransition(gettext("Only a succeeded deposit can be refunded."))
    waiting = waiting_besides if waiting_besides is not None else _waiting(deposit)
    left = (deposit.money - deposit.refunded_money - waiting).quantize()
    if money.currency != deposit.currency or money.amount <= 0 or money.amount > left.amount:
        raise ValidationFailed(fields={"amount": gettext("Enter an amount above zero and at most %(left)s.")
                                       % {"left": left}})
    wallet, _clearing, _fees = _accounts(deposit)
    debit = deposit.credited if _is_full(deposit, money) else money
    if available(wallet).amount < debit.amount:
        raise ValidationFailed(fields={"amount": gettext(
            "The client's wallet has only %(available)s available; the money has been spent.")
            % {"available": available(wallet)}})


def deposit_refund(*, deposit: Deposit, amount: Money, actor: Any, reason: str) -> DepositRefund:
    """Give (part of) a succeeded deposit back through its provider (the deposit's own method). The
    wallet must still hold the money (nothing asked of the provider otherwise). Above the brand's
    refund threshold the refund waits for a second person (status "pending_approval", REFUND_APPROVAL;
    `actor` must then be a person: RefundFourEyesRefused for none) and nothing is asked of the
    provider until deposit_refund_approve."""
    if not reason.strip():
        raise ValidationFailed(fields={"reason": gettext("Say why the deposit is refunded.")})
    money = amount.quantize()
    with transaction.atomic():
        deposit = _locked(deposit)
        _refund_check(deposit, money)
        refund = DepositRefund(deposit=deposit, merchant_ref=f"rf-{uuid.uuid4().hex[:24]}", amount=money.amount,
                               currency=money.currency, actor=actor, reason=reason[:300])
        if REFUND_APPROVAL.needed(refund, {}):
            if actor is None:
                raise RefundFourEyesRefused(gettext(
                    "This refund needs the approval of two people; members of finance ask for it in the pages."),
                    code="four_eyes_needs_staff")
            refund.status = RefundStatus.PENDING_APPROVAL  # created waiting: not a move
            refund.save()
            REFUND_APPROVAL.propose(refund, actor=actor, values={"proposed_at": timezone.now()}, reason=reason,
                                    after=_refund_payload(refund))
            return refund
        refund.save()
        audit_record(action="wallet.deposit_refund_requested", obj=deposit, actor=actor, reason=reason,
                     after={"amount": money.text(), "refund": refund.merchant_ref})
    return _refund_send(deposit, refund)


def _refund_payload(refund: DepositRefund) -> dict[str, Any]:
    return {"deposit": str(refund.deposit.code), "refund": refund.merchant_ref, "amount": refund.money.text(),
            "currency": refund.currency, "status": refund.status}


def _refund_waiting_locked(refund: DepositRefund) -> DepositRefund:
    locked = _refund_locked(refund.pk)
    if locked.status != RefundStatus.PENDING_APPROVAL:
        raise RefundFourEyesRefused(str(REFUND_APPROVAL.not_pending), code="refund_not_pending")
    return locked


def deposit_refund_approve(*, refund: DepositRefund, actor: Any) -> DepositRefund:
    """A second person approves a refund waiting for one (not its proposer: RefundFourEyesRefused, nothing
    written): the wallet's checks again (the money may have been spent since: nothing approved), then the
    refund is asked of the provider at once, like one below the threshold."""
    with transaction.atomic():
        locked = _refund_waiting_locked(refund)
        REFUND_APPROVAL.check_second(locked, actor=actor)
        deposit = locked.deposit
        _refund_check(deposit, locked.money, waiting_besides=_waiting(deposit) - locked.money)
        REFUND_STATES.move(locked, RefundStatus.REQUESTED, also={"approved_at": timezone.now()}, save=())
        REFUND_APPROVAL.approve(locked, actor=actor, after=_refund_payload(locked))
    return _refund_send(deposit, locked)


@transaction.atomic
def deposit_refund_send_back(*, refund: DepositRefund, actor: Any, reason: str) -> DepositRefund:
    """A second person disagrees with a refund waiting for one, saying why: it is not made ("sent_back",
    its proposal cleared; the audit row keeps who proposed it). Not by its proposer (RefundFourEyesRefused)."""
    text = reason.strip()
    if not text:
        raise ValidationFailed(fields={"reason": gettext("Say why the refund is sent back.")})
    locked = _refund_waiting_locked(refund)
    REFUND_APPROVAL.check_second(locked, actor=actor, sending_back=True)
    REFUND_STATES.move(locked, RefundStatus.SENT_BACK, save=())
    REFUND_APPROVAL.send_back(locked, actor=actor, reason=text, after=_refund_payload(locked))
    return locked


def _refund_send(deposit: Deposit, refund: DepositRefund) -> DepositRefund:
    """Ask the provider for the (committed, requested) refund, outside any transaction, and apply
    its answer: succeeded, failed (refused: nothing happened there) or unknown (a lookup or the
    webhook decides). Raises the provider's error after recording it."""
    adapter = deposit.provider.adapter()
    try:
        result = adapter.refund(provider_ref=deposit.provider_ref, amount=refund.money, merchant_ref=refund.merchant_ref,
                                webhook_url=provider_webhook_url(deposit.provider))
    except ProviderError as error:
        # Refused, or not offered by this provider (a bank wire): recorded as failed, not left
        # "requested" for ever; a request whose fate is unknown waits for the lookup or webhook.
        with transaction.atomic():
            refund = _refund_locked(refund.pk)
            _refund_outcome(refund, Outcome.UNKNOWN if error.outcome_unknown else Outcome.FAILED)
        raise
    finally:
        adapter.close()
    with transaction.atomic():
        refund = _refund_locked(refund.pk)
        _refund_outcome(refund, result.outcome, provider_ref=result.provider_ref)
    return refund


def _is_full(deposit: Deposit, money: Money) -> bool:
    return not deposit.refunded_money and money == deposit.money


_REFUND_OUTCOMES: dict[str, str] = {Outcome.SUCCEEDED: RefundStatus.SUCCEEDED, Outcome.FAILED: RefundStatus.FAILED,
                                    Outcome.UNKNOWN: RefundStatus.UNKNOWN}


def _refund_outcome(refund: DepositRefund, outcome: str, *, provider_ref: str = "") -> None:
    """Apply a refund's outcome (locked refund) through REFUND_STATES: the ledger posting once, the
    deposit's status. An outcome the refund has already (a repeated notification), one that says less
    than what is known (unknown after failed), or one for a refund never asked of the provider (waiting
    for a second person, sent back: logged) changes nothing but the provider's reference."""
    if provider_ref and not refund.provider_ref:
        refund.provider_ref = provider_ref[:200]
    target = _REFUND_OUTCOMES.get(outcome)
    if target is None or target == refund.status or not REFUND_STATES.allows(refund.status, target):
        if target is not None and refund.status in {RefundStatus.PENDING_APPROVAL, RefundStatus.SENT_BACK}:
            logger.warning("a refund's outcome for a refund never asked of the provider, ignored",
                           extra={"refund": refund.merchant_ref, "status": refund.status, "outcome": outcome})
        refund.save(update_fields=["provider_ref"])
        return
    if target != RefundStatus.SUCCEEDED:
        REFUND_STATES.move(refund, target, save=("provider_ref",))
        return
    deposit = _locked(refund.deposit)
    if deposit.status == S.REFUSED:
        _refused_returned(deposit, refund)
        return
    money = refund.money
    wallet, clearing, _fees = _accounts(deposit)
    if _is_full(deposit, money) and deposit.credit_transaction is not None:
        tx = ledger_reverse(transaction=deposit.credit_transaction, key=_key(deposit, f"refund:{refund.merchant_ref}"),
                            reason=refund.reason or "refund", actor=refund.actor)
    else:
        tx = ledger_post(key=_key(deposit, f"refund:{refund.merchant_ref}"), kind="deposit_refund",
                         legs=[Leg(wallet, -money), Leg(clearing, money)], actor=refund.actor,
                         memo=refund.reason, ref_kind="deposit", ref_code=str(deposit.code))
    REFUND_STATES.move(refund, RefundStatus.SUCCEEDED, also={"transaction": tx}, save=("provider_ref",))
    deposit.refunded = (deposit.refunded_money + money).amount
    deposit.save(update_fields=["refunded", "updated_at"])
    whole = deposit.refunded_money == deposit.money
    if deposit.status != S.CHARGED_BACK:
        _move(deposit, S.REFUNDED if whole else S.PARTIALLY_REFUNDED, actor=refund.actor,
              note=gettext("Refunded %(amount)s.") % {"amount": money})
    audit_record(action="wallet.deposit_refunded", obj=deposit, actor=refund.actor, reason=refund.reason,
                 after={"amount": money.text(), "transaction": str(tx.code)})
    emit("wallet.deposit_refunded", client=deposit.client, actor=refund.actor, data={
        "deposit": str(deposit.code), "reversal": refund.merchant_ref, "amount": money.text(),
        "currency": money.currency, "method": deposit.method, "provider": deposit.provider.code})


# --- selectors ---------------------------------------------------------------------------------------------

def deposit_refundable(deposit: Deposit) -> Money | None:
    """What is left to refund of a succeeded deposit (less what refunds waiting for a second person would
    give back); None when it cannot be refunded or nothing is left."""
    if deposit.status not in {S.SUCCEEDED, S.PARTIALLY_REFUNDED}:
        return None
    left = (deposit.money - deposit.refunded_money - _waiting(deposit)).quantize()
    return left if left.amount > 0 else None


def refund_get_for_deposit(*, deposit: Deposit, code: Any) -> DepositRefund:
    """One refund of `deposit` (already authorised by the caller) by its code, else NotFound."""
    found = DepositRefund.objects.filter(deposit=deposit, code=code).select_related("deposit").first()
    if found is None:
        raise NotFound()
    return found


def deposits_for_client(*, client: Client) -> QuerySet[Deposit]:
    return Deposit.objects.filter(client=client).select_related("provider", "trading_account").order_by("-created_at", "-id")


@dataclass(frozen=True)
class DepositFigures:
    """A client's credited deposits: the total per currency, how many, and through how many
    distinct payment methods (the method and the provider's method rule)."""

    totals: dict[str, Decimal]
    count: int
    methods: int


def deposit_figures_for_client(*, client_id: int, since: dt.datetime | None = None) -> DepositFigures:
    """The client's deposits that were credited (succeeded, even if refunded or charged back later),
    from `since` when given; one aggregate query per figure, no row loaded."""
    qs = Deposit.objects.filter(client_id=client_id, status__in=CREDITED_STATUSES, succeeded_at__isnull=False)
    if since is not None:
        qs = qs.filter(succeeded_at__gte=since)
    totals = {row["currency"]: row["total"] for row in qs.values("currency").annotate(total=Sum("amount"))}
    figures = qs.aggregate(n=Count("id"), methods=Count(Concat("method", Value(":"), "method_code"), distinct=True))
    return DepositFigures(totals=totals, count=figures["n"] or 0, methods=figures["methods"] or 0)


def deposit_for_client(*, client: Client, code: Any) -> Deposit:
    """The client's own deposit; NotFound for anyone else's (or a malformed code)."""
    try:
        key = uuid.UUID(str(code))
    except ValueError:
        raise NotFound() from None
    deposit = Deposit.objects.filter(client=client, code=key).select_related("provider").first()
    if deposit is None:
        raise NotFound()
    return deposit


def deposit_list_for_user(user: Any) -> QuerySet[Deposit]:
    from crm.permissions import client_queryset_for_user

    return (Deposit.objects.filter(client_id__in=client_queryset_for_user(user).values("id"))
            .select_related("client", "provider", "brand").order_by("-created_at", "-id"))


def deposit_get_for_user(*, user: Any, code: Any) -> Deposit:
    """A deposit of a client within `user`'s scope; NotFound otherwise (or for a malformed code)."""
    from crm.permissions import code_or_404

    found = deposit_list_for_user(user).filter(code=code_or_404(code)).first()
    if found is None:
        raise NotFound()
    return found


__all__ = ["DECIDE_HELD", "HeldDepositDecided", "IllegalTransition", "deposit_cancel", "deposit_create",
           "deposit_for_client", "deposit_get_for_user", "deposit_list_for_user",
           "deposit_options", "deposit_refund", "deposit_refuse", "deposit_release", "deposit_status_refresh",
           "deposit_webhook_apply", "deposits_for_client", "deposits_refresh_due", "held_release_refusal"]


@dataclass(frozen=True)
class OwnerDepositDay:
    deposits: int
    ftds: int
    amount: Decimal          # in `currency`, never mixed with another


def owner_deposit_days(*, owner_ids: list[int], start: dt.datetime, end: dt.datetime,
                       ) -> dict[tuple[int, dt.date, str], OwnerDepositDay]:
    """Deposits that succeeded in [start, end), per owner of the client (the owner now), per day (UTC)
    and currency: how many, how many were first deposits (FTDs), and their amount. Agent
    monitoring's performance page reads these."""
    from django.db.models import Q
    from django.db.models.functions import TruncDate

    rows = (Deposit.objects.filter(client__owner_id__in=owner_ids, succeeded_at__gte=start, succeeded_at__lt=end)
            .annotate(day=TruncDate("succeeded_at", tzinfo=dt.UTC)).values("client__owner_id", "day", "currency")
            .annotate(n=Count("id"), ftds=Count("id", filter=Q(is_first=True)), total=Sum("amount")).order_by())
    return {(r["client__owner_id"], r["day"], r["currency"]): OwnerDepositDay(deposits=r["n"], ftds=r["ftds"],
                                                                              amount=r["total"] or Decimal(0))
            for r in rows}
