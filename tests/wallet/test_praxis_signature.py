"""Praxis Cashier's GT-Authentication, checked against vectors computed here with hashlib from the
documented algorithm (the values of the documented fields concatenated in the documented order, a
null one skipped, the merchant secret appended, SHA-384 in hex), never with the adapter's own
function: a notification as the documentation shows one, a pending one with its null fields, a
bad and a replayed signature, the signed {"status": 0} reply and a signed cashier request."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import Stage
from tests.factories import make_brand, make_client
from tests.wallet.connectors import PRAXIS_APP, PRAXIS_MERCHANT, PRAXIS_SECRET, praxis_session  # noqa: F401
from wallet.deposits import deposit_create
from wallet.exceptions import WebhookRefused
from wallet.ledger import balance, ledger_verify, wallet_account_for
from wallet.models import DepositStatus, WebhookDelivery
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.providers.base import ProviderConfig, WebhookKind
from wallet.providers.praxis import PraxisProvider

SECRET = "MerchantSecretKey"
SENT_AT = 1590611635


def example(order_id: str = "test-1560610955", timestamp: int = SENT_AT) -> dict[str, Any]:
    """An approved card sale's notification in the documented shape (API 1.3)."""
    return {
        "merchant_id": "API-QuickCharge", "application_key": "Test-Application", "conversion_rate": "1.000000",
        "customer": {"customer_token": "87cfb23a8f1e68e162c276b754d9c061", "country": "GB", "first_name": "John",
                     "last_name": "Johnson", "avs_alert": 0, "verification_alert": None},
        "session": {"auth_token": "8a7sd87a8sd778ac961062c6bedddb8", "intent": "payment", "session_status": "created",
                    "order_id": order_id, "currency": "EUR", "amount": 100, "conversion_rate": "1.000000",
                    "processed_currency": "EUR", "processed_amount": 100, "payment_method": "Credit Card",
                    "gateway": None, "cid": "1", "variable1": "your variable", "variable2": None, "variable3": None},
        "transaction": {"transaction_type": "sale", "transaction_status": "approved", "tid": 2858,
                        "transaction_id": "57655", "currency": "EUR", "amount": 100, "conversion_rate": "1.000000",
                        "processed_currency": "EUR", "processed_amount": 100, "fee": 0, "fee_included": 0,
                        "fee_type": "flat", "payment_method": "Credit Card", "payment_processor": "TestCardProcessor",
                        "gateway": "s-8Wgqm5a0M6ENw1stFPN9_iIKV2u4fq",
                        "card": {"card_token": "J-4-a0vPhjZ9R75JP98VDUFgbh9y8sYr", "card_type": "VISA",
                                 "card_data_type": "card", "card_number": "411111******1111", "card_exp": "12/2024",
                                 "card_issuer_name": "Bank of Somewhere", "card_issuer_country": "GB"},
                        "wallet": None, "is_async": 0, "is_cascade": 0, "cascade_level": 0, "reference_id": None,
                        "withdrawal_request_id": None, "created_by": "INTERNET", "edited_by": "INTERNET",
                        "status_code": "SC-002", "status_details": "Transaction approved"},
        "version": "1.3", "timestamp": timestamp,
    }


# merchant_id, application_key, timestamp, customer.customer_token, session.order_id, transaction.tid,
# transaction.currency, transaction.amount, transaction.conversion_rate, transaction.processed_currency,
# transaction.processed_amount, then the secret: written out by hand.
EXAMPLE_TEXT = ("API-QuickCharge" "Test-Application" "1590611635" "87cfb23a8f1e68e162c276b754d9c061" "test-1560610955"
                "2858" "EUR" "100" "1.000000" "EUR" "100" + SECRET)
EXAMPLE_SIGNATURE = hashlib.sha384(EXAMPLE_TEXT.encode()).hexdigest()


def adapter(*, merchant: str = "API-QuickCharge", secret: str = SECRET, tolerance: int = 300) -> PraxisProvider:
    return PraxisProvider(ProviderConfig(code="praxis", base_url="https://pci-gw-test.praxispay.com", api_key=merchant,
                                         api_secret=secret, webhook_tolerance_seconds=tolerance,
                                         settings={"application_key": "Test-Application"}))


def at(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def test_the_documented_example_verifies_with_the_hand_computed_signature():
    body = json.dumps(example()).encode()

    message = adapter().verify_webhook({"GT-Authentication": EXAMPLE_SIGNATURE}, body, now=at(SENT_AT + 5))

    assert message.kind == WebhookKind.DEPOSIT_SUCCEEDED and message.merchant_ref == "test-1560610955"
    assert message.amount == Money("1.00", "EUR") and message.provider_ref == "2858"
    assert message.event_id == "2858:approved"


def test_null_fields_are_left_out_of_the_signature():
    doc = example()
    doc["transaction"].update(transaction_status="pending", conversion_rate=None, processed_currency=None,
                              processed_amount=None)
    text = "API-QuickCharge" "Test-Application" "1590611635" "87cfb23a8f1e68e162c276b754d9c061" "test-1560610955" \
           "2858" "EUR" "100" + SECRET
    header = hashlib.sha384(text.encode()).hexdigest()

    message = adapter().verify_webhook({"gt-authentication": header}, json.dumps(doc).encode(), now=at(SENT_AT))

    assert message.kind == WebhookKind.DEPOSIT_PENDING


@pytest.mark.parametrize("tamper", ["header", "amount", "secret", "missing"])
def test_a_bad_signature_is_refused(tamper):
    doc = example()
    header = EXAMPLE_SIGNATURE
    checker = adapter()
    if tamper == "header":
        header = "0" + header[1:] if header[0] != "0" else "1" + header[1:]
    elif tamper == "amount":
        doc["transaction"]["amount"] = 10000  # signed for 100 cents, claims 100.00
    elif tamper == "secret":
        checker = adapter(secret="another-secret")
    headers = {} if tamper == "missing" else {"GT-Authentication": header}

    with pytest.raises(WebhookRefused) as refused:
        checker.verify_webhook(headers, json.dumps(doc).encode(), now=at(SENT_AT))

    assert refused.value.reason == "bad_signature"


def test_a_replay_past_the_tolerance_is_refused_as_stale():
    body = json.dumps(example()).encode()

    with pytest.raises(WebhookRefused) as refused:
        adapter(tolerance=300).verify_webhook({"GT-Authentication": EXAMPLE_SIGNATURE}, body, now=at(SENT_AT + 301))

    assert refused.value.reason == "stale"


def test_the_reply_is_status_zero_signed_over_status_and_timestamp():
    status, body, headers = adapter().webhook_reply(status_code=200)

    reply = json.loads(body)
    assert status == 200 and reply["status"] == 0 and reply["version"] == "1.3"
    expected = hashlib.sha384(f"0{reply['timestamp']}{SECRET}".encode()).hexdigest()
    assert headers["GT-Authentication"] == expected


def test_a_cashier_request_is_signed_over_the_documented_fields():
    doc = {"merchant_id": "API-QuickCharge", "application_key": "Test-Application", "intent": "payment",
           "currency": "EUR", "amount": 100, "cid": "1", "locale": "en-GB", "order_id": "test-1560610955",
           "version": "1.3", "timestamp": SENT_AT}
    text = "API-QuickCharge" "Test-Application" "1590611635" "payment" "1" "test-1560610955" + SECRET

    headers = adapter().signed_headers("POST", "/cashier/cashier", json.dumps(doc).encode())

    assert headers["GT-Authentication"] == hashlib.sha384(text.encode()).hexdigest()


# -- through the endpoint: the one inbox ---------------------------------------------------------------------

@pytest.fixture
def paying(db, praxis_session, settings):  # noqa: F811 - the session's simulator
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    provider = payment_provider_save(code="praxis", name="Praxis Cashier", kind="praxis",
                                     base_url=praxis_session.base_url, api_key=PRAXIS_MERCHANT,
                                     api_secret=PRAXIS_SECRET, settings={"application_key": PRAXIS_APP})
    brand = make_brand()
    payment_method_save(brand=brand, method="card", direction="deposit", provider=provider,
                        currencies=[CurrencyRule("EUR", Decimal("0.5"), None)])
    client = make_client(brand=brand, country="GB", stage=Stage.VERIFIED)
    deposit = deposit_create(client=client, amount=Money("1.00", "EUR"), method="card", return_url="")
    return deposit


def _signed(doc: dict[str, Any]) -> dict[str, str]:
    t = doc["transaction"]
    text = "".join(str(v) for v in (PRAXIS_MERCHANT, PRAXIS_APP, doc["timestamp"], doc["customer"]["customer_token"],
                                    doc["session"]["order_id"], t["tid"], t["currency"], t["amount"],
                                    t["conversion_rate"], t["processed_currency"], t["processed_amount"]))
    return {"GT-Authentication": hashlib.sha384((text + PRAXIS_SECRET).encode()).hexdigest()}


def test_a_replayed_notification_is_a_duplicate_and_a_forged_one_is_refused_through_the_endpoint(paying):
    deposit = paying
    doc = copy.deepcopy(example(order_id=deposit.merchant_ref, timestamp=int(time.time())))
    doc.update(merchant_id=PRAXIS_MERCHANT, application_key=PRAXIS_APP)
    body = json.dumps(doc)
    http = HttpClient()
    url = reverse("wallet_webhook", args=["praxis"])

    first = http.post(url, data=body, content_type="application/json", headers=_signed(doc))
    replay = http.post(url, data=body, content_type="application/json", headers=_signed(doc))
    forged = http.post(url, data=body.replace('"amount": 100,', '"amount": 100000,'), content_type="application/json",
                       headers=_signed(doc))

    assert (first.status_code, replay.status_code, forged.status_code) == (200, 200, 401)
    assert json.loads(first.content)["status"] == 0 and json.loads(forged.content)["status"] == 1
    assert first.headers["GT-Authentication"] == hashlib.sha384(
        f"0{json.loads(first.content)['timestamp']}{PRAXIS_SECRET}".encode()).hexdigest()
    assert sorted(WebhookDelivery.objects.values_list("outcome", flat=True)) == [
        "accepted", "duplicate", "refused:bad_signature"]
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
    assert balance(wallet_account_for(client=deposit.client, currency="EUR")) == Money("1.00", "EUR")
    assert ledger_verify() == {}
