# ruff: noqa: F811 - the portal tests' fixtures are imported as fixtures, then named as arguments
"""The wallet statement: the period's movements between an opening and a closing balance that tie,
as a real PDF, for the client in the trader's room and for finance on the Wallet tab; another client
and an agent get nothing, and a bad period is named."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from crm.lib.money import Money
from crm.models import RoleCode
from tests.factories import make_user
from tests.portal.conftest import (  # noqa: F401 - fixtures
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    registered,
    sign_in,
)
from tests.wallet.support import wire_deposit
from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.statements import statement_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(registered):
    wire = payment_provider_save(code=f"wire-{uuid.uuid4().hex[:6]}", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Test Brokerage Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N",
        "bank_name": "Test Bank", "bank_address": "1 Test Street"})
    payment_method_save(brand=registered.brand, method="bank_wire", direction="deposit", provider=wire,
                        currencies=[CurrencyRule("USD", Decimal("10"), None)], order=10)
    client = registered.client
    wire_deposit(wire, client, "700.00", timezone.now() - dt.timedelta(days=3))
    wire_deposit(wire, client, "300.00", timezone.now() - dt.timedelta(days=1))
    wallet = wallet_account_for(client=client, currency="USD")
    clearing = clearing_account_for(provider=wire.code, currency="USD", brand=client.brand_id)
    ledger_post(key=f"test-wd:{uuid.uuid4()}", kind="withdrawal",
                legs=[Leg(wallet, -Money("250.00", "USD")), Leg(clearing, Money("250.00", "USD"))])
    return registered


def test_the_statement_ties_opening_movements_and_closing(funded):
    today = timezone.localdate()
    whole = statement_build(client=funded.client, currency="USD", start=today - dt.timedelta(days=10), end=today)
    assert whole.opening == Money("0.00", "USD") and whole.closing == Money("750.00", "USD")
    assert [line.transaction.kind for line in whole.lines] == ["deposit", "deposit", "withdrawal"]
    assert whole.money_in == Money("1000.00", "USD") and whole.money_out == Money("-250.00", "USD")
    # Recorded today, all of it: a statement of yesterday alone is empty at zero.
    before = statement_build(client=funded.client, currency="USD", start=today - dt.timedelta(days=10),
                             end=today - dt.timedelta(days=1))
    assert before.lines == [] and before.closing == Money("0.00", "USD")


def test_the_client_downloads_their_statement_and_a_bad_period_is_named(funded, http):
    sign_in(http, funded.brand)
    home = http.get(reverse("portal:wallet")).content.decode()
    assert reverse("portal:wallet_statement") in home
    response = http.get(reverse("portal:wallet_statement"), {"currency": "USD"})
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "Wallet statement" in text and "750.00\u00a0USD" in text and "Withdrawal" in text
    bad = http.get(reverse("portal:wallet_statement"), {"currency": "USD", "from": "2026-05-01", "to": "2026-04-01"})
    assert bad.status_code == 400 and "before its start" in bad.content.decode()


def test_finance_downloads_it_from_the_wallet_tab_and_an_agent_or_stranger_does_not(funded, login_verified):
    finance = HttpClient()
    login_verified(finance, make_user(role_code=RoleCode.FINANCE, brand=funded.brand))
    url = reverse("wallet_client_statement", args=[funded.client.code])
    tab = finance.get(reverse("client_detail", args=[funded.client.code]), {"tab": "wallet"})
    assert url in tab.content.decode()
    pdf = finance.get(url, {"currency": "USD"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")

    agent = HttpClient()
    agent.force_login(make_user(role_code=RoleCode.SALES_AGENT, brand=funded.brand))
    assert agent.get(url).status_code == 404
    assert HttpClient().get(reverse("portal:wallet_statement")).status_code == 302  # no client session
