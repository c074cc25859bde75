"""The wallet's selector agent monitoring's performance page reads: succeeded deposits per owner of
the client, per day and currency, with the first deposits counted apart."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from crm.models import RoleCode, Stage
from tests.factories import make_client, make_desk, make_user
from tests.wallet.test_deposits import _pay, world  # noqa: F401  (the fixture)
from wallet.selectors import owner_deposit_days


def test_it_counts_an_owners_deposits_and_ftds_per_day(world):  # noqa: F811
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=world.brand))
    mine = make_client(actor=agent, brand=world.brand, country="DE", stage=Stage.VERIFIED)
    world.deliver(_pay(world, client=mine))
    world.deliver(_pay(world, amount="50.00", method="ewallet", client=mine))
    world.deliver(_pay(world))  # someone else's client (no owner)
    now = timezone.now()
    found = owner_deposit_days(owner_ids=[agent.pk], start=now - timedelta(days=1), end=now + timedelta(days=1))
    [(key, day)] = found.items()
    assert key[0] == agent.pk and key[2] == "USD"
    assert (day.deposits, day.ftds, day.amount) == (2, 1, Decimal("150.00"))
