"""The adapter of CoinsPaid (crypto payments; its documentation now says CryptoProcessing), written
from its public API documentation, API version ``API_VERSION`` (v2).

What it speaks (JSON; amounts are decimal strings in the currency's own decimals, read with
crm.lib.money's grammar and kept as ``Money``: BTC 8 decimals; ETH is held at the 8 the ledger's
columns store, rounded once when posted):

* a deposit address: ``POST /addresses/take`` with ``currency`` (the crypto asset), ``foreign_id``
  (our deposit's merchant reference: CoinsPaid answers the same address for the same foreign id
  and currency), ``end_user_reference`` (the client's code) and, for a deposit in a fiat currency,
  ``convert_to`` (CoinsPaid converts what arrives into that currency). The client is shown the
  address and its currency (``CryptoAddress``) and pays any amount from their own wallet;
* callbacks (``type`` "deposit", "deposit_exchange", "withdrawal", "withdrawal_exchange"): the
  transaction ``id``, ``foreign_id`` (the address's for a deposit), ``status`` ("not_confirmed",
  "confirmed", "cancelled" ...), ``currency_sent`` / ``currency_received`` amounts, ``fees`` and
  ``transactions[]`` each with a ``riskscore``. A confirmed deposit credits what was received
  (``currency_received``: after conversion when ``convert_to`` was asked); the highest risk score
  of its transactions is handed on (``raw["data"]["risk_score"]``: the deposit keeps it and its
  event carries it to compliance). CoinsPaid may send one callback several times: ``event_id`` is
  the transaction id with its status, so the inbox takes each once;
* a withdrawal to a saved crypto address: ``POST /withdrawal/crypto`` with ``foreign_id`` (our
  withdrawal's merchant reference), ``amount``, ``currency``, ``address`` (and ``tag``) and
  ``convert_to`` when the wallet's currency is not the asset sent;
* a look-up: ``GET /transactions/info`` with ``foreign_id`` (an ``UNKNOWN`` outcome is resolved so).

Signing: every request and every callback carries ``X-Processing-Key`` (the API key) and
``X-Processing-Signature``, the lowercase hex HMAC-SHA512 of the raw body with the API secret. A
callback has no timestamp: a replayed one is the same transaction and status, which the inbox
takes as a duplicate; a signature moved onto another body does not match.

Configuration (wallet.models.PaymentProvider): ``api_key`` and ``api_secret`` (the callbacks'
secret too unless a webhook secret of its own is set), ``base_url`` the sandbox or live address
(``BASE_URLS``, by ``settings["environment"]`` when left empty), ``settings["deposit_currency"]``
(the asset of a fiat deposit's address, default BTC) and ``settings["convert"]`` (default true:
a fiat deposit's crypto is converted into the deposit's currency with ``convert_to``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from crm.lib.money import ISO_4217_EXPONENTS, Money, MoneyError, amount_parse, decimal_text
from crm.lib.validation import InvalidValue
from wallet.exceptions import ProviderProtocolError, ProviderRejected, WebhookRefused
from wallet.providers.base import (
    CryptoAddress,
    DepositRequest,
    DepositStart,
    Operation,
    OperationResult,
    Outcome,
    PaymentProvider,
    PayoutRequest,
    StatusResult,
    WebhookKind,
    WebhookMessage,
    header_value,
    signature_header,
    webhook_json,
)

API_VERSION = "v2"
BASE_URLS = {"sandbox": "https://app.sandbox.cryptoprocessing.com/api/v2", "live": "https://app.coinspaid.com/api/v2"}
KEY_HEADER = "X-Processing-Key"
SIGNATURE_HEADER = "X-Processing-Signature"
TAKE_ADDRESS = "/addresses/take"
WITHDRAW = "/withdrawal/crypto"
INFO = "/transactions/info"
DEPOSIT_TYPES = frozenset({"deposit", "deposit_exchange"})
WITHDRAWAL_TYPES = frozenset({"withdrawal", "withdrawal_exchange"})
CONFIRMED = frozenset({"confirmed"})
PENDING = frozenset({"not_confirmed", "processing", "pending"})
FAILED = frozenset({"cancelled", "canceled", "failed", "error"})
# How far along a status is: a later stage wins over an earlier one (``sequence``); CoinsPaid's
# callbacks carry no time of their own.
_STAGE = {**dict.fromkeys(PENDING, 1), **dict.fromkeys(FAILED, 2), **dict.fromkeys(CONFIRMED, 3)}


def signature(body: bytes, secret: str) -> str:
    """``X-Processing-Signature``: lowercase hex HMAC-SHA512 of the raw body with the API secret."""
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def is_crypto(currency: str) -> bool:
    """An asset CoinsPaid gives addresses for: any known currency that is not an ISO 4217 one."""
    return currency not in ISO_4217_EXPONENTS


def _money(part: Any, what: str) -> Money | None:
    """``{"currency": ..., "amount": "..."}`` as Money (None when absent)."""
    if not isinstance(part, Mapping) or part.get("amount") in (None, "") or not part.get("currency"):
        return None
    try:
        return Money(_decimal(part["amount"], what), str(part["currency"]).upper())
    except (MoneyError, InvalidValue):
        raise WebhookRefused("malformed", f"The callback's {what} is not an amount in a known currency.") from None


def _decimal(value: Any, what: str) -> Decimal:
    """An amount as CoinsPaid writes it: a decimal string, or a JSON number read as its text
    (the body is parsed with ``parse_float=str``: no float ever holds it)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidValue(what, "not an amount")
    return amount_parse(str(value), field=what)


def _risk_score(transactions: Any) -> str:
    """The highest ``riskscore`` of the callback's blockchain transactions ("" when none says)."""
    scores: list[Decimal] = []
    for txn in transactions if isinstance(transactions, Sequence) and not isinstance(transactions, str) else []:
        raw = txn.get("riskscore") if isinstance(txn, Mapping) else None
        if raw in (None, ""):
            continue
        try:
            scores.append(_decimal(raw, "riskscore"))
        except InvalidValue:
            continue
    return decimal_text(max(scores)) if scores else ""


def _kind(kind: str, status: str) -> WebhookKind | None:
    if kind in DEPOSIT_TYPES:
        return (WebhookKind.DEPOSIT_SUCCEEDED if status in CONFIRMED else WebhookKind.DEPOSIT_FAILED
                if status in FAILED else WebhookKind.DEPOSIT_PENDING if status in PENDING else None)
    if kind in WITHDRAWAL_TYPES:
        return (WebhookKind.PAYOUT_SUCCEEDED if status in CONFIRMED else WebhookKind.PAYOUT_FAILED
                if status in FAILED else WebhookKind.PAYOUT_PENDING if status in PENDING else None)
    return None


def _outcome(status: str) -> Outcome:
    if status in CONFIRMED:
        return Outcome.SUCCEEDED
    if status in FAILED:
        return Outcome.FAILED
    return Outcome.PENDING


def _foreign_id(doc: Mapping[str, Any]) -> str:
    """Our reference: a deposit's is its address's ``foreign_id``, a withdrawal's its own."""
    address = doc.get("crypto_address")
    if str(doc.get("type") or "") in DEPOSIT_TYPES and isinstance(address, Mapping) and address.get("foreign_id"):
        return str(address["foreign_id"])
    return str(doc.get("foreign_id") or "")


class CoinsPaidProvider(PaymentProvider):
    standing_addresses = True  # the client may send to the address again: each transaction is a deposit
    kind = "coinspaid"

    @property
    def callback_secret(self) -> str:
        return self.config.webhook_secret or self.config.api_secret

    def signed_headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        return {KEY_HEADER: self.config.api_key, SIGNATURE_HEADER: signature(body, self.config.api_secret),
                "Content-Type": "application/json"}

    def _data(self, method: str, target: str, doc: Mapping[str, Any], *, idempotent: bool) -> dict[str, Any]:
        answer = self.answer_object(self.call(method, target, doc, idempotent=idempotent), "provider")
        data = answer.get("data", answer)
        if not isinstance(data, dict):
            raise ProviderProtocolError("CoinsPaid's answer holds no object.", request_sent=True)
        return data

    # -- deposits ---------------------------------------------------------------------------------
    def address_currency(self, currency: str) -> tuple[str, str | None]:
        """The asset of the address for a deposit in ``currency``, and what CoinsPaid converts it
        into (None: credited as it arrives)."""
        if is_crypto(currency):
            return currency, None
        asset = str(self.config.settings.get("deposit_currency") or "BTC").upper()
        convert = self.config.settings.get("convert", True)
        return asset, (currency if convert else None)

    def create_deposit(self, request: DepositRequest) -> DepositStart:
        """The deposit's address (``/addresses/take``, foreign id = our merchant reference: asked
        again, CoinsPaid answers the same address, so it is retried)."""
        asset, convert_to = self.address_currency(request.amount.currency)
        doc: dict[str, Any] = {"currency": asset, "foreign_id": request.merchant_ref,
                               "end_user_reference": request.client.reference}
        if convert_to:
            doc["convert_to"] = convert_to
        data = self._data("POST", TAKE_ADDRESS, doc, idempotent=True)
        address = data.get("address")
        if not isinstance(address, str) or not address:
            raise ProviderProtocolError("CoinsPaid's answer has no address.", request_sent=True)
        return DepositStart(provider_ref="", outcome=Outcome.PENDING, raw=data, crypto=CryptoAddress(
            address=address, currency=str(data.get("currency") or asset), tag=str(data.get("tag") or ""),
            convert_to=str(data.get("convert_to") or convert_to or ""), amount=request.amount,
            reference=request.merchant_ref))

    # -- callbacks --------------------------------------------------------------------------------
    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *,
                       now: dt.datetime | None = None) -> WebhookMessage:
        given = signature_header(headers, SIGNATURE_HEADER).lower()
        if not hmac.compare_digest(given, signature(body, self.callback_secret)):
            raise WebhookRefused("bad_signature", "The signature does not match.")
        key = header_value(headers, KEY_HEADER)
        if key and key != self.config.api_key:
            raise WebhookRefused("bad_signature", "The callback is for another API key.")
        return self.message(webhook_json(body, parse_float=str), now=now)

    def message(self, doc: Mapping[str, Any], *, now: dt.datetime | None = None) -> WebhookMessage:
        """A verified callback as the wallet's message (WebhookRefused "malformed" for one it cannot read)."""
        kind_name, status = str(doc.get("type") or "").lower(), str(doc.get("status") or "").lower()
        kind = _kind(kind_name, status)
        txn_id, foreign_id = doc.get("id"), _foreign_id(doc)
        if kind is None or txn_id in (None, "") or not foreign_id:
            raise WebhookRefused("malformed", f"A {kind_name:.30} callback with status {status:.30} is not one we take.")
        deposit = kind_name in DEPOSIT_TYPES
        # A deposit credits what arrived (converted when convert_to was asked); a withdrawal is
        # known by what left.
        amount = _money(doc.get("currency_received") if deposit else doc.get("currency_sent"), "amount")
        received = doc.get("currency_received")
        fee: Money | None = None
        if deposit and amount is not None and isinstance(received, Mapping) and received.get("amount_minus_fee"):
            net = _money({"currency": amount.currency, "amount": received["amount_minus_fee"]}, "amount_minus_fee")
            fee = (amount - net) if net is not None and net.amount <= amount.amount else None
        data: dict[str, Any] = {}
        if deposit:
            data["risk_score"] = _risk_score(doc.get("transactions"))
        if kind in (WebhookKind.DEPOSIT_FAILED, WebhookKind.PAYOUT_FAILED):
            data["failure_reason"] = "crypto_not_confirmed"
            data["error"] = str(doc.get("error") or "")[:200]
        return WebhookMessage(kind=kind, event_id=f"{kind_name}:{txn_id}:{status}", provider_ref=str(txn_id),
                              merchant_ref=foreign_id, amount=amount, fee=fee,
                              occurred_at=now or dt.datetime.now(dt.UTC), sequence=_STAGE.get(status, 0),
                              raw={**doc, "data": data})

    # -- look-ups ---------------------------------------------------------------------------------
    def fetch_status(self, *, provider_ref: str = "", merchant_ref: str = "",
                     operation: Operation = Operation.DEPOSIT) -> StatusResult:
        """The transaction by our foreign id (its id when known). A deposit address nothing has
        arrived at yet is pending (the client may still pay), not unknown."""
        doc = {"id": int(provider_ref)} if provider_ref.isdigit() else {"foreign_id": merchant_ref}
        if not provider_ref.isdigit() and not merchant_ref:
            raise ValueError("CoinsPaid looks transactions up by id or our merchant_ref")
        try:
            data = self._data("GET", INFO, doc, idempotent=True)
        except ProviderRejected:
            outcome = Outcome.PENDING if operation == Operation.DEPOSIT else Outcome.NOT_FOUND
            return StatusResult(operation=operation, outcome=outcome, merchant_ref=merchant_ref)
        status = str(data.get("status") or "").lower()
        deposit = str(data.get("type") or "") in DEPOSIT_TYPES
        try:
            amount = _money(data.get("currency_received") if deposit else data.get("currency_sent"), "amount")
        except WebhookRefused as exc:
            raise ProviderProtocolError(exc.message, request_sent=True) from None
        return StatusResult(operation=operation, outcome=_outcome(status), provider_ref=str(data.get("id") or ""),
                            merchant_ref=merchant_ref, amount=amount,
                            reason="crypto_not_confirmed" if status in FAILED else "", raw=data)

    # -- withdrawals ------------------------------------------------------------------------------
    def payout(self, request: PayoutRequest) -> OperationResult:
        """A withdrawal to the saved address (``destination``: ``address`` or ``crypto``, optional
        ``tag`` and ``currency``, the asset sent when it is not the withdrawal's). Never resent once it left:
        a lost answer is UNKNOWN, resolved by ``fetch_status``."""
        # The portal's withdrawal form saves the address under the method's kind ("crypto").
        address = str(request.destination.get("address") or request.destination.get("crypto") or "").strip()
        if not address:
            return OperationResult(operation=Operation.PAYOUT, outcome=Outcome.FAILED,
                                   merchant_ref=request.merchant_ref, reason="no_crypto_address")
        asset = str(request.destination.get("currency") or request.amount.currency).upper()
        doc: dict[str, Any] = {"foreign_id": request.merchant_ref, "amount": request.amount.quantize().text(),
                               "currency": request.amount.currency, "address": address}
        if asset != request.amount.currency:
            doc["convert_to"] = asset
        if request.destination.get("tag"):
            doc["tag"] = str(request.destination["tag"])
        data = self.sent_once(Operation.PAYOUT, request.merchant_ref,
                              lambda: self._data("POST", WITHDRAW, doc, idempotent=False))
        if isinstance(data, OperationResult):
            return data
        return OperationResult(operation=Operation.PAYOUT, outcome=_outcome(str(data.get("status") or "").lower()),
                               merchant_ref=request.merchant_ref, provider_ref=str(data.get("id") or ""), raw=data)
