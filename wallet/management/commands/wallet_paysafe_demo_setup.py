"""`manage.py wallet_paysafe_demo_setup --port N`: the demo brands take and pay Skrill and Neteller through
Paysafe, that is through the Paysafe simulator (`python -m wallet.paysafe_simulator --port N
--state-dir <var>/paysafesim`), whose credentials are read from its state directory and whose
webhooks are pointed at the CRM. Safe to run again."""

from __future__ import annotations

import urllib.error
from typing import Any

from django.core.management.base import CommandError

from wallet.paysafe_demo import paysafe_demo_configure, paysafe_simulator_point
from wallet.simulator_setup import SimulatorSetupCommand


class Command(SimulatorSetupCommand):
    help = "Point the demo's Paysafe provider at the Paysafe simulator and route the brands' e-wallets to it."
    simulator, default_port, state_name = "Paysafe", 8490, "paysafesim"

    def handle(self, *args: Any, **options: Any) -> None:
        sim_url, config = self.simulator_ready(options)
        provider = paysafe_demo_configure(base_url=sim_url + "/paymenthub/v1", api_user=config["api_user"],
                                          api_password=config["api_password"], hmac_key=config["hmac_key"])
        try:
            webhook_url = paysafe_simulator_point(sim_url=sim_url, control_token=config["control_token"],
                                                  provider=provider)
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"The Paysafe simulator refused its webhook address: {exc}") from None
        self.stdout.write(f"payments demo: Paysafe simulator on {sim_url} (webhooks to {webhook_url}), "
                          f"Skrill and Neteller of the demo brands")
