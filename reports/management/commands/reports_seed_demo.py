"""Fill the dashboards' read models from the demo data (idempotent: a rebuild replaces what it
computes), so that `make run` shows the management dashboard with numbers at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from reports.services import rebuild_all


class Command(BaseCommand):
    help = "Rebuild the reporting hub's daily figures from every event and deal (the demo's, or any database's)."

    def handle(self, *args: Any, **options: Any) -> None:
        days = rebuild_all()
        self.stdout.write(f"reports: daily figures rebuilt for {days} days")
