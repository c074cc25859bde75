"""`manage.py ib_seed_demo`: the partner programme's demo data (ib/demo.py). Safe to rerun; prints
the partner portal's demo login as `LOGIN ib_partner <email> <password>`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ib.demo import seed


class Command(BaseCommand):
    help = ("Add the partner programme's demo data (a three-level IB tree, links, clicks, attributed clients, "
            "their commission plan; the deals and runs: ib_seed_demo_commissions, once they have accounts).")

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed()
        if result.note:
            self.stdout.write(f"Partner demo data: skipped ({result.note}).")
            return
        counts = ", ".join(f"{n} {name}" for name, n in result.counts.items() if n) or "nothing new"
        self.stdout.write(f"Partner demo data: {counts}.")
        for role, email, password in result.logins:
            self.stdout.write(f"LOGIN {role} {email} {password}")
