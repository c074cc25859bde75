"""The simulator's state: payments, refunds, payouts (in daily batches), chargebacks, the webhooks
waiting to go out, and the daily settlement file. Callers hold ``App.lock`` around every call.

Amounts are decimal strings on the wire and ``Decimal`` here, never floats. Every change that
matters queues webhooks; ``commit`` writes the snapshot when a state directory was given.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import secrets
import time
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from simkit.http import SimError, sign
from simkit.provider import WebhookOutbox

from .config import SimConfig
from .faults import FaultPlan

SNAPSHOT_NAME = "state.json"
SETTLEMENT_COLUMNS = ("provider_reference", "merchant_reference", "type", "amount", "currency", "fee",
                      "value_date", "batch_id")
METHODS = ("card", "ewallet", "crypto")
_EXPONENTS = {"JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "USDT": 6, "USDC": 6, "BTC": 8, "ETH": 8}
CARD_SUCCESS = "4242424242424242"
CARD_DECLINE = "4000000000000002"
CARD_3DS = "4000000000003220"
# Cards that succeed, by the country of their issuer (what a BIN lookup gives): test clients pay with a
# card of their own country or of another one, so that the CRM sees realistic payers and instruments.
CARD_COUNTRIES = {CARD_SUCCESS: "US", CARD_3DS: "US", "4000008260000000": "GB", "4000002760000016": "DE",
                  "4000002500000003": "FR", "4000003800000008": "AT", "4000007240000007": "ES",
                  "4000001960000008": "CY", "4000007840000001": "AE", "4000005660000002": "NG"}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def parse_amount(value: Any, currency: str, field: str = "amount") -> Decimal:
    if isinstance(value, float) or isinstance(value, bool):
        raise SimError(400, "invalid_amount", f"{field} must be a decimal string")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SimError(400, "invalid_amount", f"{field} is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise SimError(400, "invalid_amount", f"{field} must be positive")
    if -amount.as_tuple().exponent > exponent(currency):  # type: ignore[operator]  # a finite number's exponent is an int
        raise SimError(400, "invalid_amount", f"{field} has more decimals than {currency} allows")
    return amount


class Engine(WebhookOutbox):
    def __init__(self, config: SimConfig, faults: FaultPlan, *, state_dir: Path | None, today: dt.date,
                 webhook_attempts: int = 8, webhook_backoff: float = 1.0, crypto_confirm_seconds: float = 2.0,
                 base_url: str = "") -> None:
        self.config = config
        self.faults = faults
        self.state_dir = state_dir
        self.webhook_attempts = webhook_attempts
        self.webhook_backoff = webhook_backoff
        self.crypto_confirm_seconds = crypto_confirm_seconds
        self.base_url = base_url
        self.today = today
        self.objects: dict[str, dict[str, Any]] = {}
        self.by_ref: dict[str, str] = {}  # "<kind>:<merchant_ref>" -> id
        self.webhooks: list[dict[str, Any]] = []
        self.held: list[str] = []  # webhook ids held for reordering
        self.batches: dict[str, dict[str, Any]] = {}
        self.timers: list[tuple[float, str]] = []  # (due monotonic-ish wall time, payment id): crypto confirmations
        self._load()

    # -- persistence ------------------------------------------------------------------------------
    def _load(self) -> None:
        if self.state_dir is None or not (self.state_dir / SNAPSHOT_NAME).exists():
            return
        data = json.loads((self.state_dir / SNAPSHOT_NAME).read_text(encoding="utf-8"))
        self.today = dt.date.fromisoformat(data["today"])
        self.objects = data["objects"]
        self.by_ref = data["by_ref"]
        self.webhooks = data["webhooks"]
        self.held = data.get("held", [])
        self.batches = data["batches"]
        self.timers = [(float(t), str(p)) for t, p in data.get("timers", [])]

    def commit(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {"today": self.today.isoformat(), "objects": self.objects, "by_ref": self.by_ref,
                "webhooks": self.webhooks, "held": self.held, "batches": self.batches, "timers": self.timers}
        tmp = self.state_dir / (SNAPSHOT_NAME + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_dir / SNAPSHOT_NAME)

    # -- helpers ----------------------------------------------------------------------------------
    def fee(self, kind: str, amount: Decimal, currency: str) -> Decimal:
        rule = self.config.fees.get(kind, {"percent": "0", "fixed": "0"})
        raw = amount * Decimal(str(rule.get("percent", "0"))) / 100 + Decimal(str(rule.get("fixed", "0")))
        return raw.quantize(Decimal(1).scaleb(-exponent(currency)), rounding=ROUND_HALF_EVEN)

    @staticmethod
    def _now_text() -> str:
        return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(8)}"

    def _existing(self, kind: str, merchant_ref: str, body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The object an earlier request with this merchant_ref made (idempotency), or None; the
        same reference with different terms is refused."""
        known = self.by_ref.get(f"{kind}:{merchant_ref}")
        if known is None:
            return None
        obj = self.objects[known]
        for key in keys:
            if key in body and str(body[key]) != str(obj.get(key)):
                raise SimError(409, "idempotency_conflict",
                               f"merchant_ref {merchant_ref} was used with a different {key}")
        return obj

    def public(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        if obj["object"] == "payment":
            out["checkout_url"] = f"{self.base_url}/checkout/{obj['id']}"
        return out

    def find(self, kind: str, *, object_id: str | None = None, merchant_ref: str | None = None) -> dict[str, Any]:
        if object_id is None and merchant_ref is not None:
            object_id = self.by_ref.get(f"{kind}:{merchant_ref}")
        obj = self.objects.get(object_id or "")
        if obj is None or obj["object"] != kind:
            raise SimError(404, "not_found", f"no such {kind}")
        return obj

    # -- payments ---------------------------------------------------------------------------------
    def payment_create(self, body: dict[str, Any]) -> dict[str, Any]:
        merchant_ref = str(body.get("merchant_ref") or "").strip()
        if not merchant_ref:
            raise SimError(400, "missing_field", "merchant_ref is required")
        existing = self._existing("payment", merchant_ref, body, ("amount", "currency", "method"))
        if existing is not None:
            return existing
        currency = str(body.get("currency") or "").upper()
        if not currency.isalnum() or not 3 <= len(currency) <= 10:
            raise SimError(400, "invalid_currency", "currency is required")
        amount = parse_amount(body.get("amount"), currency)
        method = str(body.get("method") or "card")
        if method not in METHODS:
            raise SimError(400, "invalid_method", f"method must be one of {', '.join(METHODS)}")
        obj: dict[str, Any] = {
            "object": "payment", "id": self._new_id("pay"), "merchant_ref": merchant_ref,
            "amount": str(amount), "currency": currency, "method": method, "status": "created",
            "fee": str(self.fee(method, amount, currency)), "refunded": "0",
            "return_url": str(body.get("return_url") or ""), "webhook_url": str(body.get("webhook_url") or ""),
            "customer": body.get("customer") or {}, "created_at": self._now_text(), "completed_at": None,
            "value_date": None, "batch_id": None, "sequence": 0, "failure_reason": "",
        }
        self.objects[obj["id"]] = obj
        self.by_ref[f"payment:{merchant_ref}"] = obj["id"]
        return obj

    def checkout_submit(self, payment_id: str, form: dict[str, str]) -> dict[str, Any]:
        """What the client typed on the hosted page: succeeds, declines, or waits (3-D Secure, crypto)."""
        obj = self.find("payment", object_id=payment_id)
        if obj["status"] != "created":
            return obj
        method = obj["method"]
        if method == "card":
            number = "".join(ch for ch in form.get("card_number", "") if ch.isdigit())
            if number in CARD_COUNTRIES:
                obj["payer"] = self._card_payer(obj, number, form.get("card_holder", ""))
            if number in CARD_COUNTRIES and number != CARD_3DS:
                self._payment_final(obj, ok=True)
            elif number == CARD_3DS:
                obj["status"] = "pending"
                obj["_step"] = "3ds"
                self._queue(obj, "payment.pending")
            else:
                self._payment_final(obj, ok=False, reason="card_declined")
        elif method == "ewallet":
            email = form.get("email", "")
            if "@" not in email:
                raise SimError(400, "invalid_email", "enter the e-wallet's e-mail address")
            obj["payer"] = {"name": self._customer_name(obj), "country": "", "last4": "",
                            "fingerprint": hashlib.sha256(f"ewallet:{email.strip().lower()}".encode()).hexdigest()}
            self._payment_final(obj, ok="decline" not in email.lower(), reason="ewallet_declined")
        else:
            address = form.get("address", "").strip()
            if not address:
                raise SimError(400, "invalid_address", "enter the address you pay from")
            obj["status"] = "pending"
            obj["_payer"] = address
            self._queue(obj, "payment.pending")
            self.timers.append((time.time() + self.crypto_confirm_seconds, obj["id"]))
        return obj

    @staticmethod
    def _customer_name(obj: dict[str, Any]) -> str:
        customer = obj.get("customer") or {}
        return " ".join(str(customer.get(k) or "").strip() for k in ("first_name", "last_name")).strip()

    def _card_payer(self, obj: dict[str, Any], number: str, holder: str) -> dict[str, str]:
        """The card's holder (as typed on the page; the customer's name when left empty), its issuer's
        country, its last four and the provider's fingerprint of it (a hash: the PAN is never sent)."""
        return {"name": " ".join(holder.split())[:100] or self._customer_name(obj),
                "country": CARD_COUNTRIES[number], "last4": number[-4:],
                "fingerprint": hashlib.sha256(f"card:{number}".encode()).hexdigest()}

    def three_ds(self, payment_id: str, approve: bool) -> dict[str, Any]:
        obj = self.find("payment", object_id=payment_id)
        if obj["status"] == "pending" and obj.get("_step") == "3ds":
            obj.pop("_step", None)
            self._payment_final(obj, ok=approve, reason="3ds_failed")
        return obj

    def run_timers(self) -> bool:
        now = time.time()
        due = [t for t in self.timers if t[0] <= now]
        if not due:
            return False
        self.timers = [t for t in self.timers if t[0] > now]
        for _, payment_id in due:
            obj = self.objects.get(payment_id)
            if obj and obj["status"] == "pending":
                self._payment_final(obj, ok="fail" not in str(obj.get("_payer", "")).lower(),
                                    reason="crypto_not_confirmed")
        return True

    def _payment_final(self, obj: dict[str, Any], *, ok: bool, reason: str = "") -> None:
        obj["status"] = "succeeded" if ok else "failed"
        obj["completed_at"] = self._now_text()
        if ok:
            paid = self.faults.take("paid_amount")
            if paid is not None:  # the provider confirms another amount (or currency) than the one asked
                obj["currency"] = str(paid.params.get("currency") or obj["currency"]).upper()
                obj["amount"] = str(parse_amount(str(paid.params["amount"]), obj["currency"]))
                obj["fee"] = str(self.fee(obj["method"], Decimal(obj["amount"]), obj["currency"]))
            obj["value_date"] = self.today.isoformat()
            obj["batch_id"] = f"S{self.today:%Y%m%d}"
        else:
            obj["fee"] = "0"
            obj["failure_reason"] = reason
        self._queue(obj, "payment.succeeded" if ok else "payment.failed")

    # -- refunds, chargebacks -------------------------------------------------------------------------
    def refund_create(self, body: dict[str, Any]) -> dict[str, Any]:
        merchant_ref = str(body.get("merchant_ref") or "").strip()
        if not merchant_ref:
            raise SimError(400, "missing_field", "merchant_ref is required")
        existing = self._existing("refund", merchant_ref, body, ("amount", "payment_id"))
        if existing is not None:
            return existing
        payment = self.find("payment", object_id=str(body.get("payment_id") or ""))
        if payment["status"] != "succeeded":
            raise SimError(409, "not_refundable", "only a succeeded payment can be refunded")
        amount = parse_amount(body.get("amount"), payment["currency"])
        left = Decimal(payment["amount"]) - Decimal(payment["refunded"])
        if amount > left:
            raise SimError(409, "refund_too_large", f"at most {left} {payment['currency']} can still be refunded")
        payment["refunded"] = str(Decimal(payment["refunded"]) + amount)
        obj: dict[str, Any] = {
            "object": "refund", "id": self._new_id("rfd"), "merchant_ref": merchant_ref,
            "payment_id": payment["id"], "payment_merchant_ref": payment["merchant_ref"],
            "amount": str(amount), "currency": payment["currency"], "status": "succeeded",
            "fee": str(self.fee("refund", amount, payment["currency"])),
            "webhook_url": str(body.get("webhook_url") or payment["webhook_url"]),
            "created_at": self._now_text(), "completed_at": self._now_text(),
            "value_date": self.today.isoformat(), "batch_id": f"S{self.today:%Y%m%d}", "sequence": 0,
        }
        self.objects[obj["id"]] = obj
        self.by_ref[f"refund:{merchant_ref}"] = obj["id"]
        self._queue(obj, "refund.succeeded")
        return obj

    def chargeback(self, payment_id: str, reason: str) -> dict[str, Any]:
        payment = self.find("payment", object_id=payment_id)
        if payment["status"] != "succeeded":
            raise SimError(409, "not_chargeable", "only a succeeded payment can be charged back")
        amount = Decimal(payment["amount"]) - Decimal(payment["refunded"])
        obj: dict[str, Any] = {
            "object": "chargeback", "id": self._new_id("cbk"), "merchant_ref": payment["merchant_ref"],
            "payment_id": payment["id"], "amount": str(amount), "currency": payment["currency"],
            "status": "succeeded", "reason": reason or "fraudulent",
            "fee": str(self.fee("chargeback", amount, payment["currency"])),
            "webhook_url": payment["webhook_url"], "created_at": self._now_text(),
            "completed_at": self._now_text(), "value_date": self.today.isoformat(),
            "batch_id": f"S{self.today:%Y%m%d}", "sequence": 0,
        }
        payment["status"] = "charged_back"
        self.objects[obj["id"]] = obj
        self._queue(obj, "chargeback.created")
        return obj

    # -- payouts ----------------------------------------------------------------------------------
    def payout_create(self, body: dict[str, Any]) -> dict[str, Any]:
        merchant_ref = str(body.get("merchant_ref") or "").strip()
        if not merchant_ref:
            raise SimError(400, "missing_field", "merchant_ref is required")
        existing = self._existing("payout", merchant_ref, body, ("amount", "currency"))
        if existing is not None:
            return existing
        currency = str(body.get("currency") or "").upper()
        if not currency.isalnum() or not 3 <= len(currency) <= 10:
            raise SimError(400, "invalid_currency", "currency is required")
        amount = parse_amount(body.get("amount"), currency)
        destination = body.get("destination")
        if not isinstance(destination, dict) or not destination:
            raise SimError(400, "missing_field", "destination is required")
        batch = self._open_batch()
        obj: dict[str, Any] = {
            "object": "payout", "id": self._new_id("po"), "merchant_ref": merchant_ref,
            "amount": str(amount), "currency": currency, "method": str(body.get("method") or "card"),
            "destination": destination, "status": "pending", "fee": str(self.fee("payout", amount, currency)),
            "webhook_url": str(body.get("webhook_url") or ""), "created_at": self._now_text(),
            "completed_at": None, "value_date": None, "batch_id": batch["id"], "sequence": 0,
            "failure_reason": "",
        }
        batch["payouts"].append(obj["id"])
        self.objects[obj["id"]] = obj
        self.by_ref[f"payout:{merchant_ref}"] = obj["id"]
        return obj

    def _open_batch(self) -> dict[str, Any]:
        for batch in self.batches.values():
            if batch["status"] == "open" and batch["date"] == self.today.isoformat():
                return batch
        number = sum(1 for b in self.batches.values() if b["date"] == self.today.isoformat()) + 1
        batch = {"id": f"B{self.today:%Y%m%d}-{number}", "date": self.today.isoformat(), "status": "open",
                 "payouts": []}
        self.batches[batch["id"]] = batch
        return batch

    def payouts_process(self) -> dict[str, Any]:
        """Close the open batches: each pending payout succeeds, or fails when its destination says
        "fail"; a failed one carries no fee."""
        done: list[str] = []
        for batch in self.batches.values():
            if batch["status"] != "open":
                continue
            batch["status"] = "closed"
            for payout_id in batch["payouts"]:
                obj = self.objects[payout_id]
                if obj["status"] != "pending":
                    continue
                failed = "fail" in json.dumps(obj["destination"]).lower()
                obj["status"] = "failed" if failed else "succeeded"
                obj["completed_at"] = self._now_text()
                if failed:
                    obj["fee"] = "0"
                    obj["failure_reason"] = "destination_refused"
                else:
                    obj["value_date"] = self.today.isoformat()
                self._queue(obj, "payout.failed" if failed else "payout.succeeded")
                done.append(payout_id)
        return {"processed": done}

    def advance_day(self, days: int) -> dict[str, Any]:
        processed = self.payouts_process()
        self.today += dt.timedelta(days=days)
        return {"today": self.today.isoformat(), **processed}

    # -- settlement -------------------------------------------------------------------------------
    def settlement_csv(self, day: dt.date) -> str:
        """Every movement valued on ``day``: payments in (+), refunds, chargebacks and payouts out (-),
        each with its fee (always positive: what the provider keeps) and batch."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SETTLEMENT_COLUMNS)
        kinds = {"payment": ("payment", 1), "refund": ("refund", -1), "chargeback": ("chargeback", -1),
                 "payout": ("payout", -1)}
        for obj in sorted(self.objects.values(), key=lambda o: (o["created_at"], o["id"])):
            if obj.get("value_date") != day.isoformat() or obj["object"] not in kinds:
                continue
            if obj["object"] == "payment" and obj["status"] not in ("succeeded", "charged_back"):
                continue
            if obj["object"] == "payout" and obj["status"] != "succeeded":
                continue
            kind, direction = kinds[obj["object"]]
            writer.writerow([obj["id"], obj["merchant_ref"], kind, str(Decimal(obj["amount"]) * direction),
                             obj["currency"], obj["fee"], obj["value_date"], obj["batch_id"]])
        return out.getvalue()

    # -- webhooks ---------------------------------------------------------------------------------
    def _queue(self, obj: dict[str, Any], kind: str) -> None:
        obj["sequence"] = int(obj.get("sequence", 0)) + 1
        url = obj.get("webhook_url") or ""
        if not url:
            return
        if self.faults.take("drop_webhooks") is not None:
            return
        data = self.public(obj)
        data.pop("webhook_url", None)
        data.pop("return_url", None)
        data.pop("checkout_url", None)
        event_id = "evt_" + secrets.token_hex(10)
        body = json.dumps({"id": event_id, "type": kind, "created": self._now_text(), "data": data},
                          separators=(",", ":"), sort_keys=True)
        bad = self.faults.take("webhook_bad_signature") is not None
        copies = 1
        dup = self.faults.take("duplicate_webhooks")
        if dup is not None:
            copies += int(dup.params.get("copies", 1))
        reorder = self.faults.take("reorder_webhooks")
        for n in range(copies):
            hook = {"id": f"{event_id}#{n}", "event_id": event_id, "type": kind, "object_id": obj["id"], "url": url,
                    "body": body, "attempts": 0, "next_at": 0.0, "state": "pending", "last_status": None,
                    "bad_signature": bad}
            if reorder is not None:
                hook["state"] = "held"
                self.held.append(hook["id"])
            self.webhooks.append(hook)
        if reorder is not None and reorder.count is not None and reorder.fired >= reorder.count:
            self.release_held()

    def release_held(self) -> int:
        """Send the held webhooks, newest first."""
        held = [h for h in self.webhooks if h["id"] in set(self.held)]
        base = time.time()
        for offset, hook in enumerate(reversed(held)):
            hook["state"] = "pending"
            hook["next_at"] = base + offset * 0.05  # newest first, strictly
        self.held = []
        return len(held)

    def signed(self, hook: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        timestamp = str(int(time.time()))
        secret = self.config.webhook_secret if not hook.get("bad_signature") else "not-the-secret"
        headers = {
            "Content-Type": "application/json",
            "X-Psp-Event-Id": hook["event_id"],
            "X-Psp-Timestamp": timestamp,
            "X-Psp-Signature": sign(secret, f"{timestamp}.{hook['body']}"),
        }
        return hook["body"].encode(), headers

    def status(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for obj in self.objects.values():
            counts[obj["object"]] = counts.get(obj["object"], 0) + 1
        pending = sum(1 for h in self.webhooks if h["state"] in ("pending", "held"))
        return {"today": self.today.isoformat(), "objects": counts, "webhooks_pending": pending,
                "batches": list(self.batches.values())}
