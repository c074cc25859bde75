"""`manage.py wallet_coinspaid_demo_setup --port N`: the demo brands take crypto through CoinsPaid,
that is through the CoinsPaid simulator (`python -m wallet.coinspaid_simulator --port N --state-dir
<var>/coinspaidsim`), whose credentials are read from its state directory. Safe to run again."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from wallet.coinspaid_demo import (
    coinspaid_demo_configure,
    coinspaid_simulator_credentials,
    coinspaid_simulator_point,
)


class Command(BaseCommand):
    help = "Point the demo's CoinsPaid provider at the CoinsPaid simulator and give the brands crypto deposits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8500)
        parser.add_argument("--state-dir", default="", help="the simulator's state directory (default var/coinspaidsim)")
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the simulator to answer")

    def handle(self, *args: Any, **options: Any) -> None:
        sim_url = f"http://127.0.0.1:{int(options['port'])}"
        state_dir = Path(options["state_dir"] or Path(settings.VAR_DIR) / "coinspaidsim")
        deadline = time.monotonic() + float(options["wait"])
        while True:
            try:
                urllib.request.urlopen(sim_url + "/healthz", timeout=2).close()  # noqa: S310 - our loopback
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() >= deadline:
                    raise CommandError(f"The CoinsPaid simulator does not answer at {sim_url}.") from None
                time.sleep(0.5)
        try:
            config = coinspaid_simulator_credentials(state_dir)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the CoinsPaid simulator's config in {state_dir}: {exc}") from None
        provider = coinspaid_demo_configure(base_url=sim_url + "/api/v2", api_key=config["api_key"],
                                            api_secret=config["api_secret"])
        try:
            callback = coinspaid_simulator_point(sim_url=sim_url, control_token=config["control_token"],
                                                 provider=provider)
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"Cannot set the CoinsPaid simulator's callback URL: {exc}") from None
        self.stdout.write(f"payments demo: CoinsPaid simulator on {sim_url} (test wallet {sim_url}/wallet), "
                          f"callbacks to {callback}, crypto for the demo brands")
