"""Receipts when money moves (wallet.receipts): a withdrawal paid through the PSP simulator, a withdrawal
rejected by finance and a deposit credited by the provider's webhook each send the client one email, in
their language, with the amount as the money formatter writes it there; a repeated event sends nothing
more; a client who unsubscribed from marketing and whose address is suppressed still gets it, without
List-Unsubscribe; a brand that turned receipts off sends none. Built through the services; events
delivered by the dispatcher, emails by the emails app's delivery into Django's test outbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.utils import translation

from crm.events import dispatch_pending, emit
from crm.lib.money import Money, money_format
from crm.models import Event, Stage
from emails.models import EmailStatus, OutboundEmail
from emails.services import email_deliver
from marketing.consent import consent_record, suppress
from tests.factories import make_brand, make_client
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET
from tests.wallet.support import checkout
from tests.wallet.withdrawal_support import CARD, build_world
from wallet.deposits import deposit_create
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.receipts import HEADER
from wallet.webhooks import webhook_receive
from wallet.withdrawals import (
    withdrawal_approve,
    withdrawal_payout_send,
    withdrawal_reject,
    withdrawal_request,
    withdrawal_resolve,
)


@pytest.fixture(autouse=True)
def _kyc_storage(settings: Any, tmp_path: Any) -> None:
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    settings.CRM_PUBLIC_URL = "https://crm.example.com"


def _receipts(client: Any) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(client=client, headers__has_key=HEADER).order_by("pk"))


def _delivered(email: OutboundEmail) -> Any:
    """Deliver `email` as the emails app's task does; the message that reached the outbox."""
    assert email_deliver(email_id=email.pk) == EmailStatus.SENT
    [message] = [m for m in mail.outbox if m.extra_headers.get("X-CRM-Email") == str(email.code)]
    return message


def _spanish_world(psp: Any) -> Any:
    brand = make_brand()
    client = make_client(
        brand=brand,
        email="lucia@example.com",
        first_name="Lucía",
        language="es",
        country="ES",
        stage="registered",
    )
    return build_world(base_url=psp.base_url, timeout_seconds=1, fund="2000.00", brand=brand, client=client)


def _paid(world: Any, psp: Any, amount: str) -> Any:
    w = withdrawal_request(
        client=world.client, amount=Money(amount, "USD"), method=world.card, destination=CARD
    )
    w = withdrawal_payout_send(withdrawal_id=withdrawal_approve(withdrawal=w, actor=world.finance).pk)
    psp.control("/_sim/payouts/process", {})
    w = withdrawal_resolve(withdrawal_id=w.pk)
    assert w.state == "paid"
    dispatch_pending()
    return w


@pytest.mark.django_db
def test_a_paid_withdrawal_sends_one_receipt_in_the_client_s_language(psp: Any) -> None:
    world = _spanish_world(psp)
    w = _paid(world, psp, "1234.50")

    [receipt] = _receipts(world.client)
    message = _delivered(receipt)
    assert receipt.language == "es" and message.to == ["lucia@example.com"]
    with translation.override("es"):
        amount = money_format(Money("1234.50", "USD"))
    assert amount.endswith(",50\u00a0USD")  # Spanish marks, as the trader's room writes amounts
    assert message.subject == f"{world.brand.name}: su retiro de {amount} ha sido pagado"
    body = message.body
    assert "Estimado/a Lucía:" in body
    assert f"Hemos pagado su retiro de {amount}." in body
    assert "Comisión: 1,00\u00a0USD" in body and "Método: Tarjeta" in body
    assert f"Referencia: {w.merchant_ref}" in body
    assert "Su billetera: https://crm.example.com/portal/wallet/" in body
    assert "Hemos pagado" in message.alternatives[0][0]  # the HTML says what the text says
    assert (
        message.extra_headers.get("List-Unsubscribe") is None
        and world.brand.name in message.extra_headers["From"]
    )


@pytest.mark.django_db
def test_a_repeated_event_sends_no_second_receipt(psp: Any) -> None:
    world = _spanish_world(psp)
    w = _paid(world, psp, "300")
    [paid] = Event.objects.filter(name="wallet.withdrawal_paid", client=world.client)

    # The provider's word again (a webhook resent): the same event written a second time and delivered.
    emit("wallet.withdrawal_paid", client=world.client, data=dict(paid.data))
    dispatch_pending()

    assert Event.objects.filter(name="wallet.withdrawal_paid", client=world.client).count() == 2
    assert [r.headers[HEADER] for r in _receipts(world.client)] == [f"withdrawal_paid:{w.code}"]


@pytest.mark.django_db
def test_an_unsubscribed_and_suppressed_client_still_gets_the_receipt(psp: Any) -> None:
    world = _spanish_world(psp)
    consent_record(client=world.client, channel="email", given=False, source="portal")
    suppress(
        brand=world.brand, address=world.client.email, channel="email", reason="hard_bounce", source="test"
    )
    _paid(world, psp, "300")

    [receipt] = _receipts(world.client)
    message = _delivered(receipt)  # marketing's delivery check lets transactional mail through
    assert message.subject == f"{world.brand.name}: su retiro de 300,00\u00a0USD ha sido pagado"
    assert not any(name.lower().startswith("list-unsubscribe") for name in message.extra_headers)


@pytest.mark.django_db
def test_a_rejected_withdrawal_tells_the_client_the_money_is_back(psp: Any) -> None:
    world = build_world(base_url=psp.base_url, timeout_seconds=1)
    w = withdrawal_request(
        client=world.client, amount=Money("250", "USD"), method=world.card, destination=CARD
    )
    withdrawal_reject(withdrawal=w, actor=world.finance, reason="Destination not in the client's name")
    dispatch_pending()

    [receipt] = _receipts(world.client)
    message = _delivered(receipt)
    assert message.subject == f"{world.brand.name}: your withdrawal of 250.00\u00a0USD was not paid"
    assert "The amount is available in your wallet again." in message.body
    assert "Destination not in the client" not in message.body  # finance's reason stays inside


@pytest.mark.django_db
def test_a_credited_deposit_sends_one_receipt(psp: Any, hooks: Any, settings: Any) -> None:
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    provider = payment_provider_save(
        code="psp-sim",
        name="PSP simulator",
        kind="simulator",
        base_url=psp.base_url,
        api_key=API_KEY,
        api_secret=API_SECRET,
        webhook_secret=WEBHOOK_SECRET,
    )
    brand = make_brand()
    payment_method_save(
        brand=brand,
        method="card",
        direction="deposit",
        provider=provider,
        order=10,
        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("0.50"))],
    )
    client = make_client(
        brand=brand, email="dora@example.com", first_name="Dora", country="DE", stage=Stage.VERIFIED
    )
    deposit = deposit_create(
        client=client,
        amount=Money("100.00", "USD"),
        method="card",
        return_url="https://crm.example.com/portal/wallet/deposit/return/",
    )
    checkout(deposit.redirect_url, {"card_number": "4242424242424242"})
    for hook in hooks.wait_of(deposit.merchant_ref, 1):
        webhook_receive(provider_code="psp-sim", headers=hook.headers, body=hook.body)
        webhook_receive(provider_code="psp-sim", headers=hook.headers, body=hook.body)  # sent twice
    dispatch_pending()

    [receipt] = _receipts(client)
    message = _delivered(receipt)
    assert message.subject == f"{brand.name}: 99.50\u00a0USD credited to your wallet"
    assert "Dear Dora," in message.body and "Fee: 0.50\u00a0USD" in message.body
    assert f"Reference: {deposit.merchant_ref}" in message.body
    assert receipt.headers[HEADER] == f"deposit_credited:{deposit.code}"


@pytest.mark.django_db
def test_a_brand_that_turned_receipts_off_sends_none(psp: Any, settings: Any) -> None:
    world = _spanish_world(psp)
    settings.WALLET_RECEIPTS_OFF = [world.brand.code]
    _paid(world, psp, "300")

    assert Event.objects.filter(name="wallet.withdrawal_paid", client=world.client).exists()
    assert _receipts(world.client) == []
