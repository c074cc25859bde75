"""`manage.py prop_seed_demo`: demo prop-trading challenges (demo/prop.py) on the demo brand's MT5
server: one in evaluation, one breached, one funded. Needs the MT5 simulator (run after
trading_demo_setup; `make run` does); without a server it says so and does nothing. Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import Brand
from plumbing import context
from trading.exceptions import PlatformFailed
from trading.selectors import server_list_for_system


class Command(BaseCommand):
    help = "Demo prop-trading challenges on the demo brand's trading server (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        from demo.prop import prop_seed_demo

        brand = Brand.objects.filter(code="atlas").first() or Brand.objects.order_by("id").first()
        server = server_list_for_system(brand_id=brand.pk)[0] if brand is not None and server_list_for_system(
            brand_id=brand.pk) else None
        if brand is None or server is None:
            self.stdout.write("prop demo: no trading server yet (run after trading_demo_setup)")
            return
        try:
            with context.acting_as(None, source="seed"):
                made = prop_seed_demo(brand=brand, server=server)
        except PlatformFailed as error:
            self.stdout.write(f"prop demo: the trading platform did not answer ({error.message}); run it again later")
            return
        self.stdout.write(f"prop demo: {made['active']} active, {made['breached']} breached, "
                          f"{made['funded']} funded challenge(s) added")
