"""The payer and the instrument of a deposit: the PSP simulator names the card's holder, issuing country
and fingerprint in its signed webhook; the adapter hashes the instrument under our key; finance enters a
wire's sender by hand. The number itself is never kept."""

from __future__ import annotations

import pytest

from crm.exceptions import ValidationFailed
from crm.lib.money import Money
from crm.models import AuditLog
from tests.compliance.aml_support import wire_world
from tests.wallet.conftest import WEBHOOK_SECRET
from tests.wallet.support import checkout, deposit_request, signed_webhook
from wallet.demo import demo_wire_deposit
from wallet.instruments import instrument_fingerprint
from wallet.services import deposit_payer_record

pytestmark = pytest.mark.django_db


def test_the_simulator_names_the_card_holder_its_country_and_a_fingerprint_never_the_number(psp, hooks):
    adapter = psp.adapter()
    request = deposit_request(webhook_url=hooks.url)
    start = adapter.create_deposit(request)
    checkout(start.redirect_url, {"card_number": "4000 0082 6000 0000", "card_holder": "Anna  Eriksson"})
    [hook] = hooks.wait_of(request.merchant_ref, 1)
    assert b"4000008260000000" not in hook.body
    message = adapter.verify_webhook(hook.headers, hook.body)
    assert message.payer is not None
    assert (message.payer.name, message.payer.country, message.payer.last4) == ("Anna Eriksson", "GB", "0000")
    assert len(message.payer.fingerprint) == 64

    again = deposit_request(webhook_url=hooks.url)
    checkout(adapter.create_deposit(again).redirect_url, {"card_number": "4000008260000000"})
    [second] = hooks.wait_of(again.merchant_ref, 1)
    # The same card gives the same fingerprint; no holder typed: the customer's name as the PSP knows it.
    assert adapter.verify_webhook(second.headers, second.body).payer.fingerprint == message.payer.fingerprint


def test_the_adapter_hashes_what_the_provider_sends_under_our_key_and_drops_a_bad_country(psp):
    adapter = psp.adapter()
    headers, body = signed_webhook(WEBHOOK_SECRET, data={"method": "card", "payer": {
        "name": "Jane Doe", "country": "Germany", "last4": "4242", "fingerprint": "psp-card-abc"}})
    payer = adapter.verify_webhook(headers, body).payer
    assert payer is not None and payer.country == "" and payer.name == "Jane Doe"
    assert payer.fingerprint == instrument_fingerprint("card", "psp-card-abc") != "psp-card-abc"
    headers, body = signed_webhook(WEBHOOK_SECRET, data={"payer": "not an object"})
    assert adapter.verify_webhook(headers, body).payer is None


def test_finance_records_a_wires_sender_once_and_bad_input_is_named():
    w = wire_world(first_name="Anna", last_name="Eriksson", country="SE")
    from django.utils import timezone

    deposit = demo_wire_deposit(provider=w.wire, client=w.client, amount=Money("500.00", "USD"),
                                at=timezone.now(), n=1)
    with pytest.raises(ValidationFailed) as bad:
        deposit_payer_record(deposit=deposit, payer_name=" ", iban="SE00 1234", actor=w.officer)
    assert set(bad.value.fields) == {"payer_name", "iban"}
    deposit.refresh_from_db()
    assert deposit.payer_name == "" and deposit.instrument_fingerprint == ""

    deposit_payer_record(deposit=deposit, payer_name="ERIKSSON ANNA", iban="SE45 5000 0000 0583 9825 7466",
                         actor=w.officer)
    deposit.refresh_from_db()
    assert (deposit.payer_name, deposit.payer_is_client, deposit.instrument_country, deposit.instrument_last4) == (
        "ERIKSSON ANNA", True, "SE", "7466")
    assert deposit.instrument_fingerprint == instrument_fingerprint("iban", "SE4550000000058398257466")
    assert AuditLog.objects.filter(action="wallet.deposit_payer_recorded").exists()
    with pytest.raises(ValidationFailed):
        deposit_payer_record(deposit=deposit, payer_name="Someone Else", actor=w.officer)
    deposit.refresh_from_db()
    assert deposit.payer_name == "ERIKSSON ANNA"
