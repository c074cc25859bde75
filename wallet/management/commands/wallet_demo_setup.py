"""`manage.py wallet_demo_setup --port N`: the demo's payment providers: the PSP simulator (which
`make run` starts beside the MT5 simulator) and a bank wire, with deposit and withdrawal methods,
limits and fees for the demo brands. Reads the simulator's credentials from its state directory
(`<state-dir>/config.json`); safe to run again (it updates what is there)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm.models import Brand
from wallet.demo import demo_wire_methods, demo_wire_provider, demo_withdrawal_policy
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.psp_simulator.config import DEFAULT_FEES
from wallet.simulator_setup import SimulatorSetupCommand

SIM_CODE = "psp-sim"

CARD = [CurrencyRule("USD", Decimal("10"), Decimal("10000"), Decimal("0"), Decimal("0")),
        CurrencyRule("EUR", Decimal("10"), Decimal("10000"), Decimal("0"), Decimal("0"))]


class Command(SimulatorSetupCommand):
    help = "Point the demo payment providers at the PSP simulator and give the demo brands their methods."
    simulator, default_port, state_name = "PSP", 8460, "pspsim"

    def handle(self, *args: Any, **options: Any) -> None:
        base_url, config = self.simulator_ready(options)
        sim = payment_provider_save(code=SIM_CODE, name="PSP simulator", kind="simulator", base_url=base_url,
                                    api_key=config["api_key"], api_secret=config["api_secret"],
                                    webhook_secret=config["webhook_secret"])
        wire = demo_wire_provider()
        # The methods' fees are the simulator's own, so the ledger books what the provider keeps and its
        # settlement files reconcile without a fee break on every line.
        fees = {**DEFAULT_FEES, **dict(config.get("fees") or {})}

        def fee_of(kind: str) -> tuple[Decimal, Decimal]:
            rule = fees.get(kind) or {}
            return Decimal(str(rule.get("fixed", "0"))), Decimal(str(rule.get("percent", "0")))

        brands = Brand.objects.filter(is_active=True)
        for brand in brands:
            for method in ("card", "ewallet", "crypto"):
                fixed, percent = fee_of(method)
                payment_method_save(brand=brand, method=method, direction="deposit", provider=sim, currencies=[
                    CurrencyRule(c, Decimal("10"), Decimal("20000"), fixed, percent) for c in ("USD", "EUR")])
            payout_fixed, payout_percent = fee_of("payout")
            payment_method_save(brand=brand, method="card", direction="withdrawal", provider=sim, currencies=[
                CurrencyRule(c, Decimal("20"), Decimal("10000"), payout_fixed, payout_percent) for c in ("USD", "EUR")])
            demo_wire_methods(brand=brand, wire=wire)
            demo_withdrawal_policy(brand=brand)  # a brand made since the wallet's seed gets it too
        self.stdout.write(f"payments demo: PSP simulator on {base_url}, methods for {brands.count()} brand(s)")
