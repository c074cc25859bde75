"""The Paysafe simulator's state: payment handles, payments, refunds, standalone credits and the
webhooks waiting to go out. Callers hold ``App.lock`` around every call. Amounts are integers of
minor units, as on the wire."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simkit.http import SimError
from simkit.provider import WebhookOutbox

from .faults import FaultPlan

ACCOUNT_APPROVE = "approve@wallet.test"  # any other address is approved too
ACCOUNT_DECLINE = "decline@wallet.test"
ACCOUNT_VERIFY = "verify@wallet.test"  # the wallet asks for a second step (approve or fail it)
ACCOUNT_PENDING = "pending@wallet.test"  # the payment stays PENDING until /_sim/complete
PAYMENT_TYPES = ("SKRILL", "NETELLER")
_EXPONENTS = {"JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3}


def hmac_signature(body: bytes, key: str) -> str:
    """The ``Signature`` header: base64 of HMAC-SHA256 of the raw body with the HMAC key."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def minor(amount: str, currency: str) -> int:
    return int(Decimal(amount).scaleb(_EXPONENTS.get(currency, 2)))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _refused(code: str, message: str, status: int = 400) -> SimError:
    return SimError(status, code, message)


@dataclass(frozen=True)
class Merchant:
    api_user: str
    api_password: str
    hmac_key: str
    control_token: str


class Engine(WebhookOutbox):
    def __init__(self, merchant: Merchant, faults: FaultPlan, *, webhook_attempts: int = 8,
                 webhook_backoff: float = 1.0, base_url: str = "", webhook_url: str = "") -> None:
        self.merchant, self.faults = merchant, faults
        self.webhook_attempts, self.webhook_backoff = webhook_attempts, webhook_backoff
        self.base_url, self.webhook_url = base_url, webhook_url
        self.handles: dict[str, dict[str, Any]] = {}  # id -> handle
        self.tokens: dict[str, str] = {}  # paymentHandleToken -> handle id
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.credits: dict[str, dict[str, Any]] = {}
        self.webhooks: list[dict[str, Any]] = []

    # -- the API ----------------------------------------------------------------------------------
    def authorised(self, header: str) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.merchant.api_user}:{self.merchant.api_password}".encode()).decode()
        return hmac.compare_digest(header.strip(), expected)

    @staticmethod
    def _terms(doc: Mapping[str, Any]) -> tuple[int, str]:
        amount, currency = doc.get("amount"), str(doc.get("currencyCode") or "")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise _refused("5068", "amount must be a positive whole number of minor units")
        if len(currency) != 3 or not currency.isalpha():
            raise _refused("5068", "currencyCode must be a three-letter code")
        return amount, currency.upper()

    def handle_create(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        ref = str(doc.get("merchantRefNum") or "")
        kind = str(doc.get("transactionType") or "")
        payment_type = str(doc.get("paymentType") or "")
        if not ref or kind not in ("PAYMENT", "STANDALONE_CREDIT") or payment_type not in PAYMENT_TYPES:
            raise _refused("5068", "merchantRefNum, transactionType (PAYMENT or STANDALONE_CREDIT) and paymentType "
                                   "(SKRILL or NETELLER) are required")
        amount, currency = self._terms(doc)
        wallet = doc.get(payment_type.lower())
        consumer = str(wallet.get("consumerId") or "") if isinstance(wallet, Mapping) else ""
        if kind == "STANDALONE_CREDIT" and not consumer:
            raise _refused("5068", f"{payment_type.lower()}.consumerId is required for a standalone credit")
        same = next((h for h in self.handles.values() if h["merchantRefNum"] == ref and h["transactionType"] == kind),
                    None)
        if same is not None:
            if (same["amount"], same["currencyCode"], same["paymentType"]) != (amount, currency, payment_type):
                raise _refused("5031", f"merchantRefNum {ref} was used with other terms", 409)
            return self.public(same)
        handle_id = str(uuid.uuid4())
        token = "SC" + secrets.token_hex(8)
        links = doc.get("returnLinks")
        handle: dict[str, Any] = {
            "id": handle_id, "paymentHandleToken": token, "merchantRefNum": ref, "transactionType": kind,
            "paymentType": payment_type, "amount": amount, "currencyCode": currency,
            "status": "PAYABLE" if kind == "STANDALONE_CREDIT" else "INITIATED", "usage": "SINGLE_USE",
            "executionMode": "SYNCHRONOUS", "timeToLiveSeconds": 899, "txnTime": _now(),
            payment_type.lower(): {"consumerId": consumer} if consumer else {},
            "returnLinks": list(links) if isinstance(links, list) else [], "gatewayResponse": None}
        if kind == "PAYMENT":
            handle.update(action="REDIRECT", links=[{"rel": "redirect_payment", "href": f"{self.base_url}/wallet/{token}"}])
        self.handles[handle_id], self.tokens[token] = handle, handle_id
        return self.public(handle)

    def handle_by_token(self, token: str) -> dict[str, Any]:
        handle_id = self.tokens.get(token)
        if handle_id is None:
            raise SimError(404, "5269", "no such payment handle")
        return self.handles[handle_id]

    def payment_create(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The merchant takes a PAYABLE handle's money: the payment is COMPLETED (or PENDING for the
        account that stays pending); a handle already used is refused."""
        handle = self.handle_by_token(str(doc.get("paymentHandleToken") or ""))
        if handle["transactionType"] != "PAYMENT":
            raise _refused("5068", "this handle is for a standalone credit")
        if handle["status"] == "COMPLETED":
            raise _refused("5031", "the payment handle was used already", 409)
        if handle["status"] != "PAYABLE":
            raise _refused("5003", f"the payment handle is {handle['status']}, not PAYABLE")
        amount, currency = self._terms(doc)
        paid = self.faults.take("paid_amount")
        if paid is not None:  # completed for another amount or currency than asked
            currency = str(paid.params.get("currency") or currency).upper()
            amount = minor(str(paid.params["amount"]), currency)
        handle["status"] = "COMPLETED"
        wallet = handle.get(handle["paymentType"].lower()) or {}
        pending = wallet.get("consumerId") == ACCOUNT_PENDING
        payment = {"id": str(uuid.uuid4()), "merchantRefNum": str(doc.get("merchantRefNum") or handle["merchantRefNum"]),
                   "amount": amount, "currencyCode": currency, "paymentType": handle["paymentType"],
                   handle["paymentType"].lower(): dict(wallet), "settleWithAuth": bool(doc.get("settleWithAuth")),
                   "status": "PENDING" if pending else "COMPLETED", "txnTime": _now(), "paymentHandleToken":
                   handle["paymentHandleToken"], "availableToRefund": 0 if pending else amount}
        self.payments[payment["id"]] = payment
        return dict(payment)

    def refund_create(self, settlement_id: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        payment = self.payments.get(settlement_id)
        if payment is None or payment["status"] != "COMPLETED":
            raise SimError(404, "5269", "no completed payment (settlement) with this id")
        amount = doc.get("amount", payment["availableToRefund"])
        ref = str(doc.get("merchantRefNum") or "")
        if not ref or not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise _refused("5068", "merchantRefNum and a positive amount are required")
        if amount > payment["availableToRefund"]:
            raise _refused("3406", "the amount is more than is left to refund")
        payment["availableToRefund"] -= amount
        refund = {"id": str(uuid.uuid4()), "merchantRefNum": ref, "amount": amount, "currencyCode": payment["currencyCode"],
                  "settlementId": settlement_id, "status": "COMPLETED", "txnTime": _now()}
        self.refunds[refund["id"]] = refund
        self.queue("REFUND_COMPLETED", refund)
        return dict(refund)

    def credit_create(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        handle = self.handle_by_token(str(doc.get("paymentHandleToken") or ""))
        if handle["transactionType"] != "STANDALONE_CREDIT" or handle["status"] != "PAYABLE":
            raise _refused("5003", "the payment handle is no PAYABLE standalone credit handle")
        amount, currency = self._terms(doc)
        handle["status"] = "COMPLETED"
        wallet = handle.get(handle["paymentType"].lower()) or {}
        failed = "fail" in str(wallet.get("consumerId") or "")
        credit = {"id": str(uuid.uuid4()), "merchantRefNum": str(doc.get("merchantRefNum") or handle["merchantRefNum"]),
                  "amount": amount, "currencyCode": currency, "paymentType": handle["paymentType"],
                  handle["paymentType"].lower(): dict(wallet), "status": "FAILED" if failed else "COMPLETED",
                  "txnTime": _now()}
        self.credits[credit["id"]] = credit
        self.queue("STANDALONE_CREDIT_FAILED" if failed else "STANDALONE_CREDIT_COMPLETED", credit)
        return dict(credit)

    def lookup(self, resource: str, ref: str) -> dict[str, Any]:
        stores = {"paymenthandles": ("paymentHandles", self.handles), "payments": ("payments", self.payments),
                  "refunds": ("refunds", self.refunds), "standalonecredits": ("standaloneCredits", self.credits)}
        key, store = stores[resource]
        return {key: [self.public(o) for o in store.values() if o["merchantRefNum"] == ref]}

    # -- the wallet's page ------------------------------------------------------------------------
    def login(self, handle: dict[str, Any], account: str) -> None:
        """The client logged in to the wallet on the redirect page: the handle is decided."""
        if handle["status"] != "INITIATED" or handle.get("step"):
            return
        account = account.strip().lower()
        if "@" not in account:
            raise SimError(400, "invalid_account", "enter the e-mail address of your wallet")
        handle[handle["paymentType"].lower()] = {"consumerId": account}
        if account == ACCOUNT_DECLINE:
            self._handle_status(handle, "FAILED", error={"code": "5050", "message": "The wallet declined the payment"})
        elif account == ACCOUNT_VERIFY:
            handle["step"] = "verify"
            self._handle_status(handle, "PROCESSING")
        else:
            self._handle_status(handle, "PAYABLE")

    def verify(self, handle: dict[str, Any], approve: bool) -> None:
        if handle.get("step") != "verify":
            return
        handle["step"] = ""
        if approve:
            self._handle_status(handle, "PAYABLE")
        else:
            self._handle_status(handle, "FAILED", error={"code": "5050", "message": "Verification failed"})

    def _handle_status(self, handle: dict[str, Any], status: str, *, error: Mapping[str, str] | None = None) -> None:
        handle["status"] = status
        if error is not None:
            handle["error"] = dict(error)
        self.queue(f"PAYMENT_HANDLE_{status}", handle)

    def complete(self, ref: str, approve: bool) -> dict[str, Any]:
        """A PENDING payment ends (the wallet's answer came): COMPLETED or FAILED, with its webhook."""
        payment = next((p for p in self.payments.values() if p["merchantRefNum"] == ref and p["status"] == "PENDING"),
                       None)
        if payment is None:
            raise SimError(404, "not_found", "no pending payment with this merchantRefNum")
        payment["status"] = "COMPLETED" if approve else "FAILED"
        payment["availableToRefund"] = payment["amount"] if approve else 0
        self.queue(f"PAYMENT_{payment['status']}", payment)
        return dict(payment)

    @staticmethod
    def public(obj: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if k != "step"}

    # -- webhooks ---------------------------------------------------------------------------------
    def queue(self, event_type: str, obj: Mapping[str, Any], url: str = "") -> dict[str, Any] | None:
        """A webhook about ``obj``. Payments' own events go out only for a change after the
        payment's answer (a PENDING one ending): the answer itself told the merchant."""
        url = url or self.webhook_url
        if not url or self.faults.take("drop_webhooks") is not None:
            return None
        event_id = str(uuid.uuid4())
        event = {"id": event_id, "type": event_type.rsplit("_", 1)[0], "eventType": event_type,
                 "resourceId": obj.get("id"), "mode": "test", "eventDate": _now(), "attemptNumber": 1,
                 "payload": self.public(obj)}
        self.webhook_add(event_id, url, json.dumps(event, separators=(",", ":")), type=event_type,
                         event_id=event_id, merchant_ref=obj.get("merchantRefNum"))
        return event

    def signed(self, hook: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        key = self.merchant.hmac_key if not hook.get("bad_signature") else "not-the-hmac-key"
        body = str(hook["body"]).encode()
        return body, {"Content-Type": "application/json", "Signature": hmac_signature(body, key)}

    def notify_unknown(self, url: str = "") -> dict[str, Any]:
        """A correctly signed PAYMENT_COMPLETED for a reference nobody asked for."""
        payment = {"id": str(uuid.uuid4()), "merchantRefNum": f"unknown-{secrets.token_hex(6)}", "amount": 5000,
                   "currencyCode": "USD", "paymentType": "SKRILL", "status": "COMPLETED", "txnTime": _now()}
        event = self.queue("PAYMENT_COMPLETED", payment, url)
        return event or {}
