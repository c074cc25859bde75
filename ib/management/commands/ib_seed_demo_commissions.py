"""`manage.py ib_seed_demo_commissions`: the demo partners' plan, a month of their clients' deals and
the commission runs (ib/demo_commissions.py). Run after `trading_demo_setup` (`make run` does):
the deals are those of the trading accounts it opened. Safe to rerun."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ib.demo import seed_commissions_only


class Command(BaseCommand):
    help = ("Add the demo partners' commissions: instruments, a three-level rebate plan, a month of historical "
            "deals of their clients' trading accounts, last month's run settled and this month's run.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed_commissions_only()
        counts = ", ".join(f"{n} {name}" for name, n in result.counts.items() if n) or "nothing new"
        note = f" ({result.note})" if result.note else ""
        self.stdout.write(f"Partner demo commissions: {counts}{note}.")
