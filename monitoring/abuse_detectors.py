"""Every trading- and partner-abuse detector by name (monitoring.traders, monitoring.partners), and the
scan that runs them and raises what they find (the hourly and nightly tasks, monitoring.abuse_tasks).
Apart from monitoring.abuse, which the detectors build on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitoring.abuse import findings_raise
from monitoring.partners import PARTNER_DETECTORS
from monitoring.traders import CLIENT_DETECTORS

HOURLY = ("multi_accounting", "hedging", "latency_arbitrage", "client_ring", "commission_farming")


def detectors() -> dict[str, Any]:
    """Every trading- and partner-abuse detector by name: detector(day=..., brand_id=...) -> [Finding]."""
    return {**CLIENT_DETECTORS, **PARTNER_DETECTORS}


def abuse_scan(*, day: dt.date, names: tuple[str, ...] | None = None, brand_id: int | None = None) -> dict[str, int]:
    """Run the detectors `names` (all by default) for `day` and raise their findings as alerts:
    {detector: findings raised}. Each detector is one query; an alert already raised for a subject,
    detector and day is not raised twice (monitoring.services.raise_alert)."""
    table = detectors()
    unknown = sorted(set(names or ()) - set(table))
    if unknown:
        raise ValueError(f"unknown detectors: {', '.join(unknown)}")
    out = {}
    for name in names or tuple(table):
        out[name] = findings_raise(table[name](day=day, brand_id=brand_id))
    return out
