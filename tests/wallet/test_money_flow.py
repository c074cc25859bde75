"""Finance's money-flow page: deposits per provider and day from the payment's own time, in one
currency at a time, for the clients finance may see; an agent does not get the page."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user
from tests.wallet.support import wire_deposit
from wallet.flows import money_flows
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

pytestmark = pytest.mark.django_db


def _wire(brand, name="Bank wire"):
    wire = payment_provider_save(code=f"wire-{uuid.uuid4().hex[:6]}", name=name, kind="bank_wire", settings={
        "beneficiary": "Test Brokerage Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N",
        "bank_name": "Test Bank", "bank_address": "1 Test Street"})
    payment_method_save(brand=brand, method="bank_wire", direction="deposit", provider=wire,
                        currencies=[CurrencyRule("USD", Decimal("10"), None), CurrencyRule("EUR", Decimal("10"), None)],
                        order=10)
    return wire


def test_deposits_count_on_the_day_the_provider_took_the_money(db):
    brand = make_brand()
    wire = _wire(brand)
    client = make_client(brand=brand, country="DE")
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand)
    today = timezone.localdate()
    three_days_ago = timezone.now() - dt.timedelta(days=3)
    wire_deposit(wire, client, "100.00", three_days_ago)
    wire_deposit(wire, client, "50.00", three_days_ago)
    wire_deposit(wire, client, "70.00", timezone.now() - dt.timedelta(days=60))  # outside 30 days

    flows = money_flows(user=finance, days=30)

    assert flows.currency == "USD" and [s.label for s in flows.deposits] == ["Bank wire"]
    series = flows.deposits[0]
    assert series.total.amount == Decimal("150.00") and series.count == 2
    assert series.data[flows.days.index(today - dt.timedelta(days=3))] == 150.0
    # Another brand's finance officer sees none of it.
    assert money_flows(user=make_user(role_code=RoleCode.FINANCE, brand=make_brand()), days=30).deposits == []


def test_finance_opens_the_page_and_an_agent_does_not(client, login_verified):
    brand = make_brand()
    wire = _wire(brand)
    customer = make_client(brand=brand, country="DE")
    wire_deposit(wire, customer, "100.00", timezone.now() - dt.timedelta(days=1))
    url = reverse("wallet_money_flow")

    assert client.get(url).status_code == 302
    login_verified(client, make_user(role_code=RoleCode.FINANCE, brand=brand))
    page = client.get(url, {"days": "7", "currency": "usd"})
    assert page.status_code == 200
    data = json.loads(page.text.split('id="flow-chart-data" type="application/json">')[1].split("</script>")[0])
    assert data["currency"] == "USD" and data["deposits"][0]["label"] == "Bank wire" and len(data["labels"]) == 7
    assert "100.00\u00a0USD" in page.text  # the money format, its code kept with it
    # No withdrawal was paid: the page says so instead of an empty chart.
    assert 'data-flow-empty="withdrawals"' in page.text and 'id="flow-withdrawals"' not in page.text
    assert 'id="flow-deposits"' in page.text

    # A period or currency the page cannot show is named, and the page shows the default instead.
    bad = client.get(url, {"days": "abc", "currency": "usd"})
    assert bad.status_code == 400 and 'data-problem="days"' in bad.text and 'id="flow-deposits"' in bad.text
    unknown = client.get(url, {"days": "7", "currency": "JPY"})
    assert unknown.status_code == 400 and "No money moved in JPY in this period." in unknown.text
    assert '<option value="USD" selected>' in unknown.text

    client.logout()
    client.force_login(make_user(role_code=RoleCode.SALES_AGENT, brand=brand))
    assert client.get(url).status_code == 404
