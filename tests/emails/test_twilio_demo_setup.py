"""`manage.py emails_twilio_demo_setup`: the brands' SMS go to the Twilio simulator `make run`
started, with the credentials it wrote in its state directory, and its inbound messages to the CRM."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from emails.sms import sms_webhook_urls
from emails.sms_models import SmsProvider
from tests.emails.sms_support import TwilioSim
from tests.factories import make_brand
from tests.simulators import simulator_start, simulator_stop

pytestmark = pytest.mark.django_db


def test_every_active_brand_sends_through_the_simulator_and_a_second_run_changes_nothing(tmp_path):
    first, second = make_brand(code="alpha", name="Alpha"), make_brand(code="beta", name="Beta")
    proc, listening = simulator_start("emails.twilio_simulator", "--state-dir", str(tmp_path), what="Twilio simulator")
    try:
        sim = TwilioSim(proc=proc, port=int(listening["port"]))
        config = json.loads((tmp_path / "config.json").read_text())
        sim.control_token = config["control_token"]  # type: ignore[misc]  # this process's own token

        for _ in range(2):
            call_command("emails_twilio_demo_setup", "--port", str(sim.port), "--state-dir", str(tmp_path))

        providers = SmsProvider.objects.filter(brand__in=[first, second], is_active=True).order_by("code")
        assert [p.code for p in providers] == ["twilio-alpha", "twilio-beta"]
        assert {(p.account_sid, p.auth_token(), p.base_url) for p in providers} == {
            (config["account_sid"], config["auth_token"], sim.base_url)}
        assert sim.control("/_sim/config")["inbound_url"] in {sms_webhook_urls(p)["inbound"] for p in SmsProvider.objects.all()}
    finally:
        simulator_stop(proc)
