"""CoinsPaid's X-Processing-Signature, checked against vectors computed here with hmac/hashlib from
the documented algorithm (lowercase hex HMAC-SHA512 of the raw body, keyed with the API secret),
never with the adapter's own function: the documentation's own example (its body, its secret and
the start of its expected result), a deposit callback in the documented shape, a bad signature, a
signature moved onto another body, a replayed callback, and a signed request."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import Event, Stage
from tests.factories import make_brand, make_client
from tests.wallet.connectors import (  # noqa: F401 - fixtures
    COINSPAID_KEY,
    COINSPAID_SECRET,
    CoinsPaidConnector,
    capture,
    coinspaid_session,
)
from wallet.deposits import deposit_create
from wallet.exceptions import WebhookRefused
from wallet.ledger import balance, ledger_verify, wallet_account_for
from wallet.models import DepositStatus, WebhookDelivery
from wallet.providers.base import ClientFacts, DepositRequest, ProviderConfig, WebhookKind
from wallet.providers.coinspaid import CoinsPaidProvider

SECRET = "AbCdEfG123456"
# The documentation's example: this body signed with that secret gives a value starting 03c25fcf.
DOC_BODY = b'{"currency":"BTC","foreign_id":"123456"}'
DOC_SIGNATURE = hmac.new(SECRET.encode(), DOC_BODY, hashlib.sha512).hexdigest()


def callback(foreign_id: str = "user-id:2048", status: str = "confirmed", txn_id: int = 1,
             received: str = "6.53157512") -> dict[str, Any]:
    """A confirmed BTC deposit's callback in the documented shape."""
    return {"id": txn_id, "end_user_reference": "12345", "type": "deposit",
            "crypto_address": {"id": 1, "currency": "BTC", "address": "39mFf3X46YzUtfdwVQpYXPCMydc74ccbAZ",
                               "foreign_id": foreign_id, "tag": None},
            "currency_sent": {"currency": "BTC", "amount": "6.53157512"},
            "currency_received": {"currency": "BTC", "amount": received, "amount_minus_fee": "6.5119800"},
            "transactions": [{"id": 1, "currency": "BTC", "transaction_type": "blockchain", "type": "deposit",
                              "address": "39mFf3X46YzUtfdwVQpYXPCMydc74ccbAZ", "tag": None, "amount": "6.53157512",
                              "txid": "3950ad8149421a850d01dff88f024810e363ac18c9e8dd9bc0b9116e7937ad93",
                              "riskscore": "0.5", "confirmations": 3}],
            "fees": [{"type": "deposit", "currency": "BTC", "amount": "0.01959472"}], "error": "", "status": status}


def signed(doc: dict[str, Any], secret: str = SECRET, key: str = "public-key") -> tuple[bytes, dict[str, str]]:
    body = json.dumps(doc, separators=(",", ":")).encode()
    return body, {"X-Processing-Key": key,
                  "X-Processing-Signature": hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()}


def adapter(secret: str = SECRET, key: str = "public-key") -> CoinsPaidProvider:
    return CoinsPaidProvider(ProviderConfig(code="coinspaid", base_url="https://app.sandbox.cryptoprocessing.com/api/v2",
                                            api_key=key, api_secret=secret))


def test_the_documentations_example_is_what_the_algorithm_gives():
    # The documented expected result begins so; our request headers must give the same.
    assert DOC_SIGNATURE.startswith("03c25fcf")
    headers = adapter().signed_headers("POST", "/addresses/take", DOC_BODY)
    assert headers["X-Processing-Signature"] == DOC_SIGNATURE
    assert headers["X-Processing-Key"] == "public-key"


def test_a_documented_deposit_callback_verifies_and_reads_as_the_documentation_says():
    body, headers = signed(callback())

    message = adapter().verify_webhook(headers, body)

    assert message.kind == WebhookKind.DEPOSIT_SUCCEEDED
    assert message.merchant_ref == "user-id:2048" and message.provider_ref == "1"
    assert message.amount == Money("6.53157512", "BTC")
    assert message.fee == Money(Decimal("6.53157512") - Decimal("6.5119800"), "BTC")
    assert message.raw["data"]["risk_score"] == "0.5"


def test_a_bad_signature_is_refused():
    body, headers = signed(callback(), secret="not-the-secret")

    with pytest.raises(WebhookRefused) as refused:
        adapter().verify_webhook(headers, body)
    assert refused.value.reason == "bad_signature"


def test_a_signature_moved_onto_another_body_is_refused():
    body, headers = signed(callback())
    forged = body.replace(b'"amount":"6.53157512","amount_minus_fee"', b'"amount":"65.3157512","amount_minus_fee"')
    assert forged != body

    with pytest.raises(WebhookRefused) as refused:
        adapter().verify_webhook(headers, forged)
    assert refused.value.reason == "bad_signature"


def test_a_missing_signature_and_another_merchants_key_are_refused():
    body, headers = signed(callback())
    with pytest.raises(WebhookRefused):
        adapter().verify_webhook({"X-Processing-Key": "public-key"}, body)
    with pytest.raises(WebhookRefused):
        adapter(key="our-key").verify_webhook(headers, body)


def test_a_replayed_callback_is_the_same_event_and_a_new_status_another():
    first = adapter().verify_webhook(*reversed(signed(callback(status="not_confirmed"))))
    replayed = adapter().verify_webhook(*reversed(signed(callback(status="not_confirmed"))))
    confirmed = adapter().verify_webhook(*reversed(signed(callback())))

    assert first.event_id == replayed.event_id
    assert confirmed.event_id != first.event_id
    assert first.kind == WebhookKind.DEPOSIT_PENDING and confirmed.sequence > first.sequence


def test_a_deposit_request_is_signed_over_the_exact_body_sent(coinspaid_session):  # noqa: F811
    sent: dict[str, Any] = {}

    class Recording(CoinsPaidProvider):
        def signed_headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
            sent["body"], sent["headers"] = body, super().signed_headers(method, target, body)
            return sent["headers"]

    provider = Recording(ProviderConfig(code="coinspaid", base_url=coinspaid_session.base_url + "/api/v2",
                                        api_key=COINSPAID_KEY, api_secret=COINSPAID_SECRET))
    start = provider.create_deposit(DepositRequest(merchant_ref="dep-1", amount=Money("100.00", "USD"), method="crypto",
                                                   client=ClientFacts(reference="C-1")))

    assert sent["headers"]["X-Processing-Signature"] == hmac.new(COINSPAID_SECRET.encode(), sent["body"],
                                                                  hashlib.sha512).hexdigest()
    assert json.loads(sent["body"]) == {"currency": "BTC", "foreign_id": "dep-1", "end_user_reference": "C-1",
                                        "convert_to": "USD"}
    assert start.crypto is not None and start.crypto.address and start.crypto.convert_to == "USD"


@pytest.mark.django_db
def test_through_the_endpoint_a_replay_is_a_duplicate_and_a_forgery_is_refused(coinspaid_session, capture, settings):  # noqa: F811
    settings.CRM_PUBLIC_URL = capture.base
    brand = make_brand()
    connector = CoinsPaidConnector(coinspaid_session)
    connector.methods(brand)
    client = make_client(brand=brand, country="DE", stage=Stage.VERIFIED)
    deposit = deposit_create(client=client, amount=Money("100.00", "USD"), method="crypto")
    doc = callback(foreign_id=deposit.merchant_ref, txn_id=77)
    doc["type"] = "deposit_exchange"
    doc["currency_received"] = {"currency": "USD", "amount": "100.00", "amount_minus_fee": "99.70"}
    body, headers = signed(doc, secret=COINSPAID_SECRET, key=COINSPAID_KEY)
    http = HttpClient()
    url = reverse("wallet_webhook", args=["coinspaid"])

    answers = [http.post(url, data=body, content_type="application/json", headers=headers) for _ in range(2)]
    forged = http.post(url, data=body.replace(b'"100.00"', b'"900.00"'), content_type="application/json",
                       headers=headers)

    assert [a.status_code for a in answers] == [200, 200]
    assert forged.status_code == 401
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
    assert balance(wallet_account_for(client=client, currency="USD")) == Money("100.00", "USD")
    assert ledger_verify() == {}
    assert sorted(WebhookDelivery.objects.values_list("outcome", flat=True)) == [
        "accepted", "duplicate", "refused:bad_signature"]
    # The risk score is kept on the deposit and handed on with its event.
    assert deposit.instructions["risk_score"] == "0.5"
    assert Event.objects.get(name="wallet.deposit_succeeded").data["risk_score"] == "0.5"
