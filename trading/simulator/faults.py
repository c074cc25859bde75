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

import random
import threading
from dataclasses import dataclass, field
from typing import Any

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


class FaultSpecError(ValueError):
    pass


@dataclass
class Fault:
    type: str
    path: str = "*"
    count: int | None = None
    skip: int = 0
    probability: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def matches(self, path: str) -> bool:
        return self.path in ("*", path)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "path": self.path,
            "count": self.count,
            "skip": self.skip,
            "probability": self.probability,
            "fired": self.fired,
            **self.params,
        }


def parse_fault(raw: dict[str, Any]) -> Fault:
    if not isinstance(raw, dict):
        raise FaultSpecError("a fault is a JSON object")
    kind = raw.get("type")
    if kind not in TYPES:
        raise FaultSpecError(f"unknown fault type {kind!r}; known: {sorted(TYPES)}")
    params = {k: v for k, v in raw.items() if k not in {"type", "path", "count", "skip", "probability"}}
    count = raw.get("count")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise FaultSpecError("count must be a non-negative integer")
    probability = float(raw.get("probability", 1.0))
    if not 0.0 <= probability <= 1.0:
        raise FaultSpecError("probability must be within 0..1")
    if kind == "http_error" and int(params.get("status", 500)) < 400:
        raise FaultSpecError("http_error status must be 4xx or 5xx")
    if kind == "retcode" and not str(params.get("retcode", "")).split(" ")[0].isdigit():
        raise FaultSpecError("retcode must look like '13 Not found'")
    if kind == "malformed" and params.get("mode", "not_json") not in {
        "not_json",
        "truncated",
        "missing_retcode",
        "wrong_shape",
    }:
        raise FaultSpecError("malformed mode must be not_json, truncated, missing_retcode or wrong_shape")
    if kind == "mutate_after_read" and params.get("mode", "edit") not in {"edit", "delete"}:
        raise FaultSpecError("mutate_after_read mode must be edit or delete")
    if kind == "timeout_after_apply" and params.get("mode", "sleep") not in {"sleep", "drop"}:
        raise FaultSpecError("timeout_after_apply mode must be sleep or drop")
    return Fault(
        type=kind,
        path=str(raw.get("path", "*")),
        count=count,
        skip=int(raw.get("skip", 0)),
        probability=probability,
        params=params,
    )


class FaultPlan:
    """The active rules. ``take`` decides (and counts) whether a rule fires for a request."""

    def __init__(self, seed: int) -> None:
        self._rules: list[Fault] = []
        self._rng = random.Random(seed ^ 0x5EED_FA17)
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

    def take(self, kind: str, path: str) -> Fault | None:
        """The first live rule of ``kind`` matching ``path`` that fires now, counted as fired."""
        with self._lock:
            for rule in self._rules:
                if rule.type != kind or not rule.matches(path):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
            return None

    def budget(self, kind: str, path: str) -> tuple[Fault, int] | None:
        """A rule whose ``count`` counts items (deals) rather than requests, and how many are left."""
        with self._lock:
            for rule in self._rules:
                if rule.type == kind and rule.matches(path):
                    left = None if rule.count is None else rule.count - rule.fired
                    if left is None:
                        return rule, 1_000_000_000
                    if left > 0:
                        return rule, left
            return None

    def spend(self, rule: Fault, n: int) -> None:
        with self._lock:
            rule.fired += n

    def sticky(self, kind: str) -> Fault | None:
        with self._lock:
            for rule in reversed(self._rules):
                if rule.type == kind:
                    return rule
            return None

    def chance(self) -> float:
        with self._lock:
            return self._rng.random()
