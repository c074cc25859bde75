"""`manage.py monitoring_seed_demo_trading`: the trading-abuse demo (demo/abuse_trading.py): a
multi-accounting pair and a partner's client ring, raised as alerts. Safe to rerun; prints the desk
manager who reviews monitoring's alerts in the demo as `LOGIN desk_manager <email> <password>`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import Brand, User
from demo.abuse_trading import monitoring_seed_demo_trading
from demo.organisation import STAFF

# The demo organisation's desk manager of the Atlas English desk, who reviews monitoring's alerts.
MANAGER = next(s for s in STAFF if s.email.startswith("oliver.grant@"))


class Command(BaseCommand):
    help = "Load a multi-accounting pair and a partner's client ring and raise their alerts (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(code="atlas").first() or Brand.objects.order_by("id").first()
        if brand is None:
            self.stdout.write("trading-abuse demo: no brand (run seed_demo first)")
            return
        result = monitoring_seed_demo_trading(brand=brand)
        verb = "loaded" if result.created else "already loaded"
        self.stdout.write(f"trading-abuse demo: {verb}; alerts standing: "
                          + ", ".join(f"{name} {count}" for name, count in result.findings.items()))
        if User.objects.filter(email=MANAGER.email, is_active=True).exists():
            self.stdout.write(f"LOGIN desk_manager {MANAGER.email} {MANAGER.password}")
