"""Deals partitioned by month (trading migration 0016): where the sync's rows land, that its replay
is still idempotent, and that a deal whose time the platform edits is still stored once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import connection

from trading.adapters.base import Deal, DealEntry, DealKind, Side
from trading.models import Deal as DealRow
from trading.sync import deals_store

pytestmark = pytest.mark.django_db

UTC = dt.UTC
_ids = itertools.count(7_000_000)
ACCOUNT_TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "USD"}}


@pytest.fixture
def account():
    from tests.factories import make_brand, make_client
    from trading.services import platform_server_save, trading_account_register

    brand = make_brand()
    server = platform_server_save(
        actor=None, manager_password="x-secret-1", brand=brand, name=f"MT5 {brand.code}", kind="mt5_web",
        is_active=True, host="127.0.0.1", port=1, manager_login=1000, account_types=ACCOUNT_TYPES)
    return trading_account_register(actor=None, client=make_client(brand=brand), server=server, login=880_001,
                                    account_type="standard")


def _deal(account, time: dt.datetime, *, deal_id: int | None = None, profit: str = "10") -> Deal:
    return Deal(deal_id=deal_id or next(_ids), login=account.login, time=time,
                platform_time_msc=int(time.timestamp() * 1000), kind=DealKind.TRADE, action=0, entry=DealEntry.OUT,
                side=Side.BUY, position_id=1, order_id=0, symbol="EURUSD", volume=Decimal(1), price=Decimal("1.1"),
                profit=Decimal(profit), commission=Decimal(0), swap=Decimal(0), fee=Decimal(0), comment="", reason=0,
                market_bid=None, market_ask=None, raw={})


def _where(deal_id: int) -> list[tuple[str, dt.datetime]]:
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text, time FROM trading_deal WHERE deal_id = %s", [deal_id])
        return cur.fetchall()


def test_deals_of_two_months_land_in_their_months_partitions(account):
    january, february = _deal(account, dt.datetime(2026, 1, 31, 23, 59, tzinfo=UTC)), \
        _deal(account, dt.datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
    result = deals_store(account.server, [january, february])
    assert result.inserted == 2
    assert _where(january.deal_id) == [("trading_deal_p202601", january.time)]
    assert _where(february.deal_id) == [("trading_deal_p202602", february.time)]


def test_a_deal_from_years_ago_makes_its_month(account):
    old = _deal(account, dt.datetime(2017, 5, 9, 8, 30, tzinfo=UTC))
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('trading_deal_p201705')")
        assert cur.fetchone() == (None,)
    assert deals_store(account.server, [old]).inserted == 1
    assert _where(old.deal_id) == [("trading_deal_p201705", old.time)]


def test_a_replay_stores_nothing_and_an_edit_updates_the_one_row(account):
    deal = _deal(account, dt.datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    assert deals_store(account.server, [deal]).inserted == 1
    first = DealRow.objects.get(deal_id=deal.deal_id)
    again = deals_store(account.server, [deal])
    assert (again.inserted, again.edited) == (0, 0)
    edited = deals_store(account.server, [dataclasses.replace(deal, profit=Decimal("12.5"))])
    assert (edited.inserted, edited.edited) == (0, 1)
    row = DealRow.objects.get(deal_id=deal.deal_id)
    assert (row.pk, row.profit) == (first.pk, Decimal("12.5"))


def test_a_deal_whose_time_the_platform_edits_moves_to_its_new_month_once(account):
    deal = _deal(account, dt.datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    deals_store(account.server, [deal])
    stored = DealRow.objects.get(deal_id=deal.deal_id)
    later = dt.datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    moved = deals_store(account.server, [dataclasses.replace(deal, time=later,
                                                             platform_time_msc=int(later.timestamp() * 1000))])
    assert (moved.inserted, moved.edited) == (0, 1)
    assert _where(deal.deal_id) == [("trading_deal_p202604", later)]
    assert DealRow.objects.get(deal_id=deal.deal_id).pk == stored.pk  # the same deal, its id kept
    # Moved back in one chunk with other deals, and replayed: still one row.
    other = _deal(account, dt.datetime(2026, 3, 2, tzinfo=UTC))
    back = deals_store(account.server, [deal, other])
    assert (back.inserted, back.edited) == (1, 1)
    assert deals_store(account.server, [deal, other]).inserted == 0
    assert _where(deal.deal_id) == [("trading_deal_p202603", deal.time)]


def test_ids_are_unique_across_months_and_the_key_includes_the_time(account):
    deals_store(account.server, [_deal(account, dt.datetime(2025, m, 10, tzinfo=UTC)) for m in range(1, 13)])
    ids = list(DealRow.objects.values_list("pk", flat=True))
    assert len(ids) == len(set(ids)) == 12
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'trading_deal'::regclass "
                    "AND contype = 'p'")
        assert cur.fetchall() == [("PRIMARY KEY (id, \"time\")",)]
        cur.execute("SELECT pg_get_indexdef('deal_unique_per_server'::regclass)")
        assert cur.fetchone()[0].endswith("(server_id, deal_id, \"time\") INCLUDE (content_hash)")
