"""A card deposit's 3-D Secure as Praxis Cashier reports it: read from the documented notification
(API 1.3 documents no result field; its status ``pending_async`` sends a card's client to 3-D
Secure), kept on the deposit through the simulator's 3-D Secure scenario, shown on the deposit page
and in a dispute's generated evidence; and the demo's card disputes through the Praxis simulator."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from crm.lib.money import Money
from crm.models import RoleCode, Stage
from tests.factories import make_brand, make_client, make_user
from tests.simulators import simulator_start, simulator_stop
from tests.wallet.connectors import (  # noqa: F401 - fixtures
    Capture,
    PraxisConnector,
    capture,
    praxis_session,
)
from tests.wallet.test_praxis_signature import adapter, example
from wallet.deposits import deposit_create
from wallet.disputes import dispute_generated_evidence
from wallet.ledger import ledger_verify
from wallet.models import Deposit, DepositStatus, Dispute
from wallet.providers.base import WebhookKind
from wallet.three_ds import deposit_three_ds, three_ds_text

SKIPPED = {"host", "content-length", "content-type", "connection", "accept-encoding", "user-agent"}


def _notification(status: str, *, details: str = "", card: bool = True) -> dict[str, Any]:
    doc = copy.deepcopy(example())
    txn = doc["transaction"]
    txn["transaction_status"] = status
    txn["status_details"] = details or txn["status_details"]
    if status != "approved":
        txn.update(conversion_rate=None, processed_currency=None, processed_amount=None)
    if not card:
        txn["card"] = None
        txn["payment_method"] = "Skrill"
        txn["wallet"] = {"wallet_token": "a1b2c3", "account": "ann@example.com"}
    return doc


def test_a_card_sale_sent_to_3ds_verification_is_read_as_a_challenge() -> None:
    message = adapter().message(_notification("pending_async"))

    assert message.kind == WebhookKind.DEPOSIT_PENDING
    assert message.raw["data"]["three_ds"] == "challenge"


def test_the_documented_approved_card_sale_says_nothing_of_3ds() -> None:
    message = adapter().message(example())

    assert message.kind == WebhookKind.DEPOSIT_SUCCEEDED
    assert "three_ds" not in message.raw["data"]


def test_a_card_sale_refused_for_3ds_is_read_as_not_authenticated() -> None:
    message = adapter().message(_notification("rejected", details="3D Secure authentication failed"))

    assert message.kind == WebhookKind.DEPOSIT_FAILED
    assert message.raw["data"]["three_ds"] == "failed"


def test_an_e_wallet_finishing_asynchronously_is_no_3ds() -> None:
    message = adapter().message(_notification("pending_async", card=False))

    assert "three_ds" not in message.raw["data"]


@pytest.mark.parametrize(("fact", "paid", "text"), [
    ("challenge", True, "authenticated (challenge)"),
    ("frictionless", True, "authenticated (frictionless)"),
    ("failed", False, "not authenticated"),
    ("challenge", False, "sent to a challenge, no result yet"),
    ("", True, "not reported by the provider"),
], ids=["challenge", "frictionless", "failed", "challenge-pending", "not-reported"])
def test_the_3ds_result_in_words(fact: str, paid: bool, text: str) -> None:
    deposit = Deposit(instructions={"three_ds": fact} if fact else {},
                      succeeded_at=timezone.now() if paid else None)

    assert three_ds_text(deposit) == text


@pytest.fixture
def praxis(db: Any, praxis_session: Any, capture: Capture, settings: Any, login_verified: Any) -> Any:  # noqa: F811
    praxis_session.control("/_sim/faults/clear", {})
    settings.CRM_PUBLIC_URL = capture.base
    connector = PraxisConnector(praxis_session)
    brand = make_brand()
    connector.methods(brand)
    client = make_client(brand=brand, country="DE", stage=Stage.VERIFIED, first_name="Ann", last_name="Smith")
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand)
    http = HttpClient()

    def deliver(ref: str, count: int = 1, start: int = 0) -> list[Any]:
        got = capture.wait_about(connector.ref_of, ref, start + count)[start:start + count]
        return [http.post(reverse("wallet_webhook", args=["praxis"]), data=c.body, content_type="application/json",
                          headers={k: v for k, v in c.headers.items() if k.lower() not in SKIPPED}) for c in got]

    def page(deposit: Deposit) -> str:
        browser = HttpClient()
        login_verified(browser, finance)
        return browser.get(reverse("wallet_deposit_detail", args=[deposit.code])).content.decode()

    yield type("Praxis", (), {"connector": connector, "client": client, "deliver": deliver, "page": page,
                              "sim": praxis_session})
    praxis_session.control("/_sim/faults/clear", {})


def _evidence(dispute: Dispute) -> str:
    return "\n".join(line for part in dispute_generated_evidence(dispute) for line in part.lines)


def test_a_card_paid_through_the_3ds_challenge_is_authenticated_on_its_page_and_in_its_chargebacks_evidence(
        praxis: Any) -> None:
    deposit = deposit_create(client=praxis.client, amount=Money("100.00", "USD"), method="card", return_url="")
    praxis.connector.pay(deposit.redirect_url, "3ds")
    praxis.connector.three_ds(deposit.redirect_url, approve=True)
    praxis.deliver(deposit.merchant_ref, 2)  # pending_async (sent to 3-D Secure), then approved

    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED and deposit_three_ds(deposit) == "challenge"
    assert 'data-three-ds="challenge">authenticated (challenge)<' in praxis.page(deposit)
    praxis.sim.control("/_sim/chargeback", {"order_id": deposit.merchant_ref})
    praxis.deliver(deposit.merchant_ref, start=2)
    dispute = Dispute.objects.get(deposit=deposit)
    assert "3-D Secure: authenticated (challenge)" in _evidence(dispute)
    assert ledger_verify() == {}


def test_a_card_approved_without_a_3ds_step_says_not_reported_in_its_evidence(praxis: Any) -> None:
    deposit = deposit_create(client=praxis.client, amount=Money("100.00", "USD"), method="card", return_url="")
    praxis.connector.pay(deposit.redirect_url, "approve")
    praxis.deliver(deposit.merchant_ref)
    praxis.sim.control("/_sim/chargeback", {"order_id": deposit.merchant_ref})
    praxis.deliver(deposit.merchant_ref, start=1)

    deposit.refresh_from_db()
    assert deposit_three_ds(deposit) == ""
    assert "3-D Secure: not reported by the provider" in _evidence(Dispute.objects.get(deposit=deposit))
    assert ">not reported by the provider<" in praxis.page(deposit)


def test_the_demo_opens_its_card_disputes_on_praxis_deposits_with_their_3ds_once(db: Any, tmp_path: Any,
                                                                               settings: Any) -> None:
    settings.CRM_PUBLIC_URL = "http://127.0.0.1:9"  # the simulator's own deliveries go nowhere
    brand = make_brand()
    make_user(role_code=RoleCode.FINANCE, brand=brand)
    for n in range(6):
        make_client(brand=brand, country="DE", first_name=f"Card{n}", last_name="Holder")
    call_command("wallet_seed_demo")
    state = tmp_path / "praxissim"
    proc, listening = simulator_start("wallet.praxis_simulator", "--state-dir", str(state), what="Praxis simulator")
    try:
        for _ in range(2):
            call_command("wallet_praxis_demo_setup", "--port", str(listening["port"]), "--state-dir", str(state))
    finally:
        simulator_stop(proc)

    disputes = list(Dispute.objects.filter(provider__code="praxis").select_related("deposit").order_by("pk"))
    assert [(d.kind, d.status, d.deposit.method) for d in disputes] == [
        ("chargeback", "open", "card"), ("retrieval_request", "open", "card"), ("chargeback", "won", "card"),
        ("chargeback", "lost", "card")]
    assert timezone.now() < disputes[0].due_at < timezone.now() + dt.timedelta(days=4)  # a near deadline
    assert "3-D Secure: authenticated (challenge)" in _evidence(disputes[0])
    assert "3-D Secure: not reported by the provider" in _evidence(disputes[1])
    assert disputes[3].deposit.status == DepositStatus.CHARGED_BACK and ledger_verify() == {}
    assert json.loads((state / "config.json").read_text())["merchant_id"]
