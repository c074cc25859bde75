"""`manage.py wallet_paysafe_demo_setup --port N`: the demo brands take and pay Skrill and Neteller through
Paysafe, that is through the Paysafe simulator (`python -m wallet.paysafe_simulator --port N
--state-dir <var>/paysafesim`), whose credentials are read from its state directory and whose
webhooks are pointed at the CRM. Safe to run again."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from wallet.paysafe_demo import paysafe_demo_configure, paysafe_simulator_credentials, paysafe_simulator_point


class Command(BaseCommand):
    help = "Point the demo's Paysafe provider at the Paysafe simulator and route the brands' e-wallets to it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8490)
        parser.add_argument("--state-dir", default="", help="the simulator's state directory (default var/paysafesim)")
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the simulator to answer")

    def handle(self, *args: Any, **options: Any) -> None:
        sim_url = f"http://127.0.0.1:{int(options['port'])}"
        state_dir = Path(options["state_dir"] or Path(settings.VAR_DIR) / "paysafesim")
        deadline = time.monotonic() + float(options["wait"])
        while True:
            try:
                urllib.request.urlopen(sim_url + "/healthz", timeout=2).close()  # noqa: S310 - our loopback
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() >= deadline:
                    raise CommandError(f"The Paysafe simulator does not answer at {sim_url}.") from None
                time.sleep(0.5)
        try:
            config = paysafe_simulator_credentials(state_dir)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the Paysafe simulator's config in {state_dir}: {exc}") from None
        provider = paysafe_demo_configure(base_url=sim_url + "/paymenthub/v1", api_user=config["api_user"],
                                          api_password=config["api_password"], hmac_key=config["hmac_key"])
        try:
            webhook_url = paysafe_simulator_point(sim_url=sim_url, control_token=config["control_token"],
                                                  provider=provider)
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"The Paysafe simulator refused its webhook address: {exc}") from None
        self.stdout.write(f"payments demo: Paysafe simulator on {sim_url} (webhooks to {webhook_url}), "
                          f"Skrill and Neteller of the demo brands")
