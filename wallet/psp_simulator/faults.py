"""Fault injection: rules the control API installs and the server consults.

A rule is a JSON object with a ``type``, an optional ``path`` (a merchant API path prefix such as
``/v1/payouts``, or ``"*"``), ``count`` (how many times it fires; omitted = until cleared) and
``skip`` (let this many matching requests pass first). Types and their own fields:

``http_error``          ``status`` (500, 503, ...): answer that status, nothing applied.
``latency``             ``seconds``: sleep before handling the request.
``timeout_after_apply`` ``seconds`` (default 30): the request is applied, then the answer is held
                        past the client's timeout (the client cannot tell whether it was applied).
``drop_webhooks``       the next webhooks are never sent.
``duplicate_webhooks``  ``copies`` (default 1): the next webhooks are sent that many extra times.
``reorder_webhooks``    the next webhooks are held and sent newest first once ``count`` of them are
                        held (or on ``POST /_sim/webhooks/flush``).
``webhook_bad_signature`` the next webhooks are signed with a wrong secret.
``paid_amount``         ``amount`` (and optional ``currency``): the next payments that succeed are
                        confirmed (in the payment, its webhook and the settlement file) for that
                        amount instead of the one asked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

REQUEST_TYPES = {"http_error", "latency", "timeout_after_apply"}
WEBHOOK_TYPES = {"drop_webhooks", "duplicate_webhooks", "reorder_webhooks", "webhook_bad_signature"}
PAYMENT_TYPES = {"paid_amount"}
TYPES = REQUEST_TYPES | WEBHOOK_TYPES | PAYMENT_TYPES


class FaultSpecError(ValueError):
    pass


@dataclass
class Fault:
    type: str
    path: str = "*"
    count: int | None = None
    skip: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def matches(self, path: str) -> bool:
        return self.path == "*" or path.startswith(self.path)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "path": self.path, "count": self.count, "skip": self.skip,
                "fired": self.fired, **self.params}


def parse_fault(raw: Any) -> Fault:
    if not isinstance(raw, dict):
        raise FaultSpecError("a fault is a JSON object")
    kind = raw.get("type")
    if kind not in TYPES:
        raise FaultSpecError(f"unknown fault type {kind!r}; known: {sorted(TYPES)}")
    count = raw.get("count")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise FaultSpecError("count must be a non-negative integer")
    if kind == "http_error" and int(raw.get("status", 500)) < 400:
        raise FaultSpecError("http_error status must be 4xx or 5xx")
    if kind == "paid_amount":
        _check_paid_amount(raw)
    params = {k: v for k, v in raw.items() if k not in {"type", "path", "count", "skip"}}
    return Fault(type=kind, path=str(raw.get("path", "*")), count=count, skip=int(raw.get("skip", 0)),
                 params=params)


def _check_paid_amount(raw: dict[str, Any]) -> None:
    amount = raw.get("amount")
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise FaultSpecError("paid_amount needs an amount such as \"95.00\"") from None
    if not value.is_finite() or value <= 0:
        raise FaultSpecError("paid_amount's amount must be a positive number")
    currency = raw.get("currency")
    if currency is not None and (not isinstance(currency, str) or not currency.isalpha() or len(currency) != 3):
        raise FaultSpecError("paid_amount's currency must be a three-letter code")


class FaultPlan:
    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, faults: list[Fault]) -> None:
        with self._lock:
            self._rules.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._rules]

    def take(self, kind: str, path: str = "*") -> Fault | None:
        """The first live rule of ``kind`` matching ``path``, counted as fired."""
        with self._lock:
            for rule in self._rules:
                if rule.type != kind or not rule.matches(path):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                rule.fired += 1
                return rule
            return None
