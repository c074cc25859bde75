"""Paysafe's webhook ``Signature``, checked against vectors computed from the documented algorithm
(digest = HMAC_SHA256(hmacKey, the raw JSON body as UTF-8); signature = base64(digest)), here with
hmac and base64 or with openssl, never with the adapter's own function: an event in the documented
shape, a bad signature (another key, a changed body, a changed header, none, no key configured), a
body re-serialised with the original signature, and a replay through the webhook endpoint (a
duplicate, credited once) beside a forged one (refused)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import Stage
from tests.factories import make_brand, make_client
from tests.wallet.connectors import PAYSAFE_HMAC, PAYSAFE_PASSWORD, PAYSAFE_USER, paysafe_session  # noqa: F401
from wallet.deposits import deposit_create
from wallet.exceptions import WebhookRefused
from wallet.ledger import balance, ledger_verify, wallet_account_for
from wallet.models import DepositStatus, WebhookDelivery
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.providers.base import ProviderConfig, WebhookKind
from wallet.providers.paysafe import PaysafeProvider

KEY = "webhook-hmac-key"
# A PAYMENT_COMPLETED event, byte for byte as signed; its signature computed apart from Python with
#   printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'webhook-hmac-key' -binary | base64
DOCUMENTED_BODY = (
    b'{"id":"7d8b1a2e-4f5c-4e0b-9a8e-2f3c4d5e6f70","type":"PAYMENT","eventType":"PAYMENT_COMPLETED",'
    b'"resourceId":"3f7992f8-f550-42a7-9d9f-1a2b3c4d5e6f","mode":"test","eventDate":"2026-11-28T10:15:30.000Z",'
    b'"attemptNumber":1,"payload":{"id":"3f7992f8-f550-42a7-9d9f-1a2b3c4d5e6f","merchantRefNum":"dep-documented-1",'
    b'"amount":1407,"currencyCode":"USD","paymentType":"SKRILL","status":"COMPLETED",'
    b'"skrill":{"consumerId":"john.doe@example.com"}}}')
DOCUMENTED_SIGNATURE = "SfR99/LvH7oUgu0mhojfdpn2jKwKWWTtl8bJHtbsOmE="


def hand_signed(body: bytes, key: str = KEY) -> str:
    """The documented algorithm written out: base64 of the HMAC-SHA256 digest of the raw body."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def adapter(key: str = KEY) -> PaysafeProvider:
    return PaysafeProvider(ProviderConfig(code="paysafe", base_url="https://api.test.paysafe.com/paymenthub/v1",
                                          api_key="user", api_secret="password", webhook_secret=key))


def test_the_documented_event_verifies_with_the_signature_computed_apart():
    assert hand_signed(DOCUMENTED_BODY) == DOCUMENTED_SIGNATURE  # the two computations agree

    message = adapter().verify_webhook({"Signature": DOCUMENTED_SIGNATURE}, DOCUMENTED_BODY)

    assert message.kind == WebhookKind.DEPOSIT_SUCCEEDED
    assert (message.merchant_ref, message.provider_ref) == ("dep-documented-1", "3f7992f8-f550-42a7-9d9f-1a2b3c4d5e6f")
    assert message.amount == Money("14.07", "USD")
    assert message.event_id == "payment:3f7992f8-f550-42a7-9d9f-1a2b3c4d5e6f:COMPLETED"


def test_the_header_name_is_matched_whatever_its_case():
    message = adapter().verify_webhook({"signature": DOCUMENTED_SIGNATURE}, DOCUMENTED_BODY)

    assert message.kind == WebhookKind.DEPOSIT_SUCCEEDED


@pytest.mark.parametrize("tamper", ["other-key", "body", "header", "missing", "no-key-configured"])
def test_a_bad_signature_is_refused(tamper):
    body, headers, verifier = DOCUMENTED_BODY, {"Signature": DOCUMENTED_SIGNATURE}, adapter()
    if tamper == "other-key":
        headers = {"Signature": hand_signed(body, "another-merchants-key")}
    elif tamper == "body":
        body = body.replace(b'"amount":1407', b'"amount":140700')
    elif tamper == "header":
        headers = {"Signature": DOCUMENTED_SIGNATURE[:-2] + "A="}
    elif tamper == "missing":
        headers = {}
    else:
        verifier = adapter(key="")

    with pytest.raises(WebhookRefused) as refused:
        verifier.verify_webhook(headers, body)

    assert refused.value.reason == "bad_signature"


def test_the_signature_covers_the_raw_bytes_not_the_parsed_json():
    reformatted = json.dumps(json.loads(DOCUMENTED_BODY), indent=2).encode()

    with pytest.raises(WebhookRefused) as refused:
        adapter().verify_webhook({"Signature": DOCUMENTED_SIGNATURE}, reformatted)
    assert refused.value.reason == "bad_signature"
    # Signed as it is sent, the same event in other bytes is believed.
    assert adapter().verify_webhook({"Signature": hand_signed(reformatted)}, reformatted).amount == Money("14.07", "USD")


# -- through the endpoint: the one inbox ---------------------------------------------------------------------

@pytest.fixture
def paying(db: Any, paysafe_session: Any, settings: Any) -> Any:  # noqa: F811 - the session's simulator
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    provider = payment_provider_save(code="paysafe", name="Paysafe", kind="paysafe",
                                     base_url=paysafe_session.base_url + "/paymenthub/v1", api_key=PAYSAFE_USER,
                                     api_secret=PAYSAFE_PASSWORD, webhook_secret=PAYSAFE_HMAC)
    paysafe_session.control("/_sim/config", {"webhook_url": ""})  # nothing sent by itself: the test posts
    brand = make_brand()
    payment_method_save(brand=brand, method="skrill", direction="deposit", provider=provider,
                        currencies=[CurrencyRule("USD", Decimal("1"), None)])
    client = make_client(brand=brand, country="GB", stage=Stage.VERIFIED)
    return deposit_create(client=client, amount=Money("14.07", "USD"), method="skrill", return_url="")


def test_a_replayed_event_is_a_duplicate_and_a_forged_one_is_refused_through_the_endpoint(paying):
    deposit = paying
    body = DOCUMENTED_BODY.replace(b"dep-documented-1", deposit.merchant_ref.encode())
    http = HttpClient()
    url = reverse("wallet_webhook", args=["paysafe"])

    first = http.post(url, data=body, content_type="application/json",
                      headers={"Signature": hand_signed(body, PAYSAFE_HMAC)})
    replay = http.post(url, data=body, content_type="application/json",
                       headers={"Signature": hand_signed(body, PAYSAFE_HMAC)})
    forged = http.post(url, data=body.replace(b'"amount":1407', b'"amount":140700'), content_type="application/json",
                       headers={"Signature": hand_signed(body, PAYSAFE_HMAC)})

    assert (first.status_code, replay.status_code, forged.status_code) == (200, 200, 401)
    assert sorted(WebhookDelivery.objects.values_list("outcome", flat=True)) == [
        "accepted", "duplicate", "refused:bad_signature"]
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
    assert balance(wallet_account_for(client=deposit.client, currency="USD")) == Money("14.07", "USD")
    assert ledger_verify() == {}
