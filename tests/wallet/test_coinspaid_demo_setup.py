"""`manage.py wallet_coinspaid_demo_setup`: the demo's CoinsPaid provider points at a running
CoinsPaid simulator (credentials from its state directory, its callbacks sent to the CRM) and every
active brand takes and pays out crypto in USD and EUR; running it again changes nothing."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.lib.money import Money
from tests.factories import make_brand
from tests.simulators import simulator_start, simulator_stop
from tests.wallet.support import deposit_request
from wallet.models import PaymentProvider
from wallet.provider_selectors import methods_for, provider_webhook_url


def test_demo_setup_configures_coinspaid_from_the_simulators_state_and_offers_crypto(db, tmp_path, settings):
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    brand = make_brand()
    state = tmp_path / "coinspaidsim"
    proc, listening = simulator_start("wallet.coinspaid_simulator", "--state-dir", str(state),
                                      what="CoinsPaid simulator")
    try:
        started = time.monotonic()
        for _ in range(2):
            call_command("wallet_coinspaid_demo_setup", "--port", str(listening["port"]), "--state-dir", str(state))
        assert time.monotonic() - started < 30  # a configuration only: fast enough for make run's first start

        provider = PaymentProvider.objects.get(code="coinspaid")
        assert provider.kind == "coinspaid" and provider.base_url.endswith("/api/v2")
        start = provider.adapter().create_deposit(deposit_request(currency="EUR", method="crypto"))
        assert start.crypto is not None and start.crypto.currency == "BTC" and start.crypto.convert_to == "EUR"
        options = [o for o in methods_for(brand=brand, country="DE", currency="USD", direction="deposit")
                   if o.provider_code == "coinspaid"]
        assert [o.method for o in options] == ["crypto"] and options[0].minimum == Money("20", "USD")
        assert [o.method for o in methods_for(brand=brand, country="DE", currency="EUR", direction="withdrawal")
                if o.provider_code == "coinspaid"] == ["crypto"]
        token = json.loads((state / "config.json").read_text())["control_token"]
        asked = urllib.request.Request(f"http://127.0.0.1:{listening['port']}/_sim/settings",  # noqa: S310 - loopback
                                       headers={"X-Sim-Token": token})
        with urllib.request.urlopen(asked, timeout=5) as answer:  # noqa: S310 - loopback
            assert json.loads(answer.read())["callback_url"] == provider_webhook_url(provider)
    finally:
        simulator_stop(proc)


def test_demo_setup_says_so_when_the_simulator_is_not_running(db, tmp_path):
    with pytest.raises(CommandError, match="does not answer"):
        call_command("wallet_coinspaid_demo_setup", "--port", "1", "--state-dir", str(tmp_path))
