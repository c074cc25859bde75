"""trading.selectors.active_client_count: the "active clients" of a period that other apps' monthly
forms print (the complaints register's export): distinct clients of the brand with a live trade deal
in the period, never a demo account's."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt

from tests.factories import make_brand
from tests.trading.crm_fixtures import _fresh_adapters, open_account, sim_now, world  # noqa: F401 - fixtures
from trading import sync
from trading.selectors import active_client_count


def _trade(world, account_type: str) -> None:
    open_account(world, account_type=account_type, persona="scalper")
    sync.deals_sync(world.server.pk, force=True)
    world.sim.advance(seconds=3600)
    sync.deals_sync(world.server.pk, force=True)


def _window(world) -> tuple[dt.datetime, dt.datetime]:
    """Forty days either side of the simulator's clock (its deals carry its time, not ours)."""
    now = sim_now(world.sim)
    return now - dt.timedelta(days=40), now + dt.timedelta(days=40)


def test_a_client_trading_on_two_live_accounts_counts_once(world):
    start, end = _window(world)
    assert active_client_count(brand_id=world.brand.pk, start=start, end=end) == 0
    _trade(world, "standard")
    _trade(world, "pro")
    assert active_client_count(brand_id=world.brand.pk, start=start, end=end) == 1


def test_demo_trades_another_brand_and_another_period_do_not_count(world):
    _trade(world, "demo")
    start, end = _window(world)
    assert active_client_count(brand_id=world.brand.pk, start=start, end=end) == 0
    _trade(world, "standard")
    other = make_brand(code="other-active", name="Other")
    assert active_client_count(brand_id=other.pk, start=start, end=end) == 0
    assert active_client_count(brand_id=world.brand.pk, start=start - dt.timedelta(days=400),
                               end=start - dt.timedelta(days=300)) == 0

