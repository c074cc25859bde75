"""Scrubbing known personal values out of stored structured data (no Django).

Erasure (compliance.erasure) must remove a person's name and contacts from rows that keep free JSON,
such as the timeline's event data: it knows the values to remove, not where they sit. `scrub` walks
the structure and replaces every occurrence of each value in each string, case-insensitively, longest
value first (so that "Ada Lovelace" goes whole before "Ada" would leave " Lovelace" half-replaced); keys
that hold free text (an excerpt) are replaced whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MIN_LENGTH = 2  # a one-letter name would scrub every word it occurs in


def scrub_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of `values` (ignoring case), longest first; None when nothing to remove."""
    needles = sorted({v.strip() for v in values if v and len(v.strip()) >= MIN_LENGTH}, key=len, reverse=True)
    if not needles:
        return None
    return re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)


def scrub(value: Any, pattern: re.Pattern[str] | None, replacement: str, *,
          cleared: Mapping[str, Any] | None = None) -> Any:
    """`value` (JSON-like: dicts, lists, strings, numbers) with each match of `pattern` in its strings
    (keys too) replaced by `replacement`, and the value of each key of `cleared` found in its dicts replaced
    whole by the value given there (an excerpt of free text, whose every word may be personal)."""
    if isinstance(value, str):
        return pattern.sub(replacement, value) if pattern is not None else value
    if isinstance(value, dict):
        return {scrub(k, pattern, replacement): cleared[k] if cleared and k in cleared
                else scrub(v, pattern, replacement, cleared=cleared) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item, pattern, replacement, cleared=cleared) for item in value]
    return value
