"""Fault rules of the Twilio simulator (simkit.faults: ``path``, ``count``, ``skip``, ``probability``).

``http_error``            ``status``: the API answers that status (an HTML page), nothing sent.
``too_many_requests``     the API answers 429 with Twilio's JSON (code 20429), nothing sent.
``latency``               ``seconds``: sleep before handling the request.
``timeout_after_apply``   ``seconds`` (default 30): sent, then the answer is held past the client's timeout.
``drop_webhooks``         the next callbacks are never sent.
``duplicate_webhooks``    ``copies`` (default 1): the next callbacks are sent that many extra times.
``reorder_webhooks``      the next ``count`` callbacks are held, then sent newest first.
``webhook_bad_signature`` the next callbacks are signed with a wrong auth token.
"""

from __future__ import annotations

from typing import Any

from simkit.faults import Fault, FaultPlan, FaultSpecError, parse_fault

TYPES = {"http_error", "too_many_requests", "latency", "timeout_after_apply", "drop_webhooks", "duplicate_webhooks",
         "reorder_webhooks", "webhook_bad_signature"}

__all__ = ["TYPES", "Fault", "FaultPlan", "FaultSpecError", "parse"]


def parse(raw: Any) -> Fault:
    return parse_fault(raw, TYPES)
