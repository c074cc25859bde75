"""`manage.py wallet_paysafe_demo_setup`: the demo's Paysafe provider points at a running Paysafe
simulator (credentials from its state directory, its webhooks sent to the CRM) and every active
brand offers Skrill and Neteller; running it again changes nothing."""

from __future__ import annotations

import json
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


def test_demo_setup_configures_paysafe_from_the_simulators_state_and_offers_both_wallets(db, tmp_path, settings):
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    brand = make_brand()
    state = tmp_path / "paysafesim"
    proc, listening = simulator_start("wallet.paysafe_simulator", "--state-dir", str(state), what="Paysafe simulator")
    try:
        for _ in range(2):
            call_command("wallet_paysafe_demo_setup", "--port", str(listening["port"]), "--state-dir", str(state))

        provider = PaymentProvider.objects.get(code="paysafe")
        assert provider.kind == "paysafe" and provider.base_url.endswith("/paymenthub/v1")
        start = provider.adapter().create_deposit(deposit_request(currency="EUR", method="neteller"))
        assert start.redirect_url.startswith(f"http://127.0.0.1:{listening['port']}/wallet/")
        options = [o for o in methods_for(brand=brand, country="DE", currency="USD", direction="deposit")
                   if o.provider_code == "paysafe"]
        assert [(o.method, o.label) for o in options] == [("skrill", "Skrill"), ("neteller", "Neteller")]
        assert options[0].minimum == Money("10", "USD")
        assert {o.method for o in methods_for(brand=brand, country="DE", currency="EUR", direction="withdrawal")
                if o.provider_code == "paysafe"} == {"skrill", "neteller"}
        token = json.loads((state / "config.json").read_text())["control_token"]
        asked = urllib.request.Request(f"http://127.0.0.1:{listening['port']}/_sim/config",  # noqa: S310 - loopback
                                       headers={"X-Sim-Token": token})
        with urllib.request.urlopen(asked, timeout=5) as answer:  # noqa: S310 - loopback
            assert json.loads(answer.read())["webhook_url"] == provider_webhook_url(provider)
    finally:
        simulator_stop(proc)


def test_demo_setup_says_so_when_the_simulator_is_not_running(db, tmp_path):
    with pytest.raises(CommandError, match="does not answer"):
        call_command("wallet_paysafe_demo_setup", "--port", "1", "--state-dir", str(tmp_path))
