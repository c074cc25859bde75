"""What the IB demo's seeding reports, shared by ib.demo and ib.demo_commissions (which fills in its
part), so that neither imports the other for it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    note: str = ""
