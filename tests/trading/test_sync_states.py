"""Account state sync against the simulator: money and positions land on the accounts, and margin
calls make exactly one alert per episode, with hysteresis."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

from decimal import Decimal

from crm.events import dispatch_pending
from crm.models import Notification
from tests.trading.crm_fixtures import _fresh_adapters, events, open_account, world  # noqa: F401 - fixtures
from trading import sync
from trading.models import Position, TradingAccount


def _states(world) -> sync.SyncResult:
    return sync.account_states_sync(world.server.pk, force=True)


def _truth_account(world, login: int) -> dict:
    return next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == login)


def test_states_sync_stores_money_and_open_positions(world):
    account = open_account(world, deposit="5000")
    position = world.sim.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy",
                                                 "volume": "0.5"})
    result = _states(world)
    assert result.status == "ok"
    account.refresh_from_db()
    truth = _truth_account(world, account.login)
    assert account.balance == Decimal(truth["Balance"])
    assert account.equity == Decimal(truth["Equity"])
    assert account.margin == Decimal(truth["Margin"])
    assert account.margin_level == Decimal(truth["MarginLevel"])
    assert account.last_synced_at is not None
    stored = Position.objects.get(account=account)
    assert stored.position_id == int(position["Position"])
    assert stored.volume == Decimal("0.5")

    world.sim.control("/_sim/close", {"position": stored.position_id})
    _states(world)
    assert not Position.objects.filter(account=account).exists()  # closed positions go away
    account.refresh_from_db()
    assert account.margin_level is None  # no margin used


def test_one_margin_alert_per_episode_with_hysteresis(world):
    account = open_account(world, deposit="1000", leverage=100)
    opened = world.sim.control("/_sim/trade", {"login": account.login, "symbol": "USDJPY", "action": "buy",
                                               "volume": "1", "check_margin": False})
    open_price = Decimal(opened["PriceOpen"])

    def move_to(level_range: tuple[int, int], offset: str) -> None:
        bid = open_price + Decimal(offset)
        world.sim.control("/_sim/prices", {"quotes": {"USDJPY": {"bid": str(bid), "ask": str(bid + Decimal("0.02"))}}})
        level = Decimal(_truth_account(world, account.login)["MarginLevel"])
        assert level_range[0] <= level <= level_range[1], level  # the scenario is what it claims to be
        _states(world)

    move_to((60, 95), "-0.45")  # below 100 %: the episode starts
    move_to((60, 95), "-0.40")  # still in it: no new alert
    move_to((105, 140), "0.35")  # above the entry level but not past 150 %: still the same episode
    assert len(events("trading.margin_call_entered", client=world.client)) == 1
    assert events("trading.margin_call_left") == []
    account.refresh_from_db()
    assert account.margin_call_since is not None

    move_to((160, 400), "1.20")  # past 150 %: the episode ends
    assert len(events("trading.margin_call_left", client=world.client)) == 1
    move_to((60, 95), "-0.45")  # a new episode, a new alert
    assert len(events("trading.margin_call_entered", client=world.client)) == 2

    dispatch_pending()
    alerts = Notification.objects.filter(kind="trading_margin_call")
    assert sorted(alerts.values_list("user_id", flat=True)) == sorted([world.owner.pk, world.dealer.pk] * 2)
    assert not alerts.filter(user=world.colleague).exists()


def test_dealers_of_other_brands_are_not_alerted(world):
    from tests.factories import make_brand, make_user

    other_dealer = make_user(role_code="dealer", brand=make_brand())
    account = open_account(world, deposit="1000", leverage=100)
    opened = world.sim.control("/_sim/trade", {"login": account.login, "symbol": "USDJPY", "action": "buy",
                                               "volume": "1", "check_margin": False})
    bid = Decimal(opened["PriceOpen"]) - Decimal("0.45")
    world.sim.control("/_sim/prices", {"quotes": {"USDJPY": {"bid": str(bid), "ask": str(bid + Decimal("0.02"))}}})
    _states(world)
    dispatch_pending()
    assert Notification.objects.filter(kind="trading_margin_call", user=world.dealer).exists()
    assert not Notification.objects.filter(user=other_dealer).exists()


def test_archived_accounts_are_not_polled(world):
    account = open_account(world, deposit="700")
    TradingAccount.objects.filter(pk=account.pk).update(is_archived=True, balance=Decimal("1"))
    assert _states(world).accounts == 0
    account.refresh_from_db()
    assert account.balance == Decimal("1")
