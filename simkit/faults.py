"""Fault injection: the rules a simulator's control API installs and its handlers consult.

A rule is a JSON object with a ``type`` (each simulator lists the types it knows), an optional
``path`` (``"*"``, or the path the rule applies to: a prefix of the request's path, or the exact
path where the plan says so), ``count`` (how many times it fires; omitted = until cleared),
``skip`` (let this many matching requests pass first) and ``probability`` (0..1, drawn from a
generator seeded by the simulator so that a fault plan replays identically). The other fields are
the type's own (``status``, ``seconds``, ``copies`` ...) and are kept in ``params``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

COMMON = frozenset({"type", "path", "count", "skip", "probability"})


class FaultSpecError(ValueError):
    """A fault rule the control API cannot install; the message says why."""


@dataclass
class Fault:
    type: str
    path: str = "*"
    count: int | None = None
    skip: int = 0
    probability: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "path": self.path, "count": self.count, "skip": self.skip,
                "probability": self.probability, "fired": self.fired, **self.params}


def parse_fault(raw: Any, types: Collection[str], check: Callable[[str, dict[str, Any]], None] | None = None) -> Fault:
    """One rule from its JSON; ``check(type, params)`` raises FaultSpecError for a type's own
    fields that make no sense."""
    if not isinstance(raw, dict):
        raise FaultSpecError("a fault is a JSON object")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in types:
        raise FaultSpecError(f"unknown fault type {kind!r}; known: {sorted(types)}")
    count = raw.get("count")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise FaultSpecError("count must be a non-negative integer")
    try:
        probability = float(raw.get("probability", 1.0))
        skip = int(raw.get("skip", 0))
    except (TypeError, ValueError):
        raise FaultSpecError("probability and skip must be numbers") from None
    if not 0.0 <= probability <= 1.0:
        raise FaultSpecError("probability must be within 0..1")
    params = {k: v for k, v in raw.items() if k not in COMMON}
    if kind == "http_error" and not _is_error_status(params.get("status", 500)):
        raise FaultSpecError("http_error status must be 4xx or 5xx")
    if check is not None:
        check(kind, params)
    return Fault(type=kind, path=str(raw.get("path", "*")), count=count, skip=skip, probability=probability,
                 params=params)


def _is_error_status(value: Any) -> bool:
    try:
        return int(value) >= 400
    except (TypeError, ValueError):
        return False


class FaultPlan:
    """The active rules. ``take`` decides (and counts) whether a rule fires for a request.

    ``exact_paths``: a rule's path must equal the request's (the MT5 Web API's few fixed paths);
    otherwise it is a prefix (``/v1/payouts`` covers ``/v1/payouts/po_1``)."""

    def __init__(self, *, seed: int | None = None, exact_paths: bool = False) -> None:
        self._rules: list[Fault] = []
        self._rng = random.Random(seed)  # noqa: S311 - fault dice, not secrets
        self._lock = threading.Lock()
        self.exact_paths = exact_paths

    def matches(self, rule: Fault, path: str) -> bool:
        if rule.path == "*":
            return True
        return rule.path == path if self.exact_paths else path.startswith(rule.path)

    def add(self, faults: list[Fault]) -> None:
        with self._lock:
            self._rules.extend(faults)

    def install(self, body: Any, parse: Callable[[Any], Fault]) -> list[Fault]:
        """Add the rules of a control request: ``{"faults": [...]}``, one rule, or a list of rules.
        Nothing is added when one of them is refused (FaultSpecError)."""
        items = body.get("faults", [body]) if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise FaultSpecError("faults is a list of fault objects")
        parsed = [parse(item) for item in items]
        self.add(parsed)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._rules]

    def take(self, kind: str, path: str = "*") -> Fault | None:
        """The first live rule of ``kind`` matching ``path`` that fires now, counted as fired."""
        with self._lock:
            for rule in self._rules:
                if rule.type != kind or not self.matches(rule, path):
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
                if rule.type == kind and self.matches(rule, path):
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
        """The newest rule of ``kind``, fired or not (a setting that lasts until cleared)."""
        with self._lock:
            for rule in reversed(self._rules):
                if rule.type == kind:
                    return rule
            return None

    def chance(self) -> float:
        with self._lock:
            return self._rng.random()

