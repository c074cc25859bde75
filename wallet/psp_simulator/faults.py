"""Fault injection: rules the control API installs and the server consults.

A rule (simkit.faults) is a JSON object with a ``type``, an optional ``path`` (a merchant API path
prefix such as ``/v1/payouts``, or ``"*"``), ``count`` (how many times it fires; omitted = until
cleared) and ``skip`` (let this many matching requests pass first). Types and their own fields:

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

from decimal import Decimal, InvalidOperation
from typing import Any

from simkit.faults import Fault, FaultPlan, FaultSpecError, parse_fault

REQUEST_TYPES = {"http_error", "latency", "timeout_after_apply"}
WEBHOOK_TYPES = {"drop_webhooks", "duplicate_webhooks", "reorder_webhooks", "webhook_bad_signature"}
PAYMENT_TYPES = {"paid_amount"}
TYPES = REQUEST_TYPES | WEBHOOK_TYPES | PAYMENT_TYPES

__all__ = ["TYPES", "Fault", "FaultPlan", "FaultSpecError", "parse"]


def parse(raw: Any) -> Fault:
    return parse_fault(raw, TYPES, _check)


def _check(kind: str, params: dict[str, Any]) -> None:
    if kind != "paid_amount":
        return
    amount = params.get("amount")
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise FaultSpecError("paid_amount needs an amount such as \"95.00\"") from None
    if not value.is_finite() or value <= 0:
        raise FaultSpecError("paid_amount's amount must be a positive number")
    currency = params.get("currency")
    if currency is not None and (not isinstance(currency, str) or not currency.isalpha() or len(currency) != 3):
        raise FaultSpecError("paid_amount's currency must be a three-letter code")
