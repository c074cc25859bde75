"""`manage.py wallet_praxis_demo_setup --port N`: the demo brands take cards through Praxis Cashier,
that is through the Praxis simulator (`python -m wallet.praxis_simulator --port N --state-dir
<var>/praxissim`), whose credentials are read from its state directory. Safe to run again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simkit.run import wait_for_health
from wallet.praxis_demo import praxis_demo_configure, praxis_simulator_credentials


class Command(BaseCommand):
    help = "Point the demo's Praxis Cashier provider at the Praxis simulator and route the brands' cards to it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8480)
        parser.add_argument("--state-dir", default="", help="the simulator's state directory (default var/praxissim)")
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the simulator to answer")

    def handle(self, *args: Any, **options: Any) -> None:
        base_url = f"http://127.0.0.1:{int(options['port'])}"
        state_dir = Path(options["state_dir"] or Path(settings.VAR_DIR) / "praxissim")
        if not wait_for_health(base_url, timeout=float(options["wait"])):
            raise CommandError(f"The Praxis simulator does not answer at {base_url}.")
        try:
            config = praxis_simulator_credentials(state_dir)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the Praxis simulator's config in {state_dir}: {exc}") from None
        praxis_demo_configure(base_url=base_url, merchant_id=config["merchant_id"],
                              application_key=config["application_key"], merchant_secret=config["merchant_secret"])
        self.stdout.write(f"payments demo: Praxis Cashier simulator on {base_url}, cards of the demo brands")
