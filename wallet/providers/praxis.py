"""The adapter of Praxis Cashier (a cashier built for Forex brokers: one integration routes a
client to many card acquirers and local methods), written from Praxis's public integration
documentation, API version ``API_VERSION`` (1.3).

What it speaks (every request and answer is JSON; amounts are integers in the currency's minor
units, as the documentation says):

* a hosted cashier session: ``POST /cashier/cashier`` with ``intent`` "payment" (a deposit) or
  "withdrawal" (the client asks for a payout in the cashier), the order id (our merchant
  reference), the client's id (``cid``), locale, customer data, notification and return URLs; the
  answer's ``redirect_url`` is where the client pays;
* refunds and payouts through the Direct API: ``POST /direct/refund`` (``reference_id``: the
  deposit's Praxis transaction id, ``tid``) and a payout to the token of the card or e-wallet the
  client paid with (``/direct/card-token``, ``/direct/wallet-token``, ``transaction_type``
  "payout");
* a look-up by our order id: ``POST /agent/find-order`` (an ``UNKNOWN`` outcome is resolved so);
* notifications: a POST to our ``notification_url`` whose ``GT-Authentication`` header is the
  SHA-384 hex digest of the values of ``NOTIFICATION_FIELDS`` (in that order, a null value
  skipped) followed by the merchant secret; we answer ``{"status": 0, ...}`` signed the same way
  over ``REPLY_FIELDS`` (``webhook_reply``).

Every request we send is signed so too (``GT-Authentication`` over the method's fields:
``REQUEST_FIELDS``). Praxis numbers no notifications: a repeated one is known by its transaction
and status (``event_id``), and their order by the notification's timestamp and how far along the
status is (``sequence``).

Configuration (wallet.models.PaymentProvider): ``api_key`` is the merchant id, ``api_secret`` the
merchant secret (also the notifications' secret unless a webhook secret of its own is set),
``settings["application_key"]`` the application (website) key, ``base_url`` the sandbox or live
address (``BASE_URLS``, chosen by ``settings["environment"]`` when left empty) and optionally
``settings["payment_methods"]`` (our method kind to Praxis's ``payment_method``, e.g.
{"card": "Credit Card"}) and ``settings["locale"]`` (the cashier's default language).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm.lib.money import Money
from wallet.exceptions import ProviderProtocolError, ProviderRejected, WebhookRefused
from wallet.instruments import PayerDetails, payer_details
from wallet.providers.base import (
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
    minor_money,
    signature_header,
    webhook_json,
)

API_VERSION = "1.3"
BASE_URLS = {"sandbox": "https://pci-gw-test.praxispay.com", "live": "https://gw.praxisgate.com"}
HEADER = "GT-Authentication"
CASHIER = "/cashier/cashier"
REFUND = "/direct/refund"
PAYOUT_CARD = "/direct/card-token"
PAYOUT_WALLET = "/direct/wallet-token"
FIND_ORDER = "/agent/find-order"
# The fields each signature covers, in the documented order ("a.b": field b of object a).
REQUEST_FIELDS: dict[str, tuple[str, ...]] = {
    CASHIER: ("merchant_id", "application_key", "timestamp", "intent", "cid", "order_id"),
    REFUND: ("merchant_id", "application_key", "timestamp", "cid", "order_id"),
    PAYOUT_CARD: ("merchant_id", "application_key", "timestamp", "cid", "order_id"),
    PAYOUT_WALLET: ("merchant_id", "application_key", "timestamp", "cid", "order_id"),
    FIND_ORDER: ("merchant_id", "application_key", "timestamp", "order_id"),
}
NOTIFICATION_FIELDS = ("merchant_id", "application_key", "timestamp", "customer.customer_token", "session.order_id",
                       "transaction.tid", "transaction.currency", "transaction.amount", "transaction.conversion_rate",
                       "transaction.processed_currency", "transaction.processed_amount")
REPLY_FIELDS = ("status", "timestamp")

# A transaction's status: where it leaves the payment, and how far along it is (a later stage wins
# over an earlier one reported in the same second, an approval over a refusal: ``sequence``).
PENDING = frozenset({"initialized", "pending", "pending_async", "authorized", "requested", "in progress",
                     "in_progress"})
APPROVED = frozenset({"approved"})
FAILED = frozenset({"rejected", "declined", "cancelled", "error"})
AFTER = frozenset({"chargeback", "refunded", "reversed"})
_STAGE = {**dict.fromkeys(PENDING, 0), **dict.fromkeys(FAILED, 1), **dict.fromkeys(APPROVED, 2),
          **dict.fromkeys(AFTER, 3)}
# Seconds from this day: a notification's timestamp times the stages fits the deposit's sequence column.
_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z
_LOCALES = {"en": "en-GB", "de": "de-DE", "fr": "fr-FR", "es": "es-ES", "it": "it-IT", "ar": "ar-SA", "pt": "pt-PT",
            "ru": "ru-RU", "pl": "pl-PL", "tr": "tr-TR", "zh": "zh-CN", "ja": "ja-JP", "nl": "nl-NL", "el": "el-GR"}
# The status code of a notification we did not take, by the inbox's answer: -1 asks Praxis to send it
# again (an order we do not know yet), a positive one says it is wrong as sent.
_REPLY_STATUS = {200: 0, 404: -1}


def value_at(doc: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` ("session.order_id"); None when a step is missing or not an object."""
    current: Any = doc
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _text(value: Any) -> str:
    """A value as it is concatenated: JSON's own spelling of numbers and booleans' 1/0 (PHP's)."""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def signature(doc: Mapping[str, Any], fields: Iterable[str], secret: str) -> str:
    """The ``GT-Authentication`` value of ``doc``: SHA-384 hex of the fields' values in order (a
    null or missing one skipped) followed by the merchant secret."""
    text = "".join(_text(v) for v in (value_at(doc, f) for f in fields) if v is not None)
    return hashlib.sha384((text + secret).encode()).hexdigest()


def _kind(transaction_type: str, status: str) -> WebhookKind | None:
    if transaction_type in ("sale", "authorization", "authorize"):
        if status == "chargeback":
            return WebhookKind.CHARGEBACK
        if status in APPROVED:
            return WebhookKind.DEPOSIT_SUCCEEDED
        if status in FAILED:
            return WebhookKind.DEPOSIT_FAILED
        # Pending, and the sale's own "refunded"/"reversed": the refund transaction's notification
        # moves the money; the sale's only says so again.
        return WebhookKind.DEPOSIT_PENDING
    if transaction_type == "refund":
        return (WebhookKind.REFUND_SUCCEEDED if status in APPROVED
                else WebhookKind.REFUND_FAILED if status in FAILED
                else WebhookKind.REFUND_PENDING if status in PENDING else None)
    if transaction_type == "payout":
        return (WebhookKind.PAYOUT_SUCCEEDED if status in APPROVED
                else WebhookKind.PAYOUT_FAILED if status in FAILED
                else WebhookKind.PAYOUT_PENDING if status in PENDING else None)
    return None


def _three_ds(status: str, reason: str, transaction: Mapping[str, Any]) -> str:
    """What a card sale's notification says of 3-D Secure, in the wallet's words (wallet.three_ds:
    THREE_DS_FACTS): "challenge", "failed" or "" (nothing said).

    Praxis's API 1.3 documents no field with the authentication's result in the notification: its
    transaction object (objects/transaction) and card object (objects/card) carry no authenticated
    flag, ECI or liability shift. What it documents is the deposit status ``pending_async``, "customer
    is sent to 3DSecure verification or EWallet to finalize the transaction": on a card transaction
    (one with a ``card`` object) that is the issuer's 3-D Secure challenge, and the same sale approved
    afterwards passed it. A sale refused with a 3-D Secure failure in ``status_details`` did not
    authenticate. A card sale approved with no such step leaves it unsaid (frictionless, or no 3-D
    Secure at all: Praxis does not tell them apart)."""
    if not isinstance(transaction.get("card"), Mapping):
        return ""
    if status == "pending_async":
        return "challenge"
    return "failed" if _reason_code(status, reason) == "3ds_failed" else ""


def _facts(kind: WebhookKind, status: str, reason: str, transaction: Mapping[str, Any]) -> dict[str, str]:
    """What the wallet reads from a notification beyond its status: a refusal's reason code, a card
    sale's 3-D Secure step (``_three_ds``), and a chargeback's reason as Praxis words it in
    ``status_details`` (the dispute case shows it)."""
    facts = {"failure_reason": _reason_code(status, reason)}
    three_ds = _three_ds(status, reason, transaction) if kind != WebhookKind.CHARGEBACK else ""
    if three_ds:
        facts["three_ds"] = three_ds
    if kind == WebhookKind.CHARGEBACK and transaction.get("status_details"):
        facts["reason_text"] = str(transaction["status_details"])[:300]
    return facts


def _outcome(status: str) -> Outcome:
    if status in APPROVED or status in AFTER:
        return Outcome.SUCCEEDED
    if status in FAILED:
        return Outcome.FAILED
    return Outcome.PENDING


def _payer(transaction: Mapping[str, Any]) -> PayerDetails | None:
    """The card or e-wallet the client paid with: its token stands for the number (a token is what
    Praxis gives for one card; the number itself never comes), the issuer's country, the last four."""
    card = transaction.get("card")
    if isinstance(card, Mapping):
        masked = str(card.get("card_number") or "")
        details = payer_details(kind="card", country=card.get("card_issuer_country") or "",
                                number=str(card.get("card_token") or ""), last4=masked[-4:] if masked else "")
        return None if details.is_empty else details
    wallet = transaction.get("wallet")
    if isinstance(wallet, Mapping):
        details = payer_details(kind="ewallet", number=str(wallet.get("wallet_token") or wallet.get("account") or ""))
        return None if details.is_empty else details
    return None


class PraxisProvider(PaymentProvider):
    kind = "praxis"
    hosted_checkout = True

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def merchant_secret(self) -> str:
        return self.config.api_secret

    @property
    def notification_secret(self) -> str:
        return self.config.webhook_secret or self.config.api_secret

    def _envelope(self, **fields: Any) -> dict[str, Any]:
        return {"merchant_id": self.config.api_key,
                "application_key": str(self.config.settings.get("application_key") or ""),
                **fields, "version": API_VERSION, "timestamp": int(time.time())}

    def signed_headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        doc = json.loads(body) if body else {}
        return {HEADER: signature(doc, REQUEST_FIELDS[target], self.merchant_secret),
                "Content-Type": "application/json; charset=utf-8"}

    def _post(self, target: str, doc: Mapping[str, Any], *, idempotent: bool) -> dict[str, Any]:
        data = self.answer_object(self.call("POST", target, doc, idempotent=idempotent), "provider")
        status = data.get("status")
        if status != 0:
            # A negative status is Praxis's own trouble (the request may not have been applied);
            # a positive one a refusal of the request as sent.
            description = str(data.get("description") or "refused")[:200]
            if isinstance(status, int) and status < 0:
                raise ProviderProtocolError(f"Praxis: {description}", request_sent=True)
            raise ProviderRejected(f"Praxis: {description}", code=f"praxis_{status}")
        return data

    @staticmethod
    def _locale(language: str) -> str:
        return _LOCALES.get((language or "en").split("-")[0].lower(), "en-GB")

    def _payment_method(self, method: str) -> str | None:
        methods = self.config.settings.get("payment_methods") or {}
        chosen = methods.get(method) if isinstance(methods, Mapping) else None
        return str(chosen) if chosen else None

    # -- the interface ----------------------------------------------------------------------------
    def create_deposit(self, request: DepositRequest) -> DepositStart:
        """A cashier session with intent "payment" for the order ``merchant_ref``. Praxis keeps one
        order per id: sent again, it opens the cashier on the same order, so it is retried."""
        return self._session("payment", request.merchant_ref, request.amount, request.method,
                             request.client, request.return_url, request.webhook_url)

    def withdrawal_session(self, request: PayoutRequest, *, return_url: str = "") -> DepositStart:
        """A cashier session with intent "withdrawal": the client asks for ``amount`` in the
        cashier, to a method Praxis offers them; the payout's notification says how it ended."""
        return self._session("withdrawal", request.merchant_ref, request.amount, request.method, request.client,
                             return_url, request.webhook_url)

    def _session(self, intent: str, order_id: str, amount: Money, method: str, client: Any, return_url: str,
                 notification_url: str) -> DepositStart:
        doc = self._envelope(
            intent=intent, currency=amount.currency, amount=amount.minor_units(), cid=client.reference,
            locale=self._locale(client.language or str(self.config.settings.get("locale") or "")),
            customer_token=None,
            customer_data={"country": client.country or None, "first_name": client.first_name or None,
                           "last_name": client.last_name or None, "email": client.email or None,
                           "dob": None, "phone": None, "zip": None, "state": None, "city": None, "address": None},
            payment_method=self._payment_method(method), gateway=None, validation_url=None,
            notification_url=notification_url, return_url=return_url or None, order_id=order_id)
        data = self._post(CASHIER, doc, idempotent=True)
        redirect = data.get("redirect_url")
        if not isinstance(redirect, str) or not redirect:
            raise ProviderProtocolError("Praxis's answer has no redirect_url.", request_sent=True)
        # The Praxis transaction id (tid) comes with the notification; the session's token is no
        # reference a refund or a look-up takes, so none is kept yet.
        return DepositStart(provider_ref="", redirect_url=redirect, outcome=Outcome.PENDING, raw=data)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *,
                       now: dt.datetime | None = None) -> WebhookMessage:
        given = signature_header(headers, HEADER).lower()
        doc = webhook_json(body)
        if not hmac.compare_digest(given, signature(doc, NOTIFICATION_FIELDS, self.notification_secret)):
            raise WebhookRefused("bad_signature", "The signature does not match.")
        if str(doc.get("merchant_id") or "") != self.config.api_key:
            raise WebhookRefused("bad_signature", "The notification is for another merchant.")
        sent = doc.get("timestamp")
        if isinstance(sent, bool) or not isinstance(sent, int):
            raise WebhookRefused("malformed", "The timestamp is not a number.")
        current = (now or dt.datetime.now(dt.UTC)).timestamp()
        if abs(current - sent) > self.config.webhook_tolerance_seconds:
            raise WebhookRefused("stale", "The timestamp is too old (or in the future).")
        return self.message(doc)

    def message(self, doc: Mapping[str, Any]) -> WebhookMessage:
        """A verified notification as the wallet's message (WebhookRefused "malformed" for one it
        cannot read)."""
        given = doc.get("session")
        session: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        transaction = doc.get("transaction")
        order_id = str(value_at(doc, "session.order_id") or "")
        sent = int(doc["timestamp"])
        occurred = dt.datetime.fromtimestamp(sent, dt.UTC)
        if not order_id:
            raise WebhookRefused("malformed", "The notification names no order (session.order_id).")
        if transaction is None:  # the session ended with no transaction (expired): nothing was paid
            token = str(session.get("auth_token") or order_id)
            return WebhookMessage(kind=WebhookKind.DEPOSIT_FAILED, event_id=f"session:{token}:{session.get('session_status')}",
                                  provider_ref="", merchant_ref=order_id, amount=None, fee=None, occurred_at=occurred,
                                  sequence=self._sequence(sent, 1), raw=doc)
        if not isinstance(transaction, Mapping):
            raise WebhookRefused("malformed", "The transaction is not an object.")
        status = str(transaction.get("transaction_status") or "").lower()
        kind = _kind(str(transaction.get("transaction_type") or "").lower(), status)
        tid = transaction.get("tid")
        if kind is None or tid in (None, ""):
            raise WebhookRefused("malformed", f"A {transaction.get('transaction_type')!s:.30} notification with "
                                              f"status {status:.30} is not one we take.")
        currency = transaction.get("currency")
        amount = minor_money(transaction.get("amount"), currency, "notification's amount")
        fee = minor_money(transaction.get("fee"), currency, "notification's fee") if transaction.get("fee") else None
        payment_ref = ""
        if kind in (WebhookKind.REFUND_SUCCEEDED, WebhookKind.REFUND_FAILED, WebhookKind.CHARGEBACK):
            payment_ref = str(transaction.get("reference_id") or tid)
        reason = str(transaction.get("status_details") or "") if status in FAILED else ""
        return WebhookMessage(kind=kind, event_id=f"{tid}:{status}", provider_ref=str(tid), merchant_ref=order_id,
                              amount=amount, fee=fee, occurred_at=occurred, sequence=self._sequence(sent, _STAGE.get(status, 0)),
                              payment_ref=payment_ref,
                              payer=_payer(transaction) if kind == WebhookKind.DEPOSIT_SUCCEEDED else None,
                              raw={**doc, "data": _facts(kind, status, reason, transaction)})

    @staticmethod
    def _sequence(sent: int, stage: int) -> int:
        return max(1, (sent - _EPOCH) * 4 + stage)

    def webhook_reply(self, *, status_code: int) -> tuple[int, bytes, dict[str, str]]:
        """The answer Praxis expects: ``{"status": 0, ...}`` when the notification was taken (or
        was a repeat), -1 (send it again) for an order we do not know yet, 1 otherwise; signed."""
        status = _REPLY_STATUS.get(status_code, 1)
        reply = {"status": status, "description": "Ok" if status == 0 else "Not accepted",
                 "version": API_VERSION, "timestamp": int(time.time())}
        body = json.dumps(reply, separators=(",", ":")).encode()
        return status_code, body, {HEADER: signature(reply, REPLY_FIELDS, self.notification_secret),
                                   "Content-Type": "application/json; charset=utf-8"}

    def fetch_status(self, *, provider_ref: str = "", merchant_ref: str = "",
                     operation: Operation = Operation.DEPOSIT) -> StatusResult:
        """The order's newest transaction (find-order by our order id)."""
        if not merchant_ref:
            raise ValueError("Praxis looks orders up by our merchant_ref")
        try:
            data = self._post(FIND_ORDER, self._envelope(order_id=merchant_ref), idempotent=True)
        except ProviderRejected:
            return StatusResult(operation=operation, outcome=Outcome.NOT_FOUND, merchant_ref=merchant_ref)
        transactions = data.get("transactions")
        if not isinstance(transactions, Sequence) or not transactions:
            return StatusResult(operation=operation, outcome=Outcome.PENDING, merchant_ref=merchant_ref, raw=data)
        newest = transactions[-1]
        if not isinstance(newest, Mapping):
            raise ProviderProtocolError("Praxis's order holds a transaction that is not an object.", request_sent=True)
        status = str(newest.get("transaction_status") or "").lower()
        try:
            amount = minor_money(newest.get("amount"), newest.get("currency"), "notification's amount")
        except WebhookRefused as exc:
            raise ProviderProtocolError(exc.message, request_sent=True) from None
        return StatusResult(operation=operation, outcome=_outcome(status), provider_ref=str(newest.get("tid") or ""),
                            merchant_ref=merchant_ref, amount=amount,
                            reason=_reason_code(status, str(newest.get("status_details") or "")), raw=data)

    def _operation(self, operation: Operation, target: str, merchant_ref: str, doc: dict[str, Any]) -> OperationResult:
        """A write that moves money: never resent after it left; a lost answer is UNKNOWN."""
        data = self.sent_once(operation, merchant_ref, lambda: self._post(target, doc, idempotent=False))
        if isinstance(data, OperationResult):
            return data
        given = data.get("transaction")
        transaction: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        status = str(transaction.get("transaction_status") or "").lower()
        return OperationResult(operation=operation, outcome=_outcome(status), merchant_ref=merchant_ref,
                               provider_ref=str(transaction.get("tid") or ""),
                               reason=_reason_code(status, str(transaction.get("status_details") or "")), raw=data)

    def refund(self, *, provider_ref: str, amount: Money, merchant_ref: str, webhook_url: str = "") -> OperationResult:
        """A refund of (part of) the approved deposit transaction ``provider_ref`` (its tid)."""
        try:
            reference = int(provider_ref)
        except ValueError:
            return OperationResult(operation=Operation.REFUND, outcome=Outcome.FAILED, merchant_ref=merchant_ref,
                                   reason="no_praxis_transaction")
        return self._operation(Operation.REFUND, REFUND, merchant_ref, self._envelope(
            transaction_type="refund", currency=amount.currency, amount=amount.minor_units(),
            cid=str(self.config.settings.get("refund_cid") or merchant_ref), locale="en-GB", order_id=merchant_ref,
            reference_id=reference, notification_url=webhook_url or None))

    def payout(self, request: PayoutRequest) -> OperationResult:
        """A payout to the card or e-wallet token the client paid with (``destination``:
        ``card_token`` or ``wallet_token``)."""
        card, wallet = request.destination.get("card_token"), request.destination.get("wallet_token")
        if not card and not wallet:
            return OperationResult(operation=Operation.PAYOUT, outcome=Outcome.FAILED,
                                   merchant_ref=request.merchant_ref, reason="no_payout_token")
        target = PAYOUT_CARD if card else PAYOUT_WALLET
        token = {"card_token": card} if card else {"wallet_token": wallet}
        return self._operation(Operation.PAYOUT, target, request.merchant_ref, self._envelope(
            transaction_type="payout", currency=request.amount.currency, amount=request.amount.minor_units(),
            cid=request.client.reference, locale=self._locale(request.client.language), order_id=request.merchant_ref,
            notification_url=request.webhook_url or None, **token))


def _reason_code(status: str, details: str) -> str:
    """The wallet's failure code (wallet.deposits._failure_text) for a failed status."""
    if status not in FAILED:
        return ""
    lowered = details.lower()
    if "3d" in lowered:
        return "3ds_failed"
    return "card_declined" if status in ("rejected", "declined") else "failed"
