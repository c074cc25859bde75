"""The short middleware path of signed machine-to-machine endpoints (SIGNED_ENDPOINT_PREFIXES): a
provider's webhook is still answered and applied, keeps its request id and security headers, and
never opens a session; a page for people still goes through every middleware."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone, translation

from crm.lib.money import Money
from crm.models import Stage
from tests.factories import make_brand, make_client
from tests.wallet.connectors import (  # noqa: F401 - fixtures
    COINSPAID_KEY,
    COINSPAID_SECRET,
    CoinsPaidConnector,
    capture,
    coinspaid_session,
)
from tests.wallet.test_coinspaid_signature import callback, signed
from wallet.deposits import deposit_create
from wallet.models import DepositStatus

REQUEST_ID = "webhook-test-0001"


@pytest.mark.django_db
def test_a_signed_webhook_is_applied_without_a_session_or_the_page_middleware(
    coinspaid_session: Any, capture: Any, settings: Any  # noqa: F811
) -> None:
    settings.CRM_PUBLIC_URL = capture.base
    brand = make_brand()
    CoinsPaidConnector(coinspaid_session).methods(brand)
    client = make_client(brand=brand, country="DE", stage=Stage.VERIFIED)
    deposit = deposit_create(client=client, amount=Money("100.00", "USD"), method="crypto")
    doc = callback(foreign_id=deposit.merchant_ref, txn_id=91)
    doc["type"] = "deposit_exchange"
    doc["currency_received"] = {"currency": "USD", "amount": "100.00", "amount_minus_fee": "99.70"}
    body, headers = signed(doc, secret=COINSPAID_SECRET, key=COINSPAID_KEY)
    # A previous request on this thread chose a language and a time zone: the webhook does not inherit them.
    translation.activate("de")
    timezone.activate("Asia/Tokyo")
    stores = mock.patch.object(SessionStore, "__init__", autospec=True, side_effect=SessionStore.__init__)

    with stores as opened:
        answer = HttpClient().post(reverse("wallet_webhook", args=["coinspaid"]), data=body,
                                   content_type="application/json",
                                   headers={**headers, "X-Request-ID": REQUEST_ID, "Accept-Language": "de"})

    assert answer.status_code == 200
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
    assert opened.call_count == 0  # the session store was never opened
    assert settings.SESSION_COOKIE_NAME not in answer.cookies
    request = answer.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert answer["X-Request-ID"] == REQUEST_ID
    assert answer["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware's headers stay
    assert "Content-Security-Policy" not in answer and "X-Frame-Options" not in answer
    assert translation.get_language() == settings.LANGUAGE_CODE
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


@pytest.mark.django_db
def test_a_page_still_goes_through_every_middleware(settings: Any) -> None:
    with mock.patch.object(SessionStore, "__init__", autospec=True, side_effect=SessionStore.__init__) as opened:
        page = HttpClient().get(reverse("login"), headers={"X-Request-ID": REQUEST_ID})

    assert page.status_code == 200
    assert opened.call_count >= 1
    request = page.wsgi_request
    assert hasattr(request, "session") and hasattr(request, "user") and hasattr(request, "htmx")
    assert page["X-Request-ID"] == REQUEST_ID
    assert page["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in page and page["X-Frame-Options"] == "DENY"
    assert settings.CSRF_COOKIE_NAME in page.cookies


@pytest.mark.django_db
def test_an_error_on_a_signed_endpoint_keeps_its_shape() -> None:
    answer = HttpClient().get(reverse("wallet_webhook", args=["coinspaid"]), headers={"X-Request-ID": REQUEST_ID})

    assert answer.status_code == 405  # the view only takes POST, as before
    assert answer["X-Request-ID"] == REQUEST_ID
    missing = HttpClient().post("/wallet/webhooks/no/such/path/", data=b"{}", content_type="application/json",
                                headers={"X-Request-ID": REQUEST_ID})
    assert missing.status_code == 404
    assert REQUEST_ID in missing.content.decode()  # the CRM's error page, naming the request
