"""The demo partner tree's month of commissions (ib/demo_commissions.py, `ib_seed_demo_commissions`)
and the live refresh that turns new deals into commission lines (ib.tasks.commissions_live)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Stage
from ib import selectors, settlement
from ib.demo import LOGIN_EMAIL
from ib.models import (
    ClientAttribution,
    CommissionLine,
    CommissionRun,
    CommissionSettlement,
    Partner,
    PartnerPayout,
)
from tests.factories import make_brand, make_client
from trading.adapters.base import Deal, DealEntry, DealKind, Side
from trading.models import Deal as DealRow
from trading.models import PlatformServer

ACCOUNT_TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "USD"}}
_logins = itertools.count(810_001)


def _command(name: str) -> str:
    out = StringIO()
    call_command(name, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(db):
    """The Atlas brand with eight funded clients who joined 70 days ago, the demo tree seeded
    (`ib_seed_demo`), and a trading account for each attributed client (as `trading_demo_setup`
    opens them, here registered: no simulator is needed for the history)."""
    from trading.services import platform_server_save, trading_account_register

    # Back to the real clock afterwards: the deals' first_seen_at is the database's clock.
    with time_machine.travel(timezone.now() - dt.timedelta(days=70)):
        brand = make_brand(code="atlas")
        for _ in range(8):
            make_client(brand=brand, stage=Stage.FUNDED)
    first = _command("ib_seed_demo")
    server = platform_server_save(
        actor=None, manager_password="x-secret-1", brand=brand, name="MT5 demo", kind="mt5_web", is_active=True,
        host="127.0.0.1", port=1, manager_login=1000, account_types=ACCOUNT_TYPES)
    accounts = [trading_account_register(actor=None, client=a.client, server=server, login=next(_logins),
                                         account_type="standard")
                for a in ClientAttribution.objects.select_related("client").order_by("pk")]
    return brand, server, accounts, first


def _figures() -> dict[str, Any]:
    master = Partner.objects.get(contact_email_hash__in=keyed_hashes(LOGIN_EMAIL, kind="email"))
    earnings = selectors.partner_earnings(master)
    return {"deals": DealRow.objects.count(), "lines": CommissionLine.objects.count(),
            "runs": CommissionRun.objects.count(), "settlements": CommissionSettlement.objects.count(),
            "payouts": list(PartnerPayout.objects.values_list("partner_id", "amount", "state")),
            "pending": earnings.pending, "payable": earnings.payable}


def test_seeding_the_demo_commissions_twice_adds_nothing(demo):
    _brand, _server, accounts, first = demo
    assert len(accounts) == 8
    assert "4 plan assignments" in first and "historical deals" not in first  # before the trading demo
    out = _command("ib_seed_demo_commissions")
    assert "historical deals" in out and "commission runs" in out
    before = _figures()
    again = _command("ib_seed_demo_commissions")
    assert "nothing new" in again
    assert _figures() == before
    assert before["deals"] > 100 and before["settlements"] > 0
    # A partner paid by bank asked for half of its payable balance: waiting in finance's queue.
    [(partner_id, amount, state)] = before["payouts"]
    assert state == "requested" and amount == amount.to_integral_value() and amount > 0
    [balance] = settlement.payable_balances(Partner.objects.get(pk=partner_id))
    assert balance.held.amount == amount and balance.available.amount >= amount


def test_the_demo_partner_earns_from_its_own_and_its_sub_ibs_clients(demo):
    _command("ib_seed_demo_commissions")
    master = Partner.objects.get(contact_email_hash__in=keyed_hashes(LOGIN_EMAIL, kind="email"))
    earnings = selectors.partner_earnings(master)  # what the partner portal's dashboard shows
    assert [a.currency for a in earnings.payable] == ["USD"] and earnings.payable[0].amount > 0
    lines = list(selectors.partner_lines(master))
    assert {line.level for line in lines} >= {0, 1, 2}  # own clients, sub-IBs' and the sub-sub-IB's
    line = next(line for line in lines if line.level == 2)
    why = selectors.partner_line_explanation(master, line.key)
    assert why is not None and why.deal is not None  # the deal it was paid on, with its account
    assert why.deal.pk == line.source_id and why.deal.account_id == line.account_id
    assert why.lots is not None and why.lots > 0 and [p.display_name for p in why.path][0] == master.display_name
    runs = CommissionRun.objects.filter(brand__code="atlas").order_by("period")
    assert runs.count() == 2 and runs[0].settlements.exists() and not runs[1].settlements.exists()


def test_the_live_refresh_turns_a_new_deal_into_commission_lines(demo):
    from ib.tasks import commissions_live
    from trading.sync import deals_store

    _brand, server, accounts, _first = demo
    _command("ib_seed_demo_commissions")
    account = accounts[0]
    partner = ClientAttribution.objects.get(client_id=account.client_id).partner
    now = timezone.now()
    deals = [Deal(deal_id=77_000_000 + i, login=account.login, time=when, platform_time_msc=int(when.timestamp() * 1000),
                  kind=DealKind.TRADE, action=action, entry=entry, side=side, position_id=77_000_000, order_id=0,
                  symbol="XAUUSD", volume=Decimal("2"), price=Decimal("2350"), profit=Decimal("0"),
                  commission=Decimal("0"), swap=Decimal("0"), fee=Decimal("0"), comment="", reason=0,
                  market_bid=None, market_ask=None, raw={})
             for i, (when, action, entry, side) in enumerate((
                 (now - dt.timedelta(minutes=3), 0, DealEntry.IN, Side.BUY),
                 (now - dt.timedelta(minutes=1), 1, DealEntry.OUT, Side.SELL)))]
    deals_store(server, deals)
    closing = DealRow.objects.get(server=server, deal_id=77_000_001)
    assert not selectors.partner_lines(partner).filter(source_kind="deal", source_id=closing.pk).exists()
    commissions_live()
    line = selectors.partner_lines(partner).get(source_kind="deal", source_id=closing.pk)
    assert line.level == 0 and line.amount == Decimal("8")  # 2 lots of gold at 4 USD a lot, own client
    assert PlatformServer.objects.count() == 1
