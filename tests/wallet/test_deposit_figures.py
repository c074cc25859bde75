"""The wallet's deposit figures that compliance's risk score reads: credited deposits only, per
currency, from a date, and the distinct payment methods used."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from crm.lib.money import Money
from tests.factories import make_brand, make_client
from wallet.demo import demo_wire_deposit, demo_wire_methods, demo_wire_provider
from wallet.selectors import deposit_figures_for_client

pytestmark = pytest.mark.django_db


def test_the_figures_count_credited_deposits_per_currency_from_a_date():
    brand = make_brand()
    client, other = make_client(brand=brand, country="GB"), make_client(brand=brand, country="GB")
    wire = demo_wire_provider()
    demo_wire_methods(brand=brand, wire=wire)
    now = timezone.now()
    with time_machine.travel(now - dt.timedelta(days=400)):
        demo_wire_deposit(provider=wire, client=client, amount=Money("1000", "USD"),
                          at=now - dt.timedelta(days=400), n=1)
    demo_wire_deposit(provider=wire, client=client, amount=Money("2500", "USD"), at=now, n=2)
    demo_wire_deposit(provider=wire, client=client, amount=Money("300", "EUR"), at=now, n=3)
    demo_wire_deposit(provider=wire, client=client, amount=Money("9000", "USD"), at=now, n=4, succeeded=False)
    demo_wire_deposit(provider=wire, client=other, amount=Money("700", "USD"), at=now, n=5)

    everything = deposit_figures_for_client(client_id=client.pk)
    assert everything.totals == {"USD": Decimal("3500"), "EUR": Decimal("300")}
    assert (everything.count, everything.methods) == (3, 1)
    last_year = deposit_figures_for_client(client_id=client.pk, since=now - dt.timedelta(days=365))
    assert last_year.totals == {"USD": Decimal("2500"), "EUR": Decimal("300")} and last_year.count == 2
