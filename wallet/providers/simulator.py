"""The adapter of the PSP simulator (wallet.psp_simulator), written to its documented API as it
would be to a real PSP's: HMAC-signed REST calls, hosted checkout, signed webhooks, daily CSV."""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

from crm.lib.money import Money, money_parse
from crm.lib.validation import InvalidValue
from plumbing.signatures import sign
from wallet.exceptions import ProviderError, ProviderProtocolError, ProviderRejected, WebhookRefused
from wallet.instruments import payer_from_provider
from wallet.providers.base import (
    DepositRequest,
    DepositStart,
    Operation,
    OperationResult,
    Outcome,
    PaymentProvider,
    PayoutRequest,
    SettlementLine,
    StatusResult,
    WebhookKind,
    WebhookMessage,
)
from wallet.providers.settlement import SIMULATOR_MAPPING, parse_settlement

EVENT_KINDS = {
    "payment.pending": WebhookKind.DEPOSIT_PENDING,
    "payment.succeeded": WebhookKind.DEPOSIT_SUCCEEDED,
    "payment.failed": WebhookKind.DEPOSIT_FAILED,
    "refund.succeeded": WebhookKind.REFUND_SUCCEEDED,
    "refund.failed": WebhookKind.REFUND_FAILED,
    "payout.succeeded": WebhookKind.PAYOUT_SUCCEEDED,
    "payout.failed": WebhookKind.PAYOUT_FAILED,
    "chargeback.created": WebhookKind.CHARGEBACK,
    "retrieval.created": WebhookKind.RETRIEVAL_REQUEST,
}
STATUS_OUTCOME = {
    "created": Outcome.PENDING, "pending": Outcome.PENDING, "succeeded": Outcome.SUCCEEDED,
    "failed": Outcome.FAILED, "charged_back": Outcome.SUCCEEDED,
}
PATHS = {Operation.DEPOSIT: "/v1/payments", Operation.REFUND: "/v1/refunds", Operation.PAYOUT: "/v1/payouts"}


def _batch(data: Mapping[str, Any]) -> str:
    """The batch a payout is paid in; payments carry the day's settlement batch, which says nothing
    a payment's own reference does not."""
    if data.get("object") != "payout":
        return ""
    return str(data.get("batch_id") or "")[:200]


class SimulatorProvider(PaymentProvider):
    kind = "simulator"
    hosted_checkout = True

    # -- plumbing ---------------------------------------------------------------------------------
    def _call(self, method: str, target: str, payload: Mapping[str, Any] | None = None, *,
              idempotent: bool) -> Any:
        answer = self.call(method, target, payload, idempotent=idempotent)
        if "csv" in answer.content_type:
            return answer.body
        return self.answer_object(answer, "provider")

    @staticmethod
    def _money(data: Mapping[str, Any], key: str) -> Money | None:
        value = data.get(key)
        if value in (None, ""):
            return None
        # The one parser of amounts from outside: NaN, infinity, 1e400, 38 digits, a metal or an
        # unknown currency are refused by name. A JSON number with a fraction arrives as a float and
        # is read from its shortest text (as it was sent); 1e400 arrives as infinity and is refused.
        try:
            return money_parse(value if isinstance(value, int | str) else repr(value), data.get("currency"),
                               field=key, typed=False, positive=False)
        except InvalidValue as error:
            raise ProviderProtocolError(f"The provider's {error.field}: {error.message}", request_sent=True) from None

    # -- the interface ----------------------------------------------------------------------------
    def create_deposit(self, request: DepositRequest) -> DepositStart:
        """Safe to send again with the same merchant_ref (the simulator answers the same payment),
        so it is retried on any failure."""
        client = request.client
        data = self._call("POST", "/v1/payments", {
            "merchant_ref": request.merchant_ref, "amount": request.amount.text(),
            "currency": request.amount.currency, "method": request.method,
            "return_url": request.return_url, "webhook_url": request.webhook_url,
            "customer": {"reference": client.reference, "email": client.email, "country": client.country,
                         "first_name": client.first_name, "last_name": client.last_name},
        }, idempotent=True)
        try:
            return DepositStart(provider_ref=str(data["id"]), redirect_url=str(data["checkout_url"]),
                                outcome=STATUS_OUTCOME.get(str(data.get("status")), Outcome.PENDING), raw=data)
        except KeyError:
            raise ProviderProtocolError("The provider's answer has no payment id.", request_sent=True) from None

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *,
                       now: dt.datetime | None = None) -> WebhookMessage:
        lower = {k.lower(): v for k, v in headers.items()}
        timestamp = lower.get("x-psp-timestamp", "")
        given = lower.get("x-psp-signature", "")
        if not timestamp or not given:
            raise WebhookRefused("bad_signature", "The signature headers are missing.")
        # The PSP's own headers over the text the CRM signs too (plumbing.signatures): "<timestamp>." + body.
        expected = sign(self.config.webhook_secret, timestamp, body)
        if not hmac.compare_digest(given.removeprefix("sha256=").strip().lower(), expected):
            raise WebhookRefused("bad_signature", "The signature does not match.")
        try:
            sent = int(timestamp)
        except ValueError:
            raise WebhookRefused("malformed", "The timestamp is not a number.") from None
        current = (now or dt.datetime.now(dt.UTC)).timestamp()
        if abs(current - sent) > self.config.webhook_tolerance_seconds:
            raise WebhookRefused("stale", "The timestamp is too old (or in the future).")
        try:
            doc = json.loads(body)
            data = doc["data"]
            kind = EVENT_KINDS[str(doc["type"])]
            event_id = str(doc["id"])
            occurred = dt.datetime.fromisoformat(str(doc["created"]).replace("Z", "+00:00"))
            amount = self._money(data, "amount")
            fee = self._money(data, "fee")
        except ProviderError as exc:  # an amount or currency refused: named, so the provider can fix it
            raise WebhookRefused("malformed", exc.message) from None
        except (ValueError, KeyError, TypeError):
            raise WebhookRefused("malformed", "The body is not a notification we understand.") from None
        if lower.get("x-psp-event-id", event_id) != event_id:
            raise WebhookRefused("malformed", "The event id header and body disagree.")
        return WebhookMessage(kind=kind, event_id=event_id, provider_ref=str(data.get("id", "")),
                              merchant_ref=str(data.get("merchant_ref", "")), amount=amount, fee=fee,
                              occurred_at=occurred.astimezone(dt.UTC), sequence=int(data.get("sequence", 0)),
                              payment_ref=str(data.get("payment_id", "")), batch_id=_batch(data),
                              payer=payer_from_provider(data.get("payer"), method=str(data.get("method") or "")),
                              raw=doc)

    def fetch_status(self, *, provider_ref: str = "", merchant_ref: str = "",
                     operation: Operation = Operation.DEPOSIT) -> StatusResult:
        path = PATHS[operation]
        if provider_ref:
            target = f"{path}/{provider_ref}"
        elif merchant_ref:
            target = f"{path}?{urlencode({'merchant_ref': merchant_ref})}"
        else:
            raise ValueError("fetch_status needs provider_ref or merchant_ref")
        try:
            data = self._call("GET", target, idempotent=True)
        except ProviderRejected as exc:
            if exc.status == 404:
                return StatusResult(operation=operation, outcome=Outcome.NOT_FOUND, provider_ref=provider_ref,
                                    merchant_ref=merchant_ref)
            raise
        return StatusResult(operation=operation, outcome=STATUS_OUTCOME.get(str(data.get("status")), Outcome.PENDING),
                            provider_ref=str(data.get("id", "")), merchant_ref=str(data.get("merchant_ref", "")),
                            amount=self._money(data, "amount"), fee=self._money(data, "fee"),
                            reason=str(data.get("failure_reason") or ""), batch_id=_batch(data), raw=data)

    def _operation(self, operation: Operation, merchant_ref: str, payload: Mapping[str, Any]) -> OperationResult:
        """A write that moves money: never resent after it left; a lost answer is UNKNOWN."""
        data = self.sent_once(operation, merchant_ref,
                              lambda: self._call("POST", PATHS[operation], payload, idempotent=False))
        if isinstance(data, OperationResult):
            return data
        return OperationResult(operation=operation, outcome=STATUS_OUTCOME.get(str(data.get("status")), Outcome.PENDING),
                               merchant_ref=merchant_ref, provider_ref=str(data.get("id", "")),
                               fee=self._money(data, "fee"), reason=str(data.get("failure_reason") or ""),
                               batch_id=_batch(data), raw=data)

    def refund(self, *, provider_ref: str, amount: Money, merchant_ref: str, webhook_url: str = "") -> OperationResult:
        return self._operation(Operation.REFUND, merchant_ref, {
            "payment_id": provider_ref, "amount": amount.text(), "merchant_ref": merchant_ref,
            "webhook_url": webhook_url})

    def payout(self, request: PayoutRequest) -> OperationResult:
        return self._operation(Operation.PAYOUT, request.merchant_ref, {
            "merchant_ref": request.merchant_ref, "amount": request.amount.text(),
            "currency": request.amount.currency, "method": request.method,
            "destination": dict(request.destination), "webhook_url": request.webhook_url,
            "customer": {"reference": request.client.reference, "country": request.client.country}})

    def settlement_file(self, day: dt.date) -> bytes:
        """The simulator's settlement CSV of ``day`` (GET /v1/settlements/<day>.csv)."""
        data = self._call("GET", f"/v1/settlements/{day.isoformat()}.csv", idempotent=True)
        if not isinstance(data, bytes):
            raise ProviderProtocolError("The settlement file is not CSV.", request_sent=True)
        return data

    def parse_settlement(self, data: bytes, filename: str) -> Iterator[SettlementLine]:
        return parse_settlement(data, filename, SIMULATOR_MAPPING)
