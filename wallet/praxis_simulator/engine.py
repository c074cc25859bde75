"""The Praxis simulator's state: orders (a cashier session each), their transactions, the
notifications waiting to go out. Callers hold ``App.lock`` around every call. Amounts are integers
of minor units, as on the wire."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simkit.http import SimError
from simkit.provider import WebhookOutbox

from .faults import FaultPlan

API_VERSION = "1.3"
CARD_APPROVE = "4111111111111111"
CARD_REJECT = "4000000000000002"
CARD_3DS = "4000000000003220"
CARD_TIMEOUT = "4000000000000259"
CARD_COUNTRIES = {CARD_APPROVE: "US", CARD_3DS: "GB", CARD_TIMEOUT: "DE", "4000002760000016": "DE",
                  "4000007240000007": "ES"}
_EXPONENTS = {"JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3}
REQUEST_FIELDS = {
    "/cashier/cashier": ("merchant_id", "application_key", "timestamp", "intent", "cid", "order_id"),
    "/direct/refund": ("merchant_id", "application_key", "timestamp", "cid", "order_id"),
    "/direct/card-token": ("merchant_id", "application_key", "timestamp", "cid", "order_id"),
    "/direct/wallet-token": ("merchant_id", "application_key", "timestamp", "cid", "order_id"),
    "/agent/find-order": ("merchant_id", "application_key", "timestamp", "order_id"),
}
NOTIFICATION_FIELDS = ("merchant_id", "application_key", "timestamp", "customer.customer_token", "session.order_id",
                       "transaction.tid", "transaction.currency", "transaction.amount", "transaction.conversion_rate",
                       "transaction.processed_currency", "transaction.processed_amount")


def gt_authentication(doc: Mapping[str, Any], fields: Iterable[str], secret: str) -> str:
    """SHA-384 hex of the fields' values in order (null or missing skipped) and the secret."""
    parts: list[str] = []
    for path in fields:
        value: Any = doc
        for step in path.split("."):
            value = value.get(step) if isinstance(value, Mapping) else None
        if value is not None:
            parts.append(str(value))
    return hashlib.sha384(("".join(parts) + secret).encode()).hexdigest()


def minor(amount: str, currency: str) -> int:
    return int(Decimal(amount).scaleb(_EXPONENTS.get(currency, 2)))


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    application_key: str
    merchant_secret: str
    control_token: str


class Engine(WebhookOutbox):
    def __init__(self, merchant: Merchant, faults: FaultPlan, *, webhook_attempts: int = 8,
                 webhook_backoff: float = 1.0, base_url: str = "") -> None:
        self.merchant, self.faults = merchant, faults
        self.webhook_attempts, self.webhook_backoff, self.base_url = webhook_attempts, webhook_backoff, base_url
        self.orders: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, str] = {}  # auth_token -> order_id
        self.transactions: dict[int, dict[str, Any]] = {}  # tid -> transaction (with "_order")
        self.webhooks: list[dict[str, Any]] = []
        self.next_tid = 1000

    # -- the merchant API -------------------------------------------------------------------------
    def check(self, path: str, doc: Mapping[str, Any], given: str) -> None:
        if doc.get("merchant_id") != self.merchant.merchant_id or doc.get("application_key") != self.merchant.application_key:
            raise SimError(401, "bad_merchant", "unknown merchant_id or application_key")
        expected = gt_authentication(doc, REQUEST_FIELDS[path], self.merchant.merchant_secret)
        if not secrets.compare_digest(given.strip().lower(), expected):
            raise SimError(401, "bad_signature", "GT-Authentication does not match")
        if doc.get("version") != API_VERSION:
            raise SimError(400, "bad_version", f"version must be {API_VERSION}")

    def cashier(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        order_id = str(doc.get("order_id") or "")
        intent = str(doc.get("intent") or "")
        if not order_id or intent not in ("payment", "withdrawal"):
            return self.answer(1, "order_id and an intent of payment or withdrawal are required")
        amount, currency = doc.get("amount"), str(doc.get("currency") or "")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0 or len(currency) != 3:
            return self.answer(1, "amount (minor units) and currency are required")
        order = self.orders.get(order_id)
        if order is None:
            given = doc.get("customer_data")
            customer: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
            order = {"order_id": order_id, "intent": intent, "amount": amount, "currency": currency.upper(),
                     "cid": str(doc.get("cid") or ""), "auth_token": secrets.token_hex(16),
                     "customer_token": hashlib.sha1(f"{doc.get('cid')}".encode()).hexdigest()[:32],  # noqa: S324 - an id, not a secret
                     "customer": dict(customer), "notification_url": str(doc.get("notification_url") or ""),
                     "return_url": str(doc.get("return_url") or ""), "session_status": "created", "tids": [],
                     "step": ""}
            self.orders[order_id] = order
            self.sessions[order["auth_token"]] = order_id
        elif (order["amount"], order["currency"], order["intent"]) != (amount, currency.upper(), intent):
            return self.answer(1, f"order_id {order_id} was used with other terms")
        return self.answer(0, "Ok", redirect_url=f"{self.base_url}/hpp/{order['auth_token']}",
                           customer={"customer_token": order["customer_token"]}, session=self.session_of(order))

    def answer(self, status: int, description: str, **more: Any) -> dict[str, Any]:
        return {"status": status, "description": description, **more, "version": API_VERSION,
                "timestamp": int(time.time())}

    def session_of(self, order: Mapping[str, Any]) -> dict[str, Any]:
        return {"auth_token": order["auth_token"], "intent": order["intent"], "session_status": order["session_status"],
                "order_id": order["order_id"], "currency": order["currency"], "amount": order["amount"],
                "conversion_rate": None, "processed_currency": None, "processed_amount": None, "payment_method": None,
                "gateway": None, "cid": order["cid"], "variable1": None, "variable2": None, "variable3": None}

    def order_by_token(self, token: str) -> dict[str, Any]:
        order_id = self.sessions.get(token)
        if order_id is None:
            raise SimError(404, "not_found", "no such session")
        return self.orders[order_id]

    def refund(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        sale = self.transactions.get(doc.get("reference_id"))  # type: ignore[arg-type]  # an int tid, or nothing found
        amount = doc.get("amount")
        if sale is None or sale["transaction_type"] != "sale" or sale["transaction_status"] not in ("approved",):
            return self.answer(1, "reference_id is no approved sale")
        if not isinstance(amount, int) or amount <= 0 or amount > sale["amount"] - sale.get("_refunded", 0):
            return self.answer(1, "the amount is more than is left to refund")
        if doc.get("currency") != sale["currency"]:
            return self.answer(1, "the refund's currency must be the sale's processed currency")
        sale["_refunded"] = sale.get("_refunded", 0) + amount
        order = self._order_for(doc, "payment", sale["_order"])
        txn = self._transaction(order, "refund", "approved", amount=amount, currency=sale["currency"],
                                reference_id=sale["tid"])
        return self.answer(0, "Ok", customer={"customer_token": order["customer_token"]}, session=self.session_of(order),
                           transaction=self.public(txn))

    def payout(self, doc: Mapping[str, Any], token_kind: str) -> dict[str, Any]:
        token = str(doc.get(token_kind) or "")
        amount, currency = doc.get("amount"), str(doc.get("currency") or "")
        if not token or not isinstance(amount, int) or amount <= 0 or len(currency) != 3:
            return self.answer(1, f"{token_kind}, amount and currency are required")
        order = self._order_for(doc, "withdrawal", None, amount=amount, currency=currency)
        status = "rejected" if "fail" in token.lower() else "approved"
        txn = self._transaction(order, "payout", status, amount=amount, currency=currency,
                                details="destination refused" if status == "rejected" else "")
        return self.answer(0, "Ok", customer={"customer_token": order["customer_token"]}, session=self.session_of(order),
                           transaction=self.public(txn))

    def _order_for(self, doc: Mapping[str, Any], intent: str, parent: str | None, **terms: Any) -> dict[str, Any]:
        order_id = str(doc.get("order_id") or "")
        if not order_id:
            raise SimError(400, "missing_field", "order_id is required")
        if order_id in self.orders:
            raise SimError(409, "duplicate_order", f"order_id {order_id} exists already")
        base = self.orders.get(parent or "") or {}
        order: dict[str, Any] = {"order_id": order_id, "intent": intent, "amount": terms.get("amount", doc.get("amount")),
                 "currency": terms.get("currency", doc.get("currency")), "cid": str(doc.get("cid") or ""),
                 "auth_token": secrets.token_hex(16), "customer_token": base.get("customer_token") or
                 hashlib.sha1(f"{doc.get('cid')}".encode()).hexdigest()[:32],  # noqa: S324 - an id
                 "customer": base.get("customer") or {},
                 "notification_url": str(doc.get("notification_url") or base.get("notification_url") or ""),
                 "return_url": "", "session_status": "active", "tids": [], "step": ""}
        self.orders[order_id] = order
        return order

    def find_order(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        order = self.orders.get(str(doc.get("order_id") or ""))
        if order is None:
            return self.answer(1, "order not found")
        return self.answer(0, "Ok", customer={"customer_token": order["customer_token"]}, session=self.session_of(order),
                           transactions=[self.public(self.transactions[t]) for t in order["tids"]])

    # -- the hosted page ----------------------------------------------------------------------------
    def submit(self, order: dict[str, Any], form: Mapping[str, str]) -> None:
        """What the client typed on the page: the sale (or the withdrawal request) is decided."""
        if order["session_status"] != "created":
            return
        number = "".join(ch for ch in form.get("card_number", "") if ch.isdigit())
        if len(number) < 12:
            raise SimError(400, "invalid_card", "enter a card number")
        order["session_status"] = "active"
        card = self._card(number, form.get("card_holder", ""), form.get("card_exp", ""))
        if order["intent"] == "withdrawal":
            self._transaction(order, "payout", "approved", card=card)
        elif number == CARD_3DS:
            order["step"] = "3ds"
            self._transaction(order, "sale", "pending_async", card=card)
        elif number == CARD_TIMEOUT:
            self._transaction(order, "sale", "pending", card=card)
        elif number in CARD_COUNTRIES:
            self._approve(order, card)
        else:
            self._transaction(order, "sale", "rejected", card=card, details="Card declined by the issuer")

    def three_ds(self, order: dict[str, Any], approve: bool) -> None:
        if order.get("step") != "3ds":
            return
        order["step"] = ""
        card = self.transactions[order["tids"][-1]].get("card")
        if approve:
            self._approve(order, card)
        else:
            self._transaction(order, "sale", "rejected", card=card, details="3D Secure authentication failed")

    def complete(self, order_id: str, approve: bool) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None or not order["tids"]:
            raise SimError(404, "not_found", "no such order with a transaction")
        last = self.transactions[order["tids"][-1]]
        if last["transaction_status"] in ("pending", "pending_async"):
            if approve:
                self._approve(order, last.get("card"))
            else:
                self._transaction(order, "sale", "rejected", card=last.get("card"), details="Timed out at the processor")
        return self.public(self.transactions[order["tids"][-1]])

    def chargeback(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        sale = next((self.transactions[t] for t in reversed(order["tids"] if order else [])
                     if self.transactions[t]["transaction_status"] == "approved"), None)
        if order is None or sale is None:
            raise SimError(409, "not_chargeable", "the order has no approved sale")
        sale["transaction_status"] = "chargeback"
        sale["status_details"] = "Chargeback: fraud (reason 10.4)"
        self._queue(order, sale)
        return self.public(sale)

    def _approve(self, order: dict[str, Any], card: Any) -> None:
        amount, currency = order["amount"], order["currency"]
        paid = self.faults.take("paid_amount")
        if paid is not None:  # approved for another amount (a partial approval) or currency than asked
            currency = str(paid.params.get("currency") or currency).upper()
            amount = minor(str(paid.params["amount"]), currency)
        self._transaction(order, "sale", "approved", card=card, amount=amount, currency=currency)

    @staticmethod
    def _card(number: str, holder: str, expiry: str) -> dict[str, Any]:
        return {"card_token": hashlib.sha256(f"card:{number}".encode()).hexdigest()[:32], "card_type": "VISA",
                "card_data_type": "card", "card_number": f"{number[:6]}******{number[-4:]}",
                "card_exp": expiry or "12/2030", "card_issuer_name": "Simulated Bank",
                "card_issuer_country": CARD_COUNTRIES.get(number, "US"), "card_holder": holder.strip()}

    def _transaction(self, order: dict[str, Any], kind: str, status: str, *, card: Any = None,
                     amount: int | None = None, currency: str | None = None, reference_id: int | None = None,
                     details: str = "") -> dict[str, Any]:
        # A sale's later status (3-D Secure done, timed out) is the same transaction; a new one otherwise.
        last = self.transactions[order["tids"][-1]] if order["tids"] else None
        if last is not None and last["transaction_type"] == kind and last["transaction_status"] in ("pending",
                                                                                                        "pending_async"):
            txn = last
        else:
            self.next_tid += 1
            txn = {"_order": order["order_id"], "transaction_type": kind, "tid": self.next_tid,
                   "transaction_id": f"psp-{secrets.token_hex(6)}", "fee": 0, "fee_included": 0, "fee_type": None,
                   "payment_method": "Credit Card", "payment_processor": "SimProcessor", "gateway": None,
                   "wallet": None, "is_async": 0, "is_cascade": 0, "cascade_level": 0, "withdrawal_request_id": None,
                   "created_by": "INTERNET", "edited_by": "INTERNET"}
            self.transactions[txn["tid"]] = txn
            order["tids"].append(txn["tid"])
        amount = amount if amount is not None else txn.get("amount", order["amount"])
        currency = currency or txn.get("currency") or order["currency"]
        approved = status == "approved"
        txn.update({"transaction_status": status, "currency": currency, "amount": amount, "card": card or txn.get("card"),
                    "conversion_rate": "1.000000" if approved else None,
                    "processed_currency": currency if approved else None,
                    "processed_amount": amount if approved else None, "reference_id": reference_id,
                    "status_code": "SC-002" if approved else "SC-001",
                    "status_details": details or ("Approved" if approved else status.replace("_", " ").title())})
        if status not in ("pending", "pending_async"):
            order["session_status"] = "active"
        self._queue(order, txn)
        return txn

    @staticmethod
    def public(txn: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in txn.items() if not k.startswith("_")}

    # -- notifications ------------------------------------------------------------------------------
    def notification(self, order: Mapping[str, Any], txn: Mapping[str, Any] | None) -> dict[str, Any]:
        customer = order.get("customer") or {}
        return {"merchant_id": self.merchant.merchant_id, "application_key": self.merchant.application_key,
                "conversion_rate": (txn or {}).get("conversion_rate"),
                "customer": {"customer_token": order["customer_token"], "country": customer.get("country"),
                             "first_name": customer.get("first_name"), "last_name": customer.get("last_name"),
                             "avs_alert": 0, "verification_alert": None},
                "session": self.session_of(order), "transaction": self.public(txn) if txn else None,
                "version": API_VERSION, "timestamp": int(time.time())}

    def _queue(self, order: Mapping[str, Any], txn: Mapping[str, Any]) -> None:
        url = order.get("notification_url") or ""
        if url:
            self.send(url, self.notification(order, txn))

    def send(self, url: str, doc: dict[str, Any]) -> None:
        if self.faults.take("drop_webhooks") is not None:
            return
        txn = doc.get("transaction") or {}
        self.webhook_add(f"ntf_{secrets.token_hex(6)}", url, json.dumps(doc, separators=(",", ":")),
                         type=f"{txn.get('transaction_type')}.{txn.get('transaction_status')}",
                         event_id=f"{txn.get('tid')}:{txn.get('transaction_status')}",
                         order_id=doc["session"]["order_id"])

    def signed(self, hook: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        secret = self.merchant.merchant_secret if not hook.get("bad_signature") else "not-the-secret"
        doc = json.loads(hook["body"])
        return hook["body"].encode(), {"Content-Type": "application/json; charset=utf-8",
                                       "GT-Authentication": gt_authentication(doc, NOTIFICATION_FIELDS, secret)}

    def notify_unknown(self, url: str) -> dict[str, Any]:
        """A correctly signed notification about an order nobody asked for."""
        order = {"order_id": f"unknown-{secrets.token_hex(6)}", "intent": "payment", "amount": 5000, "currency": "USD",
                 "cid": "nobody", "auth_token": secrets.token_hex(16), "customer_token": secrets.token_hex(16),
                 "customer": {}, "session_status": "active", "notification_url": url}
        self.next_tid += 1
        txn = {"transaction_type": "sale", "transaction_status": "approved", "tid": self.next_tid, "currency": "USD",
               "amount": 5000, "conversion_rate": "1.000000", "processed_currency": "USD", "processed_amount": 5000}
        doc = self.notification(order, txn)
        self.send(url, doc)
        return doc
