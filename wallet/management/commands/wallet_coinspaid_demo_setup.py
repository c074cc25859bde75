"""`manage.py wallet_coinspaid_demo_setup --port N`: the demo brands take crypto through CoinsPaid,
that is through the CoinsPaid simulator (`python -m wallet.coinspaid_simulator --port N --state-dir
<var>/coinspaidsim`), whose credentials are read from its state directory. Safe to run again."""

from __future__ import annotations

import urllib.error
from typing import Any

from django.core.management.base import CommandError

from wallet.coinspaid_demo import coinspaid_demo_configure, coinspaid_simulator_point
from wallet.simulator_setup import SimulatorSetupCommand


class Command(SimulatorSetupCommand):
    help = "Point the demo's CoinsPaid provider at the CoinsPaid simulator and give the brands crypto deposits."
    simulator, default_port, state_name = "CoinsPaid", 8500, "coinspaidsim"

    def handle(self, *args: Any, **options: Any) -> None:
        sim_url, config = self.simulator_ready(options)
        provider = coinspaid_demo_configure(base_url=sim_url + "/api/v2", api_key=config["api_key"],
                                            api_secret=config["api_secret"])
        try:
            callback = coinspaid_simulator_point(sim_url=sim_url, control_token=config["control_token"],
                                                 provider=provider)
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"Cannot set the CoinsPaid simulator's callback URL: {exc}") from None
        self.stdout.write(f"payments demo: CoinsPaid simulator on {sim_url} (test wallet {sim_url}/wallet), "
                          f"callbacks to {callback}, crypto for the demo brands")
