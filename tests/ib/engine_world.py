"""A three-level partner tree with clients, trading accounts and plans, built through the services,
and helpers to feed deals through the sync's own upsert (trading.sync.deals_store)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from ib import commissions as cs

UTC = dt.UTC
MARCH = dt.date(2024, 3, 1)
APRIL = dt.date(2024, 4, 1)
ACCOUNT_TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "USD"},
                 "euro": {"label": "Euro", "group": "real\\euro", "leverages": [100], "currency": "EUR"}}
_ids = itertools.count(1_000_000)
_logins = itertools.count(500_000)


def t(day: int, hour: int = 10, minute: int = 0, second: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute, second, tzinfo=UTC)


def make_world(*, plan_rules: list[dict[str, Any]] | None = None, **version: Any) -> SimpleNamespace:
    """Master → Sub → Leaf; one client of Leaf with a USD account; EURUSD (contract 100 000) in
    group fx (100 000 units a lot); plan "Standard" (USD) assigned to the three partners."""
    from ib import services
    from tests.factories import make_brand
    from trading.services import platform_server_save

    brand = make_brand()
    master = services.partner_create(actor=None, brand=brand, display_name="Master", email="m@ib.example")
    sub = services.partner_create(actor=None, brand=brand, display_name="Sub", email="s@ib.example", parent=master)
    leaf = services.partner_create(actor=None, brand=brand, display_name="Leaf", email="l@ib.example", parent=sub)
    server = platform_server_save(
        actor=None, manager_password="x-secret-1", brand=brand, name=f"MT5 {brand.code}", kind="mt5_web",
        is_active=True, host="127.0.0.1", port=1, manager_login=1000, account_types=ACCOUNT_TYPES)
    fx = cs.instrument_group_save(actor=None, brand=brand, code="fx", units_per_lot="100000")
    metals = cs.instrument_group_save(actor=None, brand=brand, code="metals", units_per_lot="100")
    cs.instrument_save(actor=None, brand=brand, symbol="EURUSD", group=fx, contract_size="100000")
    cs.instrument_save(actor=None, brand=brand, symbol="XAUUSD", group=metals, contract_size="100")
    plan = cs.plan_create(actor=None, brand=brand, name="Standard", currency="USD")
    rules = plan_rules if plan_rules is not None else [
        {"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"]}]
    version.setdefault("min_hold_seconds", 60)
    v1 = cs.plan_version_record(actor=None, plan=plan, effective_from=t(1, 0, month=1), rules=rules,
                                recorded_at=t(1, 0, month=1), **version)
    for partner in (master, sub, leaf):
        cs.plan_assign(actor=None, plan=plan, partner=partner, effective_from=t(1, 0, month=1))
    world = SimpleNamespace(brand=brand, master=master, sub=sub, leaf=leaf, server=server, plan=plan, v1=v1,
                            fx=fx, services=services)
    world.client = add_client(world, leaf)
    world.account = add_account(world, world.client)
    return world


def add_client(world: SimpleNamespace, partner: Any, country: str = "DE") -> Any:
    from tests.factories import make_client

    client = make_client(brand=world.brand, country=country)
    world.services.client_attribution_import(actor=None, client=client, partner=partner, touched_at=t(1, 0, month=1))
    return client


def add_account(world: SimpleNamespace, client: Any, account_type: str = "standard") -> Any:
    from trading.services import trading_account_register

    return trading_account_register(actor=None, client=client, server=world.server, login=next(_logins),
                                    account_type=account_type)


def deal(account: Any, *, time: dt.datetime, entry: str, side: str, position: int, volume: str,
         symbol: str = "EURUSD", profit: str = "0", commission: str = "0", deal_id: int | None = None,
         bid: str | None = None, ask: str | None = None, swap: str = "0", fee: str = "0",
         spread: str | None = None) -> Any:
    from trading.adapters.base import Deal, DealEntry, DealKind, Side

    return Deal(deal_id=deal_id or next(_ids), login=account.login, time=time,
                platform_time_msc=int(time.timestamp() * 1000), kind=DealKind.TRADE, action=0 if side == "buy" else 1,
                entry=DealEntry(entry), side=Side(side), position_id=position, order_id=0, symbol=symbol,
                volume=Decimal(volume), price=Decimal("1.1"), profit=Decimal(profit), commission=Decimal(commission),
                swap=Decimal(swap), fee=Decimal(fee), comment="", reason=0,
                market_bid=Decimal(bid) if bid else None, market_ask=Decimal(ask) if ask else None, raw={},
                market_spread=Decimal(spread) if spread else None)


def round_trip(account: Any, *, opened: dt.datetime, closed: dt.datetime, side: str = "buy", volume: str = "1",
               position: int | None = None, **close: Any) -> list[Any]:
    position = position or next(_ids)
    other = "sell" if side == "buy" else "buy"
    return [deal(account, time=opened, entry="in", side=side, position=position, volume=volume),
            deal(account, time=closed, entry="out", side=other, position=position, volume=volume, **close)]


def store(world: SimpleNamespace, deals: list[Any]) -> None:
    from trading.sync import deals_store

    deals_store(world.server, deals)


def totals(run: Any) -> dict[str, Decimal]:
    return {t.partner: t.payable for t in cs.run_totals(run)}


def deltas(run: Any) -> dict[str, Decimal]:
    return {t.partner: t.delta for t in cs.run_totals(run)}
