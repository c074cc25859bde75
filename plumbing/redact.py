"""Scrubbing known personal values out of stored structured data (no Django).

Erasure (compliance.erasure) must remove a person's name and contacts from rows that keep free JSON,
such as the timeline's event data: it knows the values to remove, not where they sit. `scrub` walks
the structure and replaces every occurrence of each value in each string, case-insensitively, longest
value first (so that "Ada Lovelace" goes whole before "Ada" would leave " Lovelace" half-replaced).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MIN_LENGTH = 2  # a one-letter name would scrub every word it occurs in


def scrub_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of `values` (ignoring case), longest first; None when nothing to remove."""
    needles = sorted({v.strip() for v in values if v and len(v.strip()) >= MIN_LENGTH}, key=len, reverse=True)
    if not needles:
        return None
    return re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)


def scrub(value: Any, pattern: re.Pattern[str] | None, replacement: str) -> Any:
    """`value` (JSON-like: dicts, lists, strings, numbers) with each match of `pattern` in its strings
    (keys too) replaced by `replacement`; the same object when nothing matched."""
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(replacement, value)
    if isinstance(value, dict):
        return {scrub(k, pattern, replacement): scrub(v, pattern, replacement) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item, pattern, replacement) for item in value]
    return value
