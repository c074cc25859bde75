"""CoinsPaid beyond the common scenarios (test_provider_conformance.py): the address the client is
shown, any amount sent credited as received after conversion, a deposit in a
crypto currency credited in its own decimals, withdrawals to a saved address (and one the network
cancels), and the look-up of both."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import Stage
from tests.factories import make_brand, make_client
from tests.wallet.connectors import (  # noqa: F401 - fixtures
    Capture,
    CoinsPaidConnector,
    capture,
    coinspaid_session,
)
from wallet.deposits import deposit_create
from wallet.ledger import balance, ledger_verify, wallet_account_for
from wallet.models import DepositStatus
from wallet.provider_services import CurrencyRule, payment_method_save
from wallet.providers.base import ClientFacts, Operation, Outcome, PayoutRequest, WebhookKind

SKIPPED = {"host", "content-length", "content-type", "connection", "accept-encoding", "user-agent"}


@pytest.fixture
def coinspaid(db: Any, coinspaid_session: Any, capture: Capture, settings: Any) -> Any:  # noqa: F811
    coinspaid_session.control("/_sim/faults/clear", {})
    settings.CRM_PUBLIC_URL = capture.base
    connector = CoinsPaidConnector(coinspaid_session)
    brand = make_brand()
    provider = connector.methods(brand)
    client = make_client(brand=brand, country="DE", stage=Stage.VERIFIED, first_name="Ann", last_name="Smith")
    http = HttpClient()

    def deliver(ref: str, count: int = 1, start: int = 0) -> list[Any]:
        got = capture.wait_about(connector.ref_of, ref, start + count)[start:start + count]
        return [http.post(reverse("wallet_webhook", args=["coinspaid"]), data=c.body, content_type="application/json",
                          headers={k: v for k, v in c.headers.items() if k.lower() not in SKIPPED}) for c in got]

    return type("CoinsPaid", (), {"connector": connector, "provider": provider, "client": client, "brand": brand,
                                  "deliver": deliver, "sim": coinspaid_session})


def test_the_client_is_given_an_address_and_any_amount_sent_is_credited_as_received(coinspaid):
    deposit = deposit_create(client=coinspaid.client, amount=Money("100.00", "USD"), method="crypto")

    assert deposit.status == DepositStatus.PENDING and not deposit.redirect_url
    assert deposit.instructions["currency"] == "BTC" and deposit.instructions["convert_to"] == "USD"
    # The client sends 0.0025 BTC instead of the 0.002 the 100 USD asked: 125 USD arrive.
    coinspaid.sim.control("/_sim/pay", {"address": deposit.instructions["address"], "amount": "0.0025",
                                        "riskscore": "0.81"})
    [answer] = coinspaid.deliver(deposit.merchant_ref)

    deposit.refresh_from_db()
    assert answer.status_code == 200 and deposit.status == DepositStatus.SUCCEEDED
    assert balance(wallet_account_for(client=coinspaid.client, currency="USD")) == Money("125.00", "USD")
    assert deposit.instructions["risk_score"] == "0.81"
    assert ledger_verify() == {}


def test_a_deposit_in_a_crypto_currency_is_credited_in_its_own_decimals(coinspaid):
    payment_method_save(brand=coinspaid.brand, method="crypto", direction="deposit", provider=coinspaid.provider,
                        currencies=[CurrencyRule("BTC", Decimal("0.0001"), Decimal("10"))], order=11)
    deposit = deposit_create(client=coinspaid.client, amount=Money("0.01", "BTC"), method="crypto")

    assert deposit.instructions["currency"] == "BTC" and deposit.instructions["convert_to"] == ""
    coinspaid.sim.control("/_sim/pay", {"address": deposit.instructions["address"], "amount": "0.01234567"})
    coinspaid.deliver(deposit.merchant_ref)

    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
    assert balance(wallet_account_for(client=coinspaid.client, currency="BTC")) == Money("0.01234567", "BTC")


def test_an_ether_amount_with_eighteen_decimals_is_read_without_a_float():
    from wallet.providers.base import ProviderConfig
    from wallet.providers.coinspaid import CoinsPaidProvider

    message = CoinsPaidProvider(ProviderConfig(code="coinspaid", api_key="k", api_secret="s")).message({
        "id": 5, "type": "deposit", "status": "confirmed", "transactions": [],
        "crypto_address": {"currency": "ETH", "foreign_id": "dep-eth"},
        "currency_received": {"currency": "ETH", "amount": "0.010000000000000001"}})

    assert message.kind == WebhookKind.DEPOSIT_SUCCEEDED
    assert message.amount is not None and message.amount.amount == Decimal("0.010000000000000001")
    assert message.amount.quantize() == Money("0.01", "ETH")


def test_a_withdrawal_goes_to_the_saved_address_and_one_the_network_cancels_fails(coinspaid):
    adapter = coinspaid.provider.adapter()
    client = ClientFacts(reference="C-1", country="DE")
    PAYOUT = Operation.PAYOUT  # noqa: N806

    sent = adapter.payout(PayoutRequest(merchant_ref="wd-c1", amount=Money("250.00", "USD"), method="crypto",
                                        destination={"crypto": "bc1qsavedaddress", "currency": "BTC"}, client=client))
    cancelled = adapter.payout(PayoutRequest(merchant_ref="wd-c2", amount=Money("25.00", "USD"), method="crypto",
                                             destination={"address": "bc1qfailing", "currency": "BTC"}, client=client))
    nowhere = adapter.payout(PayoutRequest(merchant_ref="wd-c3", amount=Money("25.00", "USD"), method="crypto",
                                           destination={}, client=client))

    assert sent.outcome == Outcome.PENDING and sent.provider_ref
    assert nowhere.outcome == Outcome.FAILED and nowhere.reason == "no_crypto_address"
    assert adapter.fetch_status(merchant_ref="wd-c1", operation=PAYOUT).outcome == Outcome.SUCCEEDED
    assert adapter.fetch_status(merchant_ref="wd-c2", operation=PAYOUT).outcome == Outcome.FAILED
    assert cancelled.outcome == Outcome.PENDING
    assert adapter.fetch_status(merchant_ref="wd-nobody", operation=PAYOUT).outcome == Outcome.NOT_FOUND


def test_a_second_payment_to_the_same_address_is_a_deposit_of_its_own_and_credited_once(coinspaid):
    deposit = deposit_create(client=coinspaid.client, amount=Money("100.00", "USD"), method="crypto")
    address = deposit.instructions["address"]
    coinspaid.sim.control("/_sim/pay", {"address": address, "amount": "0.002"})
    coinspaid.deliver(deposit.merchant_ref)
    # A week later the client sends to the address kept in their own wallet again.
    coinspaid.sim.control("/_sim/pay", {"address": address, "amount": "0.001", "riskscore": "0.2"})
    [again] = coinspaid.deliver(deposit.merchant_ref, start=1)
    [repeated] = coinspaid.deliver(deposit.merchant_ref, start=1)  # the provider says it once more

    assert again.status_code == 200 and repeated.status_code == 200
    deposits = list(coinspaid.client.deposits.order_by("created_at"))
    assert [d.status for d in deposits] == [DepositStatus.SUCCEEDED, DepositStatus.SUCCEEDED]
    second = deposits[1]
    assert second.money == Money("50.00", "USD") and second.instructions["address"] == address
    assert second.instructions["address_of"] == str(deposit.code) and second.instructions["risk_score"] == "0.2"
    assert balance(wallet_account_for(client=coinspaid.client, currency="USD")) == Money("150.00", "USD")
    assert ledger_verify() == {}


def test_a_pending_payout_callback_is_acknowledged_and_leaves_the_withdrawal_processing():
    from wallet.providers.base import ProviderConfig
    from wallet.providers.coinspaid import CoinsPaidProvider

    adapter = CoinsPaidProvider(ProviderConfig(code="coinspaid", api_key="k", api_secret="s"))
    message = adapter.message({"id": 9, "type": "withdrawal_exchange", "status": "processing", "foreign_id": "wd-1",
                               "currency_sent": {"currency": "USD", "amount": "25.00"}})

    assert message.kind == WebhookKind.PAYOUT_PENDING and message.merchant_ref == "wd-1"


def test_compliance_is_alerted_to_a_deposit_the_provider_scores_risky_and_not_to_a_clean_one(coinspaid):
    from compliance.aml import DEFAULT_PARAMETERS, aml_evaluate_client, aml_rule_create
    from compliance.models import AmlAlert, AmlRuleKind
    from crm.models import RoleCode
    from tests.factories import make_user

    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=coinspaid.brand)
    aml_rule_create(brand=coinspaid.brand, kind=AmlRuleKind.PROVIDER_RISK, name="Risky crypto", actor=officer,
                    parameters=DEFAULT_PARAMETERS[AmlRuleKind.PROVIDER_RISK])  # from a score of 0.7
    clean = deposit_create(client=coinspaid.client, amount=Money("100.00", "USD"), method="crypto")
    coinspaid.sim.control("/_sim/pay", {"address": clean.instructions["address"], "amount": "0.002",
                                        "riskscore": "0.12"})
    coinspaid.deliver(clean.merchant_ref)
    aml_evaluate_client(client_id=coinspaid.client.pk)  # what the deposit's event has the worker do
    assert not AmlAlert.objects.filter(client=coinspaid.client).exists()

    risky = deposit_create(client=coinspaid.client, amount=Money("100.00", "USD"), method="crypto")
    coinspaid.sim.control("/_sim/pay", {"address": risky.instructions["address"], "amount": "0.002",
                                        "riskscore": "0.81"})
    coinspaid.deliver(risky.merchant_ref)
    aml_evaluate_client(client_id=coinspaid.client.pk)

    [alert] = AmlAlert.objects.filter(client=coinspaid.client)
    assert alert.rule.kind == AmlRuleKind.PROVIDER_RISK and alert.score == 81
    assert "scored 0.81 by its provider" in alert.summary and "100.00 USD by crypto" in alert.summary
