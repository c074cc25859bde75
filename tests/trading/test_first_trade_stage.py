"""The first trade synchronised from a live account makes the client active (crm.models.stages); a demo
account's trades prove nothing."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

from crm.events import dispatch_pending
from crm.models import Event, Stage
from tests.trading.crm_fixtures import _fresh_adapters, events, open_account, world  # noqa: F401 - fixtures
from trading import sync


def _trade(world, account_type: str) -> None:
    open_account(world, account_type=account_type, persona="scalper")
    sync.deals_sync(world.server.pk, force=True)
    world.sim.advance(seconds=3600)
    sync.deals_sync(world.server.pk, force=True)
    assert len(events("trading.first_trade", client=world.client)) == 1
    dispatch_pending()
    world.client.refresh_from_db()


def test_the_first_trade_on_a_live_account_makes_a_funded_client_active(world):
    assert world.client.stage == Stage.FUNDED
    _trade(world, "standard")
    assert world.client.stage == Stage.ACTIVE
    moved = Event.objects.filter(client=world.client, name="client.stage_changed").latest("id")
    assert (moved.data["from"], moved.data["to"], moved.data["via"]) == ("funded", "active", "trading.first_trade")


def test_a_demo_accounts_first_trade_leaves_the_stage_alone(world):
    _trade(world, "demo")
    assert world.client.stage == Stage.FUNDED
