"""Fault rules of the CoinsPaid simulator (simkit.faults: ``path``, ``count``, ``skip``, ``probability``).

``http_error``            ``status``: the merchant API answers that status, nothing applied.
``latency``               ``seconds``: sleep before handling the request.
``timeout_after_apply``   ``seconds`` (default 30): applied, then the answer is held past the client's timeout.
``drop_webhooks``         the next callbacks are never sent.
``duplicate_webhooks``    ``copies`` (default 1): the next callbacks are sent that many extra times.
``reorder_webhooks``      the next ``count`` callbacks are held, then sent newest first.
``webhook_bad_signature`` the next callbacks are signed with a wrong secret.
``paid_amount``           ``amount`` ("95.00") and optional ``currency``: the next confirmed deposit
                          received that amount (after conversion) instead of what was sent.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from simkit.faults import Fault, FaultPlan, FaultSpecError, parse_fault

TYPES = {"http_error", "latency", "timeout_after_apply", "drop_webhooks", "duplicate_webhooks", "reorder_webhooks",
         "webhook_bad_signature", "paid_amount"}

__all__ = ["TYPES", "Fault", "FaultPlan", "FaultSpecError", "parse"]


def parse(raw: Any) -> Fault:
    return parse_fault(raw, TYPES, _check)


def _check(kind: str, params: dict[str, Any]) -> None:
    if kind != "paid_amount":
        return
    try:
        value = Decimal(str(params.get("amount")))
    except (InvalidOperation, ValueError):
        raise FaultSpecError('paid_amount needs an amount such as "95.00"') from None
    if not value.is_finite() or value <= 0:
        raise FaultSpecError("paid_amount's amount must be a positive number")
    currency = params.get("currency")
    if currency is not None and (not isinstance(currency, str) or not currency.isalnum() or not 3 <= len(currency) <= 5):
        raise FaultSpecError("paid_amount's currency must be a currency code")
