"""Which methods a brand's client in a country may use, with their limits and fees; provider
secrets at rest; bank-wire references, instructions, incoming wires and their candidates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from crm.exceptions import Conflict, ValidationFailed
from crm.lib.money import Money
from tests.factories import make_brand, make_user
from tests.wallet.support import deposit_request
from wallet.exceptions import MethodNotAvailable
from wallet.models import PaymentProvider
from wallet.provider_selectors import method_check_amount, method_fee, methods_for
from wallet.provider_services import (
    CurrencyRule,
    bank_wire_incoming_record,
    payment_method_save,
    payment_provider_save,
)
from wallet.providers.bank_wire import ExpectedWire, reference_normalise, wire_candidates, wire_reference


@pytest.fixture
def setup(db):
    brand = make_brand()
    other = make_brand()
    psp = payment_provider_save(code="psp", name="PSP", kind="simulator", base_url="http://127.0.0.1:9",
                                api_key="pk", api_secret="sk-very-secret", webhook_secret="wh-very-secret")
    wire = payment_provider_save(code="wire", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Atlas Markets Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N",
        "bank_name": "Bank of Cyprus"})
    usd_eur = [CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("0.30"), Decimal("2.5")),
               CurrencyRule("EUR", Decimal("10"), Decimal("5000"), Decimal("0.25"), Decimal("2.5"))]
    payment_method_save(brand=brand, method="card", direction="deposit", provider=psp, currencies=usd_eur, order=10)
    payment_method_save(brand=brand, method="crypto", direction="deposit", provider=psp,
                        currencies=[CurrencyRule("USDT", Decimal("50"))], order=30)
    payment_method_save(brand=brand, method="bank_wire", direction="deposit", provider=wire,
                        currencies=[CurrencyRule("USD", Decimal("100"))], order=20)
    payment_method_save(brand=brand, method="card", direction="withdrawal", provider=psp,
                        currencies=[CurrencyRule("USD", Decimal("20"), Decimal("2000"), Decimal("1.00"))])
    # Germany: cards up to 1000 with a higher fee; Belgium: no cards at all.
    payment_method_save(brand=brand, country="DE", method="card", direction="deposit", provider=psp, currencies=[
        CurrencyRule("USD", Decimal("10"), Decimal("1000"), Decimal("0.50"), Decimal("3"))])
    payment_method_save(brand=brand, country="BE", method="card", direction="deposit", provider=psp,
                        currencies=usd_eur, is_enabled=False)
    return brand, other, psp, wire


def test_the_methods_of_a_brand_follow_the_country_the_currency_and_the_direction(setup):
    brand, other, psp, wire = setup

    anywhere = methods_for(brand=brand, country="FR", currency="USD", direction="deposit")
    germany = methods_for(brand=brand, country="de", currency="USD", direction="deposit")
    belgium = methods_for(brand=brand, country="BE", currency="USD", direction="deposit")

    assert [(m.method, m.provider_code) for m in anywhere] == [("card", "psp"), ("bank_wire", "wire")]
    card_de = next(m for m in germany if m.method == "card")
    assert card_de.maximum == Money("1000", "USD") and card_de.fee_percent == Decimal("3")
    assert [m.method for m in belgium] == ["bank_wire"]
    assert [m.method for m in methods_for(brand=brand, country="FR", currency="USDT", direction="deposit")] == ["crypto"]
    assert [m.method for m in methods_for(brand=brand, country="FR", currency="USD", direction="withdrawal")] == ["card"]
    assert methods_for(brand=other, country="FR", currency="USD", direction="deposit") == []


def test_a_disabled_provider_takes_its_methods_away(setup):
    brand, _, psp, _ = setup
    payment_provider_save(code="psp", name="PSP", kind="simulator", base_url="http://127.0.0.1:9", is_enabled=False)

    assert [m.method for m in methods_for(brand=brand, country="FR", currency="USD", direction="deposit")] == ["bank_wire"]


def test_the_fee_is_fixed_plus_percent_rounded_once_to_the_currency(setup):
    brand = setup[0]
    card = methods_for(brand=brand, country="FR", currency="USD", direction="deposit")[0]
    card_de = next(m for m in methods_for(brand=brand, country="DE", currency="USD", direction="deposit")
                   if m.method == "card")

    assert method_fee(card, Money("100.00", "USD")) == Money("2.80", "USD")
    assert method_fee(card, Money("33.33", "USD")) == Money("1.13", "USD")  # 0.30 + 0.83325
    assert method_fee(card_de, Money("100.00", "USD")) == Money("3.50", "USD")


def test_amounts_outside_the_limits_are_refused_naming_the_amount(setup):
    brand = setup[0]
    card_de = next(m for m in methods_for(brand=brand, country="DE", currency="USD", direction="deposit")
                   if m.method == "card")

    method_check_amount(card_de, Money("1000.00", "USD"))
    with pytest.raises(MethodNotAvailable) as above:
        method_check_amount(card_de, Money("1000.01", "USD"))
    with pytest.raises(MethodNotAvailable) as below:
        method_check_amount(card_de, Money("9.99", "USD"))

    assert "1,000.00" in above.value.fields["amount"][0] and "10.00" in below.value.fields["amount"][0]


def test_a_method_rule_with_bad_limits_is_refused_and_nothing_is_written(setup):
    brand, _, psp, _ = setup

    with pytest.raises(ValidationFailed) as refused:
        payment_method_save(brand=brand, country="Germany", method="card", direction="sideways", provider=psp,
                            currencies=[CurrencyRule("USD", Decimal("100"), Decimal("10")),
                                        CurrencyRule("JPY", Decimal("10.5"))])

    assert set(refused.value.fields) == {"country", "direction", "currencies"}
    assert any("JPY" in m for m in refused.value.fields["currencies"])
    assert any("maximum" in m for m in refused.value.fields["currencies"])


def test_provider_secrets_are_encrypted_at_rest_and_read_back_by_the_adapter(setup):
    psp = PaymentProvider.objects.get(code="psp")
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_secret_encrypted, webhook_secret_encrypted FROM wallet_paymentprovider "
                       "WHERE code = 'psp'")
        stored = " ".join(cursor.fetchone())

    assert "sk-very-secret" not in stored and "wh-very-secret" not in stored
    config = psp.config()
    assert (config.api_secret, config.webhook_secret) == ("sk-very-secret", "wh-very-secret")
    payment_provider_save(code="psp", name="PSP renamed", kind="simulator", base_url="http://127.0.0.1:9", api_key="pk")
    assert PaymentProvider.objects.get(code="psp").config().api_secret == "sk-very-secret"  # kept when not given


def test_a_bank_wire_deposit_gives_instructions_with_a_unique_check_digited_reference(setup):
    wire = setup[3]
    adapter = wire.adapter()

    start = adapter.create_deposit(deposit_request(method="bank_wire", amount="500.00", merchant_ref="dep-wire-1"))
    other = adapter.create_deposit(deposit_request(method="bank_wire", amount="500.00", merchant_ref="dep-wire-2"))

    instructions = start.instructions
    assert start.redirect_url is None and instructions is not None
    assert instructions.iban == "CY17002001280000001200527600" and instructions.beneficiary == "Atlas Markets Ltd"
    assert instructions.amount == Money("500.00", "USD")
    assert start.provider_ref == instructions.reference != other.provider_ref
    assert len(instructions.reference) == len("BW-XXXX-XXXX-C")
    assert adapter.create_deposit(deposit_request(method="bank_wire", merchant_ref="dep-wire-1")).provider_ref \
        == start.provider_ref


def test_a_reference_typed_loosely_is_recognised_and_a_typo_is_not():
    reference = wire_reference("dep-42")
    body = reference.replace("-", "")[2:10]
    loose = f"bw {body[:4].lower()} {body[4:]} {reference[-1]}"
    typo = reference[:3] + ("1" if reference[3] != "1" else "2") + reference[4:]
    swapped = reference[:3] + reference[4] + reference[3] + reference[5:]

    assert reference_normalise(loose) == reference
    assert reference_normalise(typo) is None
    assert reference[3] == reference[4] or reference_normalise(swapped) is None


def test_incoming_wires_are_recorded_by_finance_and_matched_to_candidates(setup):
    wire = setup[3]
    finance = make_user(role_code="finance")
    ours = wire_reference("dep-1", salt="wire")
    expected = [ExpectedWire(ours, Money("500.00", "USD"), "dep-1"),
                ExpectedWire(wire_reference("dep-2", salt="wire"), Money("250.00", "USD"), "dep-2")]

    incoming = bank_wire_incoming_record(provider=wire, amount=Money("500.00", "USD"), payer_name="ANN EXAMPLE",
                                         reference_text=f"deposit {ours.lower()} thank you",
                                         value_date=dt.date(2026, 3, 2), bank_transaction_id="STMT-1", actor=finance)
    candidates = wire_candidates(reference_text=incoming.reference_text, amount=incoming.money, expected=expected)
    exact = wire_candidates(reference_text=ours, amount=Money("450.00", "USD"), expected=expected)

    assert incoming.reference == ours and incoming.recorded_by == finance and incoming.status == "unmatched"
    assert [(c.expected.merchant_ref, c.how, c.amount_matches) for c in candidates] == [("dep-1", "normalised", True)]
    assert [(c.expected.merchant_ref, c.how, c.amount_matches) for c in exact] == [("dep-1", "exact", False)]
    assert wire_candidates(reference_text="no reference", amount=incoming.money, expected=expected) == []
    with pytest.raises(Conflict):
        bank_wire_incoming_record(provider=wire, amount=Money("500.00", "USD"), payer_name="ANN EXAMPLE",
                                  value_date=dt.date(2026, 3, 2), bank_transaction_id="STMT-1", actor=finance)


def test_an_incoming_wire_with_bad_input_is_refused_naming_the_fields(setup):
    _, _, psp, wire = setup

    with pytest.raises(ValidationFailed) as refused:
        bank_wire_incoming_record(provider=psp, amount=Money("0.001", "USD"), payer_name=" ",
                                  value_date=dt.date(2026, 3, 2))

    assert set(refused.value.fields) == {"provider", "amount", "payer_name"}
