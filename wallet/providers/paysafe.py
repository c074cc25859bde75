"""The adapter of Paysafe's Payments API (``API_VERSION``: the ``/paymenthub/v1`` resources) for
the e-wallets Skrill and Neteller, written from Paysafe's public developer documentation.

What it speaks (JSON both ways, amounts in the currency's minor units, HTTP Basic authentication
with the API key's user name and password, errors as ``{"error": {"code", "message"}}``):

* a deposit is a payment handle, ``POST /paymenthandles`` with ``transactionType`` PAYMENT,
  ``paymentType`` SKRILL or NETELLER, our reference as ``merchantRefNum``, the amount, currency,
  ``returnLinks`` and the wallet's object (``skrill``/``neteller`` with the client's e-mail as
  ``consumerId``). The handle comes back INITIATED with a ``redirect_payment`` link: the client
  logs in to the wallet there. When they have, the handle is PAYABLE and the merchant takes the
  money with ``POST /payments`` (``paymentHandleToken``, ``settleWithAuth``); the payment is
  COMPLETED, PENDING or FAILED;
* refunds: ``POST /settlements/{id}/refunds`` with the payment's id (a payment settled with its
  authorisation is its own settlement);
* payouts (standalone credits): a handle of ``transactionType`` STANDALONE_CREDIT (PAYABLE at once
  for these wallets), then ``POST /standalonecredits`` with its token;
* look-ups by our reference: ``GET /payments?merchantRefNum=`` (and ``/paymenthandles``,
  ``/standalonecredits``, ``/refunds`` the same way);
* webhooks: a POST whose ``Signature`` header is the base64 of the HMAC-SHA256 of the raw body
  with the webhook HMAC key Paysafe gives (``signature``); the body names the event
  (``eventType``: PAYMENT_HANDLE_PAYABLE, PAYMENT_COMPLETED, REFUND_COMPLETED,
  STANDALONE_CREDIT_COMPLETED ...) and carries the object (``payload``) with its ``id`` and
  ``merchantRefNum``.

The handle becoming PAYABLE is where the money is taken: ``verify_webhook`` (after the signature)
and ``fetch_status`` send the payment themselves and report what Paysafe answered of it. A handle
is used once, so a repeated PAYABLE notification finds the payment already made (refused as used,
then looked up by our reference) and reports the same event, which the inbox counts as a duplicate.

Configuration (wallet.models.PaymentProvider): ``api_key`` and ``api_secret`` are the API key's
user name and password, ``webhook_secret`` the webhook HMAC key, ``base_url`` the test or live
address (``BASE_URLS``, by ``settings["environment"]`` when left empty), ``settings["payment_type"]``
SKRILL (default) or NETELLER, optionally ``settings["account_id"]`` (the merchant account of the
currency, when the brokerage has several).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from crm.lib.money import Money
from wallet.exceptions import ProviderError, ProviderProtocolError, ProviderRejected, WebhookRefused
from wallet.instruments import payer_details
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

API_VERSION = "v1"
BASE_URLS = {"sandbox": "https://api.test.paysafe.com/paymenthub/v1", "live": "https://api.paysafe.com/paymenthub/v1"}
HEADER = "Signature"
HANDLES = "/paymenthandles"
PAYMENTS = "/payments"
CREDITS = "/standalonecredits"
REFUNDS = "/refunds"
PAYMENT_TYPES = ("SKRILL", "NETELLER")
# Where a status leaves the object, and how far along it is (a later stage wins over an earlier
# one reported in the same second: ``sequence``).
PENDING = frozenset({"INITIATED", "PROCESSING", "PENDING", "RECEIVED", "PAYABLE", "HELD"})
COMPLETED = frozenset({"COMPLETED"})
FAILED = frozenset({"FAILED", "EXPIRED", "CANCELLED", "ERROR", "DECLINED"})
_STAGE = {**dict.fromkeys(PENDING, 0), **dict.fromkeys(FAILED, 1), **dict.fromkeys(COMPLETED, 2)}
_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z: a notification's seconds times the stages fit the column


def signature(body: bytes, key: str) -> str:
    """The ``Signature`` header of ``body``: base64 of HMAC-SHA256 of the raw body with the HMAC key."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _when(value: Any) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRefused("malformed", "eventDate is not a date and time.") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _outcome(status: str) -> Outcome:
    if status in COMPLETED:
        return Outcome.SUCCEEDED
    if status in FAILED:
        return Outcome.FAILED
    return Outcome.PENDING


def _sequence(when: dt.datetime, status: str) -> int:
    return max(1, (int(when.timestamp()) - _EPOCH) * 4 + _STAGE.get(status, 0))


def _reason(status: str, payload: Mapping[str, Any]) -> str:
    if status not in FAILED:
        return ""
    error = payload.get("error")
    return "ewallet_declined" if status in ("FAILED", "DECLINED") or isinstance(error, Mapping) else "failed"


# What each event says of which object, by its prefix (the rest of eventType is the status).
_DEPOSIT_KINDS = {Outcome.PENDING: WebhookKind.DEPOSIT_PENDING, Outcome.SUCCEEDED: WebhookKind.DEPOSIT_SUCCEEDED,
                  Outcome.FAILED: WebhookKind.DEPOSIT_FAILED}
_REFUND_KINDS = {Outcome.PENDING: WebhookKind.REFUND_PENDING, Outcome.SUCCEEDED: WebhookKind.REFUND_SUCCEEDED,
                 Outcome.FAILED: WebhookKind.REFUND_FAILED}
_PAYOUT_KINDS = {Outcome.PENDING: WebhookKind.PAYOUT_PENDING, Outcome.SUCCEEDED: WebhookKind.PAYOUT_SUCCEEDED,
                 Outcome.FAILED: WebhookKind.PAYOUT_FAILED}


class PaysafeProvider(PaymentProvider):
    kind = "paysafe"
    hosted_checkout = True

    # -- plumbing ---------------------------------------------------------------------------------
    def signed_headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        token = base64.b64encode(f"{self.config.api_key}:{self.config.api_secret}".encode()).decode()
        return {"Authorization": f"Basic {token}", "Content-Type": "application/json", "Accept": "application/json"}

    @property
    def payment_type(self) -> str:
        """The wallet of a method that names none ("ewallet"): the provider's setting, else Skrill."""
        chosen = str(self.config.settings.get("payment_type") or "SKRILL").upper()
        return chosen if chosen in PAYMENT_TYPES else "SKRILL"

    def payment_type_for(self, method: str) -> str:
        """Paysafe's paymentType of our method: "skrill" and "neteller" name it (the client picked
        it in the trader's room), any other takes the provider's."""
        named = method.upper()
        return named if named in PAYMENT_TYPES else self.payment_type

    def _post(self, target: str, doc: Mapping[str, Any], *, idempotent: bool) -> dict[str, Any]:
        account = self.config.settings.get("account_id")
        body = {**doc, "accountId": str(account)} if account and target == HANDLES else dict(doc)
        return self.answer_object(self.call("POST", target, body, idempotent=idempotent), "provider")

    def _list(self, target: str, merchant_ref: str, key: str) -> list[Mapping[str, Any]]:
        answer = self.answer_object(self.call("GET", f"{target}?{urlencode({'merchantRefNum': merchant_ref})}",
                                              idempotent=True), "provider")
        found = answer.get(key)
        if found is None:
            return []
        if not isinstance(found, Sequence) or not all(isinstance(item, Mapping) for item in found):
            raise ProviderProtocolError(f"Paysafe's {key} is not a list of objects.", request_sent=True)
        return list(found)

    def _wallet(self, payment_type: str, email: str) -> dict[str, Any]:
        return {payment_type.lower(): {"consumerId": email}} if email else {}

    # -- the interface ----------------------------------------------------------------------------
    def create_deposit(self, request: DepositRequest) -> DepositStart:
        """A payment handle for ``merchant_ref``; the client is sent to its ``redirect_payment``
        link. Sent again with the same reference, Paysafe answers the same handle (retried)."""
        links = [{"rel": rel, "href": request.return_url} for rel in ("default", "on_completed", "on_failed")
                 if request.return_url]
        payment_type = self.payment_type_for(request.method)
        doc = {"merchantRefNum": request.merchant_ref, "transactionType": "PAYMENT", "paymentType": payment_type,
               "amount": request.amount.minor_units(), "currencyCode": request.amount.currency, "returnLinks": links,
               **self._wallet(payment_type, request.client.email)}
        data = self._post(HANDLES, doc, idempotent=True)
        redirect = next((link.get("href") for link in data.get("links") or []
                         if isinstance(link, Mapping) and link.get("rel") == "redirect_payment"), None)
        if not isinstance(redirect, str) or not redirect:
            raise ProviderProtocolError("Paysafe's payment handle has no redirect_payment link.", request_sent=True)
        # The handle's id is no reference a refund takes: the payment's id comes when it is made.
        return DepositStart(provider_ref="", redirect_url=redirect, outcome=Outcome.PENDING, raw=data)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *,
                       now: dt.datetime | None = None) -> WebhookMessage:
        given = signature_header(headers, HEADER)
        if not self.config.webhook_secret:
            raise WebhookRefused("bad_signature", "No webhook HMAC key is configured for this provider.")
        if not hmac.compare_digest(given.encode(), signature(body, self.config.webhook_secret).encode()):
            raise WebhookRefused("bad_signature", "The signature does not match.")
        doc = webhook_json(body)
        if not isinstance(doc.get("payload"), Mapping):
            raise WebhookRefused("malformed", "The body is not an event with a payload object.")
        return self.message(doc)

    def message(self, doc: Mapping[str, Any]) -> WebhookMessage:
        """A verified event as the wallet's message; a PAYABLE deposit handle is paid first."""
        event = str(doc.get("eventType") or "").upper()
        payload: Mapping[str, Any] = doc["payload"]
        when = _when(doc.get("eventDate"))
        ref = str(payload.get("merchantRefNum") or "")
        if not ref:
            raise WebhookRefused("malformed", "The event's payload names no merchantRefNum.")
        resource, _, status = event.rpartition("_")
        if resource == "PAYMENT_HANDLE":
            if str(payload.get("transactionType") or "PAYMENT").upper() != "PAYMENT":
                raise WebhookRefused("malformed", f"A {event:.40} event of a payout handle is not one we take.")
            if status == "PAYABLE":
                return self._paid(payload, when, doc)
            return self._message(_DEPOSIT_KINDS[_outcome(status)], f"handle:{payload.get('id')}:{status}", "",
                                 ref, None, when, status, doc, payload)
        kinds = {"PAYMENT": _DEPOSIT_KINDS, "REFUND": _REFUND_KINDS, "STANDALONE_CREDIT": _PAYOUT_KINDS}.get(resource)
        kind = kinds.get(_outcome(status)) if kinds is not None else None
        if kind is None or not payload.get("id"):
            raise WebhookRefused("malformed", f"A {event:.40} event is not one we take.")
        amount = minor_money(payload.get("amount"), payload.get("currencyCode"), "amount")
        return self._message(kind, f"{resource.lower()}:{payload['id']}:{status}", str(payload["id"]), ref, amount,
                             when, status, doc, payload)

    def _message(self, kind: WebhookKind, event_id: str, provider_ref: str, ref: str, amount: Money | None,
                 when: dt.datetime, status: str, doc: Mapping[str, Any], payload: Mapping[str, Any]) -> WebhookMessage:
        wallet = payload.get(str(payload.get("paymentType") or "").lower())
        consumer = wallet.get("consumerId") if isinstance(wallet, Mapping) else None
        payer = (payer_details(kind="ewallet", number=consumer)
                 if kind == WebhookKind.DEPOSIT_SUCCEEDED and consumer else None)
        return WebhookMessage(kind=kind, event_id=event_id, provider_ref=provider_ref, merchant_ref=ref, amount=amount,
                              fee=None, occurred_at=when, sequence=_sequence(when, status),
                              payment_ref=str(payload.get("settlementId") or payload.get("paymentId") or ""),
                              payer=payer, raw={**doc, "data": {"failure_reason": _reason(status, payload)}})

    def _paid(self, handle: Mapping[str, Any], when: dt.datetime, doc: Mapping[str, Any]) -> WebhookMessage:
        ref = str(handle["merchantRefNum"])
        try:
            payment = self.payment_take(handle)
        except ProviderError:
            # Not taken now (Paysafe unreachable, or refused and not found): the deposit waits; the
            # status refresh takes the payment from the handle later.
            return self._message(WebhookKind.DEPOSIT_PENDING, f"handle:{handle.get('id')}:PAYABLE", "", ref, None,
                                 when, "PAYABLE", doc, handle)
        status = str(payment.get("status") or "").upper()
        amount = minor_money(payment.get("amount"), payment.get("currencyCode"), "payment's amount")
        return self._message(_DEPOSIT_KINDS[_outcome(status)], f"payment:{payment.get('id')}:{status}",
                             str(payment.get("id") or ""), ref, amount, when, status, doc, {**handle, **payment})

    def payment_take(self, handle: Mapping[str, Any]) -> Mapping[str, Any]:
        """The payment of a PAYABLE handle: made now, or, when Paysafe refuses it (the handle used
        already) or the answer is lost, the one made before, found by our reference."""
        ref = str(handle.get("merchantRefNum") or "")
        try:
            return self._post(PAYMENTS, {"merchantRefNum": ref, "amount": handle.get("amount"),
                                         "currencyCode": handle.get("currencyCode"), "dupCheck": True,
                                         "settleWithAuth": True, "paymentHandleToken": handle.get("paymentHandleToken")},
                              idempotent=False)
        except ProviderError as exc:
            if not (isinstance(exc, ProviderRejected) or exc.outcome_unknown):
                raise
        made = self._list(PAYMENTS, ref, "payments")
        if not made:
            raise ProviderRejected("Paysafe refused the payment and has none for this reference.")
        return made[-1]

    def fetch_status(self, *, provider_ref: str = "", merchant_ref: str = "",
                     operation: Operation = Operation.DEPOSIT) -> StatusResult:
        """Where ``merchant_ref`` stands: its newest payment (refund, credit); for a deposit with no
        payment yet, its handle, paid here when it is PAYABLE."""
        if not merchant_ref:
            raise ValueError("Paysafe objects are looked up by our merchant_ref")
        target, key = {Operation.DEPOSIT: (PAYMENTS, "payments"), Operation.REFUND: (REFUNDS, "refunds"),
                       Operation.PAYOUT: (CREDITS, "standaloneCredits")}[operation]
        found = self._list(target, merchant_ref, key)
        if not found and operation == Operation.DEPOSIT:
            handles = self._list(HANDLES, merchant_ref, "paymentHandles")
            if not handles:
                return StatusResult(operation=operation, outcome=Outcome.NOT_FOUND, merchant_ref=merchant_ref)
            handle = handles[-1]
            status = str(handle.get("status") or "").upper()
            if status != "PAYABLE":
                return StatusResult(operation=operation, outcome=_outcome(status), merchant_ref=merchant_ref,
                                    reason=_reason(status, handle), raw=handle)
            found = [self.payment_take(handle)]
        if not found:
            return StatusResult(operation=operation, outcome=Outcome.NOT_FOUND, merchant_ref=merchant_ref)
        newest = found[-1]
        status = str(newest.get("status") or "").upper()
        try:
            amount = minor_money(newest.get("amount"), newest.get("currencyCode"), "amount")
        except WebhookRefused as exc:
            raise ProviderProtocolError(exc.message, request_sent=True) from None
        return StatusResult(operation=operation, outcome=_outcome(status), provider_ref=str(newest.get("id") or ""),
                            merchant_ref=merchant_ref, amount=amount, reason=_reason(status, newest), raw=newest)

    def _operation(self, operation: Operation, target: str, merchant_ref: str, doc: Mapping[str, Any]) -> OperationResult:
        """A write that moves money: never resent after it left; a lost answer is UNKNOWN."""
        data = self.sent_once(operation, merchant_ref, lambda: self._post(target, doc, idempotent=False))
        if isinstance(data, OperationResult):
            return data
        status = str(data.get("status") or "").upper()
        return OperationResult(operation=operation, outcome=_outcome(status), merchant_ref=merchant_ref,
                               provider_ref=str(data.get("id") or ""), reason=_reason(status, data), raw=data)

    def refund(self, *, provider_ref: str, amount: Money, merchant_ref: str, webhook_url: str = "") -> OperationResult:
        """A refund of (part of) the payment ``provider_ref`` (its id, its own settlement's)."""
        if not provider_ref:
            return OperationResult(operation=Operation.REFUND, outcome=Outcome.FAILED, merchant_ref=merchant_ref,
                                   reason="no_paysafe_payment")
        return self._operation(Operation.REFUND, f"/settlements/{quote(provider_ref, safe='')}/refunds", merchant_ref,
                               {"merchantRefNum": merchant_ref, "amount": amount.minor_units(), "dupCheck": True})

    def payout(self, request: PayoutRequest) -> OperationResult:
        """A standalone credit to the client's wallet: ``destination`` holds its e-mail under the
        method's name ("skrill", "neteller": that wallet; "ewallet", "email": the provider's)."""
        email = next((str(request.destination[k]) for k in ("skrill", "neteller", "ewallet", "email")
                      if request.destination.get(k)), "")
        payment_type = self.payment_type_for(request.method)
        if not email or payment_type not in PAYMENT_TYPES:
            return OperationResult(operation=Operation.PAYOUT, outcome=Outcome.FAILED,
                                   merchant_ref=request.merchant_ref, reason="no_wallet_account")
        amount = {"amount": request.amount.minor_units(), "currencyCode": request.amount.currency}
        try:
            handle = self._post(HANDLES, {"merchantRefNum": request.merchant_ref, "transactionType": "STANDALONE_CREDIT",
                                          "paymentType": payment_type, **amount, **self._wallet(payment_type, email)},
                                idempotent=True)
        except ProviderRejected as exc:
            return OperationResult(operation=Operation.PAYOUT, outcome=Outcome.FAILED,
                                   merchant_ref=request.merchant_ref, reason=exc.code or exc.message)
        if str(handle.get("status") or "").upper() != "PAYABLE":
            return OperationResult(operation=Operation.PAYOUT, outcome=Outcome.FAILED, merchant_ref=request.merchant_ref,
                                   reason=f"handle_{str(handle.get('status') or 'unknown').lower()}", raw=handle)
        return self._operation(Operation.PAYOUT, CREDITS, request.merchant_ref, {
            "merchantRefNum": request.merchant_ref, **amount, "paymentHandleToken": handle.get("paymentHandleToken")})
