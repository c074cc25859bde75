"""`manage.py trading_summaries_rebuild`: recompute trading's read models (trading.summaries) from the
raw rows: after a restore, a bulk load that bypassed the services, or to check the incremental path
(a rebuild of a correct read model changes nothing)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from trading import summaries


class Command(BaseCommand):
    help = "Recompute the retention workspace's per-trader figures and the exposure page's rows from the raw rows."

    def handle(self, *args: Any, **options: Any) -> None:
        rows = summaries.rebuild()
        self.stdout.write(f"trading summaries rebuilt: retention of {rows} traders, exposure of every brand")
