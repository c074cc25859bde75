"""Hostile money input at every edge of the wallet: the trader's room's money forms and checks, the
statement's dates, and the public webhooks of the PSPs and the KYC vendors. NaN, infinities, 1e400,
40 digits, unknown and metal currencies, NUL and dates at the end of the calendar: each is refused
with a 4xx naming the problem, never a 500, and nothing is half-written."""
# ruff: noqa: F811 - pytest fixtures imported from the portal's conftest are redefined as arguments

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money
from kyc.models import VendorEvent
from portal.models import ClientLogin
from portal.services import portal_email_verify, verification_token
from tests.portal.conftest import (  # noqa: F401 - fixtures
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    sign_in,
)
from tests.wallet.conftest import WEBHOOK_SECRET
from tests.wallet.support import signed_webhook
from tests.wallet.withdrawal_support import build_world
from wallet.ledger import available, wallet_account_for
from wallet.models import Deposit, WebhookDelivery, Withdrawal
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

AMOUNTS = ["NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "9" * 28, "9" * 38, "9" * 40, "\x00",
           "1\x00", "1e-400"]
CURRENCIES = ["ZZZ", "XAU", "XAG", "XDR", "XXX", "U\x00SD"]
DATES = ["9999-12-31", "0001-01-01", "\x00", "2026-02-30", "x" * 500]


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(brand, register, http):
    response = register(brand, email="nadia.hassan@example.com")
    assert response.status_code == 302
    login = ClientLogin.objects.get(email_hash=keyed_hash("nadia.hassan@example.com", kind="email"))
    portal_email_verify(token=verification_token(login))
    world = build_world(brand=brand, client=login.client)
    payment_method_save(brand=brand, method="card", direction="deposit", provider=world.provider, order=10,
                        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))])
    assert sign_in(http, brand).status_code == 302
    http.raise_request_exception = False  # a 500 is answered, so that one run lists them all
    return world


def _no_500(wrong, label, response):
    if response.status_code >= 500:
        wrong.append(f"{label}: {response.status_code}")
    return response


def test_the_withdrawal_check_names_every_hostile_amount_and_currency(world, http):
    wrong: list[str] = []
    url = reverse("portal:withdraw_check")
    method = str(world.card.code)
    for amount in AMOUNTS:
        for currency in ["USD", *CURRENCIES]:
            response = _no_500(wrong, f"check {amount!r} {currency!r}", http.get(url, {
                "amount": amount, "currency": currency, "method": method}))
            if response.status_code == 200 and b"data-code=\"invalid_" not in response.content:
                wrong.append(f"check {amount!r} {currency!r}: not refused by name")
    for currency in CURRENCIES:
        response = _no_500(wrong, f"check 10 {currency!r}", http.get(url, {"amount": "10", "currency": currency}))
        # NUL anywhere in a request is refused (422) by the middleware before the view, by name.
        if response.status_code != 422 and b'data-code="invalid_currency"' not in response.content:
            wrong.append(f"check 10 {currency!r}: the currency is not named")
    assert not wrong, "\n".join(wrong)
    page = http.get(url, {"amount": "NaN", "currency": "USD"}).content.decode()
    assert "“NaN” (not a number) is not an amount." in page
    assert "XAU is not cash" in http.get(url, {"amount": "10", "currency": "XAU"}).content.decode()
    assert "too large" in http.get(url, {"amount": "9" * 28, "currency": "USD"}).content.decode()


def test_a_refused_withdrawal_or_deposit_amount_is_named_beside_its_field_and_nothing_is_held(world, http):
    wrong: list[str] = []
    for amount in AMOUNTS:
        for currency in ["USD", "XAU", "ZZZ"]:
            response = _no_500(wrong, f"withdraw {amount!r} {currency}", http.post(reverse("portal:withdraw"), {
                "currency": currency, "amount": amount, "method": str(world.card.code), "destination": "4242"}))
            if response.status_code not in (400, 422):  # 422: NUL, refused by name before the view
                wrong.append(f"withdraw {amount!r} {currency}: {response.status_code}")
            response = _no_500(wrong, f"deposit {amount!r} {currency}", http.post(reverse("portal:wallet_deposit_new"), {
                "action": "pay", "currency": currency, "amount": amount, "method": "card"}))
            if response.status_code not in (400, 422):
                wrong.append(f"deposit {amount!r} {currency}: {response.status_code}")
    assert not wrong, "\n".join(wrong)
    response = http.post(reverse("portal:wallet_deposit_new"), {"action": "pay", "currency": "USD",
                                                                 "amount": "9" * 28, "method": "card"})
    assert "The amount is too large" in response.content.decode()
    assert not Withdrawal.objects.filter(client=world.client).exists()
    assert not Deposit.objects.filter(client=world.client).exists()
    assert available(wallet_account_for(client=world.client, currency="USD")) == Money("1000", "USD")


def test_a_statement_for_dates_at_the_end_of_the_calendar_is_refused_by_name(world, http):
    wrong: list[str] = []
    for date in DATES:
        for query in ({"from": date, "to": date}, {"from": "2026-01-01", "to": date}, {"from": date}):
            response = _no_500(wrong, f"statement {query}", http.get(reverse("portal:wallet_statement"), query))
            if response.status_code not in (400, 422):
                wrong.append(f"statement {query}: {response.status_code}")
    for currency in CURRENCIES:
        response = _no_500(wrong, f"statement {currency!r}", http.get(reverse("portal:wallet_statement"),
                                                                       {"currency": currency}))
    assert not wrong, "\n".join(wrong)
    refused = http.get(reverse("portal:wallet_statement"), {"from": "9999-12-31", "to": "9999-12-31"})
    assert "Give a date between 1900-01-01 and 2999-12-31." in refused.content.decode()


def _post(path, headers, body):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    return HttpClient(raise_request_exception=False).post(path, data=body, content_type="application/json", **extra)


def test_a_nul_byte_in_any_public_webhook_is_refused_and_kept_in_the_inbox(world):
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1")
    hostile = body[:20] + b"\x00" + body[20:]
    for path in (f"/wallet/webhooks/{world.provider.code}/", "/wallet/webhooks/nobody/"):
        response = _post(path, headers, hostile)
        assert response.status_code in (400, 404), (path, response.status_code)
    refused = WebhookDelivery.objects.get(provider=world.provider)
    assert refused.outcome == "refused:malformed" and refused.detail == "the body contains a NUL byte"
    assert "\x00" not in refused.body and "\ufffd" in refused.body
    assert _post(f"/wallet/webhooks/{world.provider.code}/", headers, hostile).json()["detail"] == \
        "the body contains a NUL byte"
    # A JSON escape that decodes to NUL inside the verified notification is refused the same way.
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-\\u0000")
    escaped = _post(f"/wallet/webhooks/{world.provider.code}/", headers, body.replace(b"dep-\\\\u0000", b"dep-\\u0000"))
    assert escaped.status_code in (400, 401)
    for vendor in ("kycsim", "builtin", "nobody"):
        response = _post(f"/kyc/vendors/{vendor}/webhook/", {"X-Kyc-Event-Id": "e1"}, b'{"id": "\x00"}')
        assert response.status_code in (400, 404), (vendor, response.status_code)
    assert VendorEvent.objects.count() == 3 and all("\x00" not in e.body for e in VendorEvent.objects.all())


def test_a_post_to_a_provider_that_sends_no_webhooks_is_refused_by_name(world, brand):
    wire = payment_provider_save(code="bank-wire", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Broker Ltd", "iban": "GB33BUKB20201555555555", "bic": "BUKBGB22", "bank_name": "Bank"})
    response = _post(f"/wallet/webhooks/{wire.code}/", {}, b'{"id": "x"}')
    assert response.status_code == 400 and "no webhooks" in response.json()["detail"]
    assert WebhookDelivery.objects.get(provider=wire).outcome == "refused:malformed"


@pytest.mark.parametrize("amount", ["1e400", "9" * 38, "NaN", "Infinity", "-1e400"])
@pytest.mark.parametrize("as_number", [False, True])
def test_a_signed_webhook_with_an_amount_no_column_holds_is_refused_by_name_and_recorded(world, amount, as_number):
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1", data={"amount": amount})
    if as_number and amount[0].isdigit():  # as a JSON number: 1e400 parses as infinity, 38 nines as an int
        body = body.replace(f'"amount":"{amount}"'.encode(), f'"amount":{amount}'.encode())
        headers, body = _resigned(headers, body)
    response = _post(f"/wallet/webhooks/{world.provider.code}/", headers, body)
    assert response.status_code == 400, response.content
    assert "amount" in response.json()["detail"]
    [row] = WebhookDelivery.objects.filter(provider=world.provider)
    assert row.outcome == "refused:malformed" and row.signature_ok


def _resigned(headers, body):
    import hashlib
    import hmac

    ts = headers["X-Psp-Timestamp"]
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{ts}.{body.decode()}".encode(), hashlib.sha256).hexdigest()
    return {**headers, "X-Psp-Signature": signature}, body
