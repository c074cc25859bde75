"""One interface for every payment provider, with the value types it speaks.

Adapters know nothing of the database: they get a ``ProviderConfig`` (decrypted credentials, base
URL, timeouts) and speak ``Money`` (crm.lib.money), aware UTC datetimes and these dataclasses; their
configuration, calls (timeouts, retries) and registration are every adapter's (plumbing.adapters). The
deposit and withdrawal state machines are built on top of them; what they need from a provider is:

* ``create_deposit``: a redirect (hosted checkout), instructions (bank wire) or an address (crypto); the merchant
  reference is the idempotency reference: sending it twice gives the same deposit.
* ``verify_webhook``: signature and freshness checked, the body parsed into a ``WebhookMessage``,
  or ``WebhookRefused(reason)``; it never looks at the database (the inbox does: wallet.webhooks).
* ``fetch_status``: by provider reference or, when a call's answer was lost, by merchant reference;
  this is how an ``UNKNOWN`` outcome is resolved.
* ``refund`` and ``payout``: a timeout after the request left gives ``Outcome.UNKNOWN``, never an
  exception the caller might "retry" blindly.
* ``parse_settlement``: the provider's daily file as ``SettlementLine``s.
* ``webhook_reply``: the answer to a notification, for a provider that expects its own (signed).

What the adapters of the REST providers share is here too: reading a notification's signature
header and JSON body and its amounts in minor units (``signature_header``, ``webhook_json``,
``minor_money``: WebhookRefused for what cannot be read), and sending a write that moves money
once (``PaymentProvider.sent_once``: a refusal is FAILED, a lost answer UNKNOWN).
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm.lib.money import Money, MoneyError
from plumbing.adapters import Adapter, AdapterConfig
from plumbing.http import HttpErrors
from wallet.exceptions import (
    ProviderError,
    ProviderProtocolError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnsupported,
    WebhookRefused,
)
from wallet.instruments import PayerDetails


class Operation(enum.StrEnum):
    DEPOSIT = "deposit"
    REFUND = "refund"
    PAYOUT = "payout"


class Outcome(enum.StrEnum):
    """Where an operation stands at the provider."""

    PENDING = "pending"  # accepted, the result comes later (a webhook, a batch)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # refused or failed: no money moved
    UNKNOWN = "unknown"  # the request left and no answer came back: look it up with fetch_status
    NOT_FOUND = "not_found"  # the provider has no such operation (a lookup after UNKNOWN: never applied)


class WebhookKind(enum.StrEnum):
    DEPOSIT_PENDING = "deposit_pending"
    DEPOSIT_SUCCEEDED = "deposit_succeeded"
    DEPOSIT_FAILED = "deposit_failed"
    REFUND_PENDING = "refund_pending"  # the provider has the refund, not yet done: acknowledged, nothing moves
    REFUND_SUCCEEDED = "refund_succeeded"
    REFUND_FAILED = "refund_failed"
    PAYOUT_PENDING = "payout_pending"  # the payout is on its way at the provider: acknowledged, nothing moves
    PAYOUT_SUCCEEDED = "payout_succeeded"
    PAYOUT_FAILED = "payout_failed"
    CHARGEBACK = "chargeback"
    RETRIEVAL_REQUEST = "retrieval_request"  # the issuer asks for the payment's records: a dispute, no money yet


@dataclass(frozen=True)
class ProviderConfig(AdapterConfig):
    """What an adapter needs, credentials already decrypted (wallet.models.PaymentProvider.config())."""

    settings: Mapping[str, Any] = field(default_factory=dict)  # adapter-specific (bank details ...)


@dataclass(frozen=True)
class ClientFacts:
    """What a provider may need to know of the payer/payee."""

    reference: str  # the client's code in the CRM
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    language: str = ""


@dataclass(frozen=True)
class DepositRequest:
    merchant_ref: str  # ours, unique per deposit: the provider's idempotency reference
    amount: Money
    method: str  # card | ewallet | crypto | bank_wire ...
    client: ClientFacts
    return_url: str = ""
    webhook_url: str = ""


@dataclass(frozen=True)
class BankInstructions:
    """What the client needs to send a wire: the beneficiary's account and the reference to quote."""

    reference: str
    amount: Money
    beneficiary: str
    iban: str
    bic: str
    bank_name: str
    bank_address: str = ""


@dataclass(frozen=True)
class CryptoAddress:
    """Where the client sends crypto: the address (and tag or memo) of ``currency``, the asset,
    which the provider converts into ``convert_to`` when set; ``amount`` is what the client asked
    to deposit (they may send any amount: what arrives is credited)."""

    address: str
    currency: str
    amount: Money
    reference: str
    tag: str = ""
    convert_to: str = ""


@dataclass(frozen=True)
class DepositStart:
    provider_ref: str
    redirect_url: str | None = None
    instructions: BankInstructions | None = None
    crypto: CryptoAddress | None = None  # a crypto deposit's address, shown to the client
    outcome: Outcome = Outcome.PENDING
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookMessage:
    kind: WebhookKind
    event_id: str  # the provider's id of this notification: duplicates share it
    provider_ref: str  # of the object the event is about (payment, refund, payout, chargeback)
    merchant_ref: str  # our reference of that object (a chargeback: the deposit's)
    amount: Money | None
    fee: Money | None
    occurred_at: dt.datetime
    sequence: int = 0  # order of events about one object: a later one has a higher number
    payment_ref: str = ""  # a refund's or chargeback's payment at the provider
    batch_id: str = ""  # the provider's batch the object is paid in (payouts), when it says
    # The payer and the instrument of a payment, when the provider says (wallet.instruments): the number
    # already hashed by the adapter, never the number.
    payer: PayerDetails | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusResult:
    operation: Operation
    outcome: Outcome
    provider_ref: str = ""
    merchant_ref: str = ""
    amount: Money | None = None
    fee: Money | None = None
    reason: str = ""
    batch_id: str = ""  # the provider's batch of a payout, when it says
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PayoutRequest:
    merchant_ref: str
    amount: Money
    method: str
    destination: Mapping[str, str]  # card token, e-wallet e-mail, crypto address, IBAN ...
    client: ClientFacts
    webhook_url: str = ""


@dataclass(frozen=True)
class OperationResult:
    """The answer to a refund or a payout. UNKNOWN: the request may have been applied; call
    ``fetch_status(merchant_ref=..., operation=...)`` before doing anything else."""

    operation: Operation
    outcome: Outcome
    merchant_ref: str
    provider_ref: str = ""
    fee: Money | None = None
    reason: str = ""
    batch_id: str = ""  # the provider's batch a payout was put in, when it says
    raw: Mapping[str, Any] = field(default_factory=dict)


PayoutResult = OperationResult
RefundResult = OperationResult


@dataclass(frozen=True)
class SettlementLine:
    """One line of a provider's settlement report. ``amount`` is signed from the merchant's side
    (money in positive, refunds/payouts/chargebacks negative); ``fee`` is what the provider kept,
    positive."""

    row: int  # 1-based line number in the file (the header is line 1 in a CSV with a header)
    provider_ref: str
    merchant_ref: str
    kind: str  # payment | refund | payout | chargeback | fee | adjustment ...
    amount: Money
    fee: Money
    value_date: dt.date
    batch_id: str = ""
    raw: Mapping[str, str] = field(default_factory=dict)


def header_value(headers: Mapping[str, str], name: str) -> str:
    """The header ``name``, whatever its case, stripped ("" when absent)."""
    return {k.lower(): v for k, v in headers.items()}.get(name.lower(), "").strip()


def signature_header(headers: Mapping[str, str], name: str) -> str:
    """A notification's signature header ``name``; WebhookRefused "bad_signature" when it is missing."""
    given = header_value(headers, name)
    if not given:
        raise WebhookRefused("bad_signature", f"The {name} header is missing.")
    return given


def webhook_json(body: bytes, **options: Any) -> dict[str, Any]:
    """A notification's body, a JSON object (``options`` for json.loads: ``parse_float=str``);
    WebhookRefused "malformed" for anything else."""
    try:
        doc = json.loads(body, **options)
    except ValueError:
        raise WebhookRefused("malformed", "The body is not JSON.") from None
    if not isinstance(doc, dict):
        raise WebhookRefused("malformed", "The body is not a JSON object.")
    return doc


def minor_money(units: Any, currency: Any, what: str) -> Money | None:
    """An amount in the currency's minor units as Money (None when either is absent); WebhookRefused
    "malformed", naming ``what``, for one that is not a whole number of a known currency's units."""
    if units is None or currency in (None, ""):
        return None
    try:
        return Money.from_minor(units, str(currency))
    except MoneyError:
        raise WebhookRefused("malformed", f"The {what} is not a whole number of minor units in a known "
                                          f"currency.") from None


class PaymentProvider(Adapter[ProviderConfig], abc.ABC):
    """A payment provider's adapter. Subclasses set ``kind`` and implement what they support."""

    errors = HttpErrors(unavailable=ProviderUnavailable, timeout=ProviderTimeout, rejected=ProviderRejected,
                        protocol=ProviderProtocolError)
    failed = ProviderError
    rejected = ProviderRejected
    kind: str = ""
    hosted_checkout: bool = False  # deposits redirect the client to the provider's page
    # A deposit's address stays the client's: every further payment to it is a deposit of its own,
    # told apart by the provider's transaction reference (a crypto address).
    standing_addresses: bool = False
    # No payout API: finance pays an approved withdrawal from the bank itself and records it (the
    # bank's reference, or why it could not be paid); ``payout`` is never called.
    manual_payout: bool = False

    @abc.abstractmethod
    def create_deposit(self, request: DepositRequest) -> DepositStart: ...

    def sent_once(self, operation: Operation, merchant_ref: str,
                  send: Callable[[], dict[str, Any]]) -> dict[str, Any] | OperationResult:
        """A write that moves money (a refund, a payout): the provider's answer to ``send()``, which
        never resends it after it left; or the result when the provider refused it (FAILED, with its
        code) or the answer was lost (UNKNOWN: look it up with ``fetch_status``)."""
        try:
            return send()
        except ProviderRejected as exc:
            return OperationResult(operation=operation, outcome=Outcome.FAILED, merchant_ref=merchant_ref,
                                   reason=exc.code or exc.message)
        except ProviderError as exc:
            if exc.outcome_unknown:
                return OperationResult(operation=operation, outcome=Outcome.UNKNOWN, merchant_ref=merchant_ref,
                                       reason=exc.code)
            raise

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *,
                       now: dt.datetime | None = None) -> WebhookMessage:
        raise ProviderUnsupported()

    def fetch_status(self, *, provider_ref: str = "", merchant_ref: str = "",
                     operation: Operation = Operation.DEPOSIT) -> StatusResult:
        raise ProviderUnsupported()

    def refund(self, *, provider_ref: str, amount: Money, merchant_ref: str, webhook_url: str = "") -> OperationResult:
        raise ProviderUnsupported()

    def payout(self, request: PayoutRequest) -> OperationResult:
        raise ProviderUnsupported()

    def parse_settlement(self, data: bytes, filename: str) -> Iterator[SettlementLine]:
        raise ProviderUnsupported()

    def webhook_reply(self, *, status_code: int) -> tuple[int, bytes, dict[str, str]] | None:
        """The answer to a notification when the provider expects one of its own (a signed body):
        its status, body and headers; None for the inbox's plain JSON answer. ``status_code`` is the
        inbox's answer (crm.lib.webhooks.STATUS)."""
        return None
