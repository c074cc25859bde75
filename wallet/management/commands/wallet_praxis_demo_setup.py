"""`manage.py wallet_praxis_demo_setup --port N`: the demo brands take cards through Praxis Cashier,
that is through the Praxis simulator (`python -m wallet.praxis_simulator --port N --state-dir
<var>/praxissim`), whose credentials are read from its state directory; once, the demo's card
disputes on card deposits paid through it (wallet.praxis_demo.praxis_demo_disputes). Safe to run
again."""

from __future__ import annotations

from typing import Any

from wallet.praxis_demo import praxis_demo_configure, praxis_demo_disputes
from wallet.simulator_setup import SimulatorSetupCommand


class Command(SimulatorSetupCommand):
    help = "Point the demo's Praxis Cashier provider at the Praxis simulator and route the brands' cards to it."
    simulator, default_port, state_name = "Praxis", 8480, "praxissim"

    def handle(self, *args: Any, **options: Any) -> None:
        base_url, config = self.simulator_ready(options)
        provider = praxis_demo_configure(base_url=base_url, merchant_id=config["merchant_id"],
                                         application_key=config["application_key"],
                                         merchant_secret=config["merchant_secret"])
        self.stdout.write(f"payments demo: Praxis Cashier simulator on {base_url}, cards of the demo brands")
        opened = praxis_demo_disputes(provider=provider, sim_url=base_url, control_token=config["control_token"])
        if opened:
            self.stdout.write(f"payments demo: {opened} card dispute(s) on deposits through Praxis")
