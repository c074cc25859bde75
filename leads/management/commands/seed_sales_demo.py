"""The sales desk's demo data on top of `seed_demo`: pipeline statuses, campaigns with costs,
routing rules, new leads, and a week of calls and pipeline moves. Idempotent and deterministic."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from leads.demo import seed_sales


class Command(BaseCommand):
    help = "Add the sales desk's demo data (statuses, campaigns and costs, routing, calls, moves). Safe to rerun."

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed_sales()
        counts = ", ".join(f"{n} {name}" for name, n in result.counts.items() if n) or "nothing new"
        self.stdout.write(f"Sales demo data: {counts}.")
