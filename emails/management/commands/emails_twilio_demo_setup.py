"""`manage.py emails_twilio_demo_setup --port N`: every active brand sends SMS through the Twilio
simulator (`python -m emails.twilio_simulator --port N --state-dir <var>/twiliosim`), whose
credentials are read from its state directory; the simulator's inbound messages (a client texting
STOP) go to the first brand's provider. Safe to run again."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.models import Brand
from emails.sms import sms_provider_save, sms_webhook_urls
from emails.sms_models import SmsProvider
from simkit.run import CONFIG_NAME, wait_for_health


class Command(BaseCommand):
    help = "Point every active brand's SMS provider at the Twilio simulator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8510)
        parser.add_argument("--state-dir", default="", help="the simulator's state directory (default var/twiliosim)")
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the simulator to answer")

    def handle(self, *args: Any, **options: Any) -> None:
        sim_url = f"http://127.0.0.1:{int(options['port'])}"
        state_dir = Path(options["state_dir"] or Path(settings.VAR_DIR) / "twiliosim")
        if not wait_for_health(sim_url, timeout=float(options["wait"])):
            raise CommandError(f"The Twilio simulator does not answer at {sim_url}.")
        try:
            config = json.loads((state_dir / CONFIG_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the Twilio simulator's config in {state_dir}: {exc}") from None
        providers = []
        for brand in Brand.objects.filter(is_active=True).order_by("pk"):
            existing = SmsProvider.objects.filter(code=f"twilio-{brand.code}"[:40]).first()
            providers.append(sms_provider_save(
                actor=None, provider=existing, brand=brand, code=f"twilio-{brand.code}"[:40],
                name="Twilio (simulator)", base_url=sim_url, account_sid=str(config["account_sid"]),
                auth_token=str(config["auth_token"]), from_number=str(config["from_number"]), rate_per_second="10"))
        if not providers:
            self.stdout.write("SMS demo: no active brand to configure")
            return
        inbound = sms_webhook_urls(providers[0])["inbound"]
        request = urllib.request.Request(  # noqa: S310 - our loopback simulator
            sim_url + "/_sim/config", data=json.dumps({"inbound_url": inbound}).encode(), method="POST",
            headers={"X-Sim-Token": str(config["control_token"]), "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - our loopback simulator
                answer.read()
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"The Twilio simulator refused its inbound address: {exc}") from None
        self.stdout.write(f"SMS demo: Twilio simulator on {sim_url} for {len(providers)} brand(s) "
                          f"(inbound messages to {inbound})")
