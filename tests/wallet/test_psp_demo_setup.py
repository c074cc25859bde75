"""`manage.py wallet_demo_setup`: the demo providers point at a running PSP simulator."""

from __future__ import annotations

from django.core.management import call_command

from crm.lib.money import Money
from tests.factories import make_brand
from tests.wallet.conftest import start_psp, stop_psp
from tests.wallet.support import deposit_request
from wallet.models import PaymentProvider
from wallet.provider_selectors import method_fee, methods_for


def test_demo_setup_configures_the_simulator_and_the_brands_methods_and_can_run_again(db, tmp_path):
    brand = make_brand()
    sim = start_psp(tmp_path / "pspsim")
    try:
        call_command("wallet_demo_setup", "--port", str(sim.port), "--state-dir", str(tmp_path / "pspsim"))
        call_command("wallet_demo_setup", "--port", str(sim.port), "--state-dir", str(tmp_path / "pspsim"))

        provider = PaymentProvider.objects.get(code="psp-sim")
        start = provider.adapter().create_deposit(deposit_request())
        assert start.redirect_url.startswith(sim.base_url)
        options = methods_for(brand=brand, country="DE", currency="USD", direction="deposit")
        assert [o.method for o in options] == ["card", "crypto", "ewallet", "bank_wire"]
        assert options[0].minimum == Money("10", "USD")
        # The simulator's own fees (2.9 % + 0.30 by card; 1.00 a payout): its files reconcile line by line.
        assert method_fee(options[0], Money("500", "USD")) == Money("14.80", "USD")
        payout = methods_for(brand=brand, country="DE", currency="USD", direction="withdrawal")[0]
        assert (payout.method, method_fee(payout, Money("100", "USD"))) == ("card", Money("1.00", "USD"))
    finally:
        stop_psp(sim)
