"""Fault injection: a list of fault rules the server consults on every Web API request.

A rule is a JSON object with a ``type`` and optional ``path`` (an ``/api/...`` path or ``"*"``),
``count`` (how many times it fires; omitted = until cleared), ``skip`` (let this many matching
requests pass first) and ``probability`` (0..1, drawn from a generator seeded from the simulator's
seed so a fault plan replays identically). Types and their own fields:

``latency``            ``seconds``: sleep before handling the request.
``http_error``         ``status`` (500, 503, ...): answer with that HTTP status, nothing applied.
``retcode``            ``retcode`` ("10019 Not enough money", "9 Operation timeout", ...): answer
                       with that retcode, nothing applied.
``timeout_after_apply`` ``mode`` "sleep" (default; ``seconds``, default 30) or "drop": the request
                       is applied and committed to disk, then the answer is delayed past the
                       client's timeout or the connection is closed without an answer.
``malformed``          ``mode`` "not_json" | "truncated" | "missing_retcode" | "wrong_shape".
``duplicate_deals``    ``copies`` (default 1): deals in deal/get_batch answers appear twice.
``late_deals``         ``delay_seconds``: deals created while the rule is active stay invisible to
                       deal/get_batch until the simulated clock passes their time plus the delay;
                       ``count`` counts deals here.
``mutate_after_read``  ``mode`` "edit" | "delete": after a deal/get_batch answer, that many of the
                       returned closed-trade or balance deals are edited (profit corrected, the
                       balance follows) or deleted (the balance is reversed); ``count`` counts deals.
``clock_offset``       ``seconds``: the server's clock runs off by that much (its time and the
                       times it stamps on new deals), until faults are cleared.
"""

from __future__ import annotations

from typing import Any

from simkit import faults as common
from simkit.faults import Fault, FaultSpecError

TYPES = {
    "latency",
    "http_error",
    "retcode",
    "timeout_after_apply",
    "malformed",
    "duplicate_deals",
    "late_deals",
    "mutate_after_read",
    "clock_offset",
}
# The modes of a type, the first its default.
MODES = {
    "malformed": ("not_json", "truncated", "missing_retcode", "wrong_shape"),
    "mutate_after_read": ("edit", "delete"),
    "timeout_after_apply": ("sleep", "drop"),
}

__all__ = ["TYPES", "Fault", "FaultPlan", "FaultSpecError", "parse_fault"]


def parse_fault(raw: dict[str, Any]) -> Fault:
    return common.parse_fault(raw, TYPES, _check)


def _check(kind: str, params: dict[str, Any]) -> None:
    if kind == "retcode" and not str(params.get("retcode", "")).split(" ")[0].isdigit():
        raise FaultSpecError("retcode must look like '13 Not found'")
    modes = MODES.get(kind)
    if modes and params.get("mode", modes[0]) not in modes:
        raise FaultSpecError(f"{kind} mode must be {', '.join(modes[:-1])} or {modes[-1]}")


class FaultPlan(common.FaultPlan):
    """The active rules, matched by exact path; the dice are seeded from the simulator's seed."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed=seed ^ 0x5EED_FA17, exact_paths=True)
