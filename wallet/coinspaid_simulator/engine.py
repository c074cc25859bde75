"""The CoinsPaid simulator's state: deposit addresses, their transactions, withdrawals and the
callbacks waiting to go out. Callers hold ``App.lock`` around every call. Amounts are decimal
strings, as on the wire."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from simkit.http import SimError
from simkit.provider import WebhookOutbox

from .faults import FaultPlan

# The asset's price in each currency it converts into (fixed: the simulator has no market).
RATES: dict[str, dict[str, Decimal]] = {
    "BTC": {"USD": Decimal("50000"), "EUR": Decimal("46000"), "BTC": Decimal("1")},
    "ETH": {"USD": Decimal("2500"), "EUR": Decimal("2300"), "ETH": Decimal("1")},
    "USDT": {"USD": Decimal("1"), "EUR": Decimal("0.92"), "USDT": Decimal("1")},
    "LTC": {"USD": Decimal("80"), "EUR": Decimal("74"), "LTC": Decimal("1")},
}
DECIMALS = {"BTC": 8, "ETH": 18, "USDT": 6, "LTC": 8, "USD": 2, "EUR": 2, "GBP": 2}
SCENARIOS = ("confirm", "cancel", "slow", "stuck")
DEPOSIT_FEE = Decimal("0.003")  # what CoinsPaid keeps of a deposit, as a share


def signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def amount_text(value: Decimal, currency: str) -> str:
    """``value`` in the currency's own decimals (ETH 18, BTC 8, USD 2)."""
    places = DECIMALS.get(currency, 8)
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"


def decimal(value: Any, what: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SimError(400, "bad_amount", f"{what} is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise SimError(400, "bad_amount", f"{what} must be above zero")
    return amount


@dataclass(frozen=True)
class Merchant:
    api_key: str
    api_secret: str
    control_token: str


class Engine(WebhookOutbox):
    def __init__(self, merchant: Merchant, faults: FaultPlan, *, webhook_attempts: int = 8,
                 webhook_backoff: float = 1.0, callback_url: str = "") -> None:
        self.merchant, self.faults = merchant, faults
        self.webhook_attempts, self.webhook_backoff, self.callback_url = webhook_attempts, webhook_backoff, callback_url
        self.addresses: dict[str, dict[str, Any]] = {}  # address -> its record
        self.by_foreign: dict[tuple[str, str], str] = {}  # (foreign_id, currency) -> address
        self.transactions: dict[int, dict[str, Any]] = {}  # id -> callback-shaped transaction
        self.webhooks: list[dict[str, Any]] = []
        self.next_id = 2_686_000

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    # -- the merchant API -------------------------------------------------------------------------
    def check(self, key: str, given: str, body: bytes) -> None:
        if not hmac.compare_digest(key.strip(), self.merchant.api_key):
            raise SimError(401, "bad_key", "X-Processing-Key is not a known API key")
        if not hmac.compare_digest(given.strip().lower(), signature(body, self.merchant.api_secret)):
            raise SimError(401, "bad_signature", "X-Processing-Signature does not match the body")

    def take(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        currency, foreign_id = str(doc.get("currency") or "").upper(), str(doc.get("foreign_id") or "")
        convert_to = str(doc.get("convert_to") or "").upper() or None
        if currency not in RATES:
            raise SimError(400, "bad_currency", f"currency must be one of {', '.join(RATES)}")
        if not foreign_id:
            raise SimError(400, "missing_field", "foreign_id is required")
        if convert_to is not None and convert_to not in RATES[currency]:
            raise SimError(400, "bad_convert_to", f"{currency} converts into {', '.join(RATES[currency])} only")
        known = self.by_foreign.get((foreign_id, currency))
        if known is None:
            prefix = {"BTC": "bc1q", "LTC": "ltc1q"}.get(currency, "0x")
            address = prefix + secrets.token_hex(20)
            record = {"id": self._id(), "currency": currency, "convert_to": convert_to, "address": address,
                      "tag": None, "foreign_id": foreign_id,
                      "end_user_reference": str(doc.get("end_user_reference") or "") or None, "txids": []}
            self.addresses[address] = record
            self.by_foreign[(foreign_id, currency)] = address
            known = address
        record = self.addresses[known]
        return {"data": {k: record[k] for k in ("id", "currency", "convert_to", "address", "tag", "foreign_id")}}

    def withdraw(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        foreign_id, address = str(doc.get("foreign_id") or ""), str(doc.get("address") or "")
        currency = str(doc.get("currency") or "").upper()
        convert_to = str(doc.get("convert_to") or "").upper() or currency
        if not foreign_id or not address:
            raise SimError(400, "missing_field", "foreign_id and address are required")
        if any(t["type"] == "withdrawal" and t["foreign_id"] == foreign_id for t in self.transactions.values()):
            raise SimError(400, "duplicate_foreign_id", f"foreign_id {foreign_id} was used already")
        amount = decimal(doc.get("amount"), "amount")
        rate = self._rate(convert_to, currency)  # the asset sent, priced in the currency debited
        sent = amount / rate
        txn: dict[str, Any] = {"id": self._id(), "foreign_id": foreign_id, "type": "withdrawal_exchange" if convert_to != currency
               else "withdrawal", "crypto_address": {"id": self._id(), "currency": convert_to, "address": address,
                                                     "tag": doc.get("tag")},
               "currency_sent": {"currency": convert_to, "amount": amount_text(sent, convert_to)},
               "currency_received": {"currency": currency, "amount": amount_text(amount, currency)},
               "transactions": [], "fees": [{"type": "mining", "currency": convert_to, "amount": "0"}],
               "error": "", "status": "processing"}
        self.transactions[txn["id"]] = txn
        status = "cancelled" if "fail" in address.lower() else "confirmed"
        txn["_next"] = status
        txn["transactions"].append({"id": self._id(), "currency": convert_to, "transaction_type": "blockchain",
                                    "type": "withdrawal", "address": address, "tag": doc.get("tag"),
                                    "amount": amount_text(sent, convert_to),
                                    "txid": secrets.token_hex(32), "confirmations": 0})
        self._settle_withdrawal(txn)
        return {"data": {"id": txn["id"], "foreign_id": foreign_id, "type": "withdrawal", "status": "processing",
                         "amount": amount_text(amount, currency), "sender_currency": currency,
                         "receiver_currency": convert_to, "sender_amount": amount_text(amount, currency),
                         "receiver_amount": amount_text(sent, convert_to)}}

    def _settle_withdrawal(self, txn: dict[str, Any]) -> None:
        txn["status"] = txn.pop("_next")
        if txn["status"] == "cancelled":
            txn["error"] = "Invalid address"
        self._queue(txn)

    def info(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] | None = None
        if doc.get("id") is not None:
            found = self.transactions.get(doc["id"]) if isinstance(doc["id"], int) else None
        elif doc.get("foreign_id"):
            foreign_id = str(doc["foreign_id"])
            matches = [t for t in self.transactions.values() if _foreign(t) == foreign_id]
            found = matches[-1] if matches else None
        if found is None:
            raise SimError(400, "not_found", "no transaction with that id or foreign_id")
        return {"data": self.public(found)}

    @staticmethod
    def _rate(asset: str, currency: str) -> Decimal:
        rate = RATES.get(asset, {}).get(currency)
        if rate is None:
            raise SimError(400, "bad_convert_to", f"{asset} does not convert into {currency}")
        return rate

    # -- the client's wallet ------------------------------------------------------------------------
    def pay(self, address: str, amount: Any, *, currency: str = "", scenario: str = "confirm",
            riskscore: str = "0.12") -> dict[str, Any]:
        record = self.addresses.get(address)
        if record is None:
            raise SimError(404, "not_found", "no such address")
        if scenario not in SCENARIOS:
            raise SimError(400, "bad_scenario", f"scenario must be one of {', '.join(SCENARIOS)}")
        sent_currency = (currency or record["currency"]).upper()
        if sent_currency != record["currency"]:
            raise SimError(400, "bad_currency", f"the address takes {record['currency']}")
        sent = decimal(amount, "amount")
        received_currency = record["convert_to"] or record["currency"]
        received = sent * self._rate(record["currency"], received_currency)
        fee = received * DEPOSIT_FEE
        txn: dict[str, Any] = {"id": self._id(), "end_user_reference": record["end_user_reference"],
               "type": "deposit_exchange" if record["convert_to"] else "deposit",
               "crypto_address": {k: record[k] for k in ("id", "currency", "address", "foreign_id", "tag")},
               "currency_sent": {"currency": record["currency"], "amount": amount_text(sent, record["currency"])},
               "currency_received": {"currency": received_currency,
                                     "amount": amount_text(received, received_currency),
                                     "amount_minus_fee": amount_text(received - fee, received_currency)},
               "transactions": [{"id": self._id(), "currency": record["currency"], "transaction_type": "blockchain",
                                 "type": "deposit", "address": address, "tag": None,
                                 "amount": amount_text(sent, record["currency"]), "txid": secrets.token_hex(32),
                                 "riskscore": str(riskscore), "confirmations": 0}],
               "fees": [{"type": "deposit", "currency": received_currency, "amount": amount_text(fee, received_currency)}],
               "error": "", "status": "not_confirmed"}
        self.transactions[txn["id"]] = txn
        record["txids"].append(txn["id"])
        if scenario == "confirm":
            self._end(txn, approve=True)
        elif scenario == "cancel":
            self._end(txn, approve=False)
        elif scenario == "slow":
            self._queue(txn)
        return self.public(txn)

    def confirm(self, address: str, approve: bool) -> dict[str, Any]:
        record = self.addresses.get(address)
        pending = [self.transactions[t] for t in (record or {}).get("txids", [])
                   if self.transactions[t]["status"] == "not_confirmed"]
        if not pending:
            raise SimError(404, "not_found", "no deposit to that address waits for confirmation")
        self._end(pending[-1], approve=approve)
        return self.public(pending[-1])

    def _end(self, txn: dict[str, Any], *, approve: bool) -> None:
        if approve:
            txn["status"] = "confirmed"
            txn["transactions"][0]["confirmations"] = 3
            paid = self.faults.take("paid_amount")
            if paid is not None:  # received another amount (or currency) than was sent
                currency = str(paid.params.get("currency") or txn["currency_received"]["currency"]).upper()
                amount = Decimal(str(paid.params["amount"]))
                txn["currency_received"] = {"currency": currency, "amount": amount_text(amount, currency),
                                            "amount_minus_fee": amount_text(amount, currency)}
        else:
            txn["status"] = "cancelled"
            txn["error"] = "The transaction was not confirmed by the network"
        self._queue(txn)

    @staticmethod
    def public(txn: Mapping[str, Any]) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps({k: v for k, v in txn.items() if not k.startswith("_")}))
        return copied

    # -- callbacks --------------------------------------------------------------------------------
    def _queue(self, txn: Mapping[str, Any]) -> None:
        if self.callback_url:
            self.send(self.callback_url, self.public(txn))

    def send(self, url: str, doc: dict[str, Any]) -> None:
        if self.faults.take("drop_webhooks") is not None:
            return
        self.webhook_add(f"cb_{secrets.token_hex(6)}", url, json.dumps(doc, separators=(",", ":")),
                         type=f"{doc.get('type')}.{doc.get('status')}", event_id=f"{doc.get('id')}:{doc.get('status')}",
                         foreign_id=_foreign(doc))

    def signed(self, hook: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        secret = self.merchant.api_secret if not hook.get("bad_signature") else "not-the-secret"
        body = hook["body"].encode()
        return body, {"Content-Type": "application/json", "X-Processing-Key": self.merchant.api_key,
                      "X-Processing-Signature": signature(body, secret)}

    def notify_unknown(self, url: str = "") -> dict[str, Any]:
        """A correctly signed confirmed deposit to an address nobody asked for."""
        foreign_id = f"unknown-{secrets.token_hex(6)}"
        doc = {"id": self._id(), "type": "deposit", "end_user_reference": None,
               "crypto_address": {"id": self._id(), "currency": "BTC", "address": "bc1q" + secrets.token_hex(20),
                                  "foreign_id": foreign_id, "tag": None},
               "currency_sent": {"currency": "BTC", "amount": "0.00100000"},
               "currency_received": {"currency": "BTC", "amount": "0.00100000", "amount_minus_fee": "0.00099700"},
               "transactions": [], "fees": [], "error": "", "status": "confirmed"}
        target = url or self.callback_url
        if not target:
            raise SimError(409, "no_callback_url", "no callback URL is set")
        self.send(target, doc)
        return doc


def _foreign(txn: Mapping[str, Any]) -> str:
    address = txn.get("crypto_address") or {}
    if str(txn.get("type", "")).startswith("deposit"):
        return str(address.get("foreign_id") or "")
    return str(txn.get("foreign_id") or "")
