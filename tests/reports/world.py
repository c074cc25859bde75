"""The reporting tests' world, built through the services: two brands, two desks of brand A with a
manager, agents, clients in three countries; bank-wire deposits in USD and EUR (the wallet's
webhook path), a withdrawal approved and paid, and deals stored through the sync's own upsert."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from crm.events import dispatch_pending
from crm.lib.money import Money
from crm.models import RoleCode
from tests.factories import make_brand, make_desk, make_user

ACCOUNT_TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "USD"},
                 "euro": {"label": "Euro", "group": "real\\euro", "leverages": [100], "currency": "EUR"}}
_ids = itertools.count(7_000_000)
_logins = itertools.count(800_000)


def deal(account: Any, *, time: dt.datetime, entry: str, side: str, position: int, volume: str,
         symbol: str = "EURUSD", profit: str = "0", commission: str = "0", swap: str = "0") -> Any:
    from trading.adapters.base import Deal, DealEntry, DealKind, Side

    return Deal(deal_id=next(_ids), login=account.login, time=time, platform_time_msc=int(time.timestamp() * 1000),
                kind=DealKind.TRADE, action=0 if side == "buy" else 1, entry=DealEntry(entry), side=Side(side),
                position_id=position, order_id=0, symbol=symbol, volume=Decimal(volume), price=Decimal("1.1"),
                profit=Decimal(profit), commission=Decimal(commission), swap=Decimal(swap), fee=Decimal(0),
                comment="", reason=0, market_bid=None, market_ask=None, raw={})


def round_trip(account: Any, *, opened: dt.datetime, closed: dt.datetime, volume: str, profit: str,
               symbol: str = "EURUSD", commission: str = "-3.5", swap: str = "-1.25") -> list[Any]:
    position = next(_ids)
    return [deal(account, time=opened, entry="in", side="buy", position=position, volume=volume, symbol=symbol,
                 commission=commission),
            deal(account, time=closed, entry="out", side="sell", position=position, volume=volume, symbol=symbol,
                 profit=profit, commission=commission, swap=swap)]


def build() -> SimpleNamespace:
    from crm.services import client_create
    from tests.wallet.withdrawal_support import kyc_approve
    from trading.services import platform_server_save, trading_account_register
    from trading.sync import deals_store
    from wallet.demo import demo_wire_deposit, demo_wire_methods, demo_wire_provider
    from wallet.models import Direction, PaymentMethod
    from wallet.services import (
        withdrawal_approve,
        withdrawal_mark_paid,
        withdrawal_payout_send,
        withdrawal_request,
    )

    w = SimpleNamespace()
    w.brand, w.other_brand = make_brand(name="Alpha"), make_brand(name="Beta")
    w.manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=w.brand)
    w.desk1 = make_desk(brand=w.brand, name="Desk one", manager=w.manager)
    w.desk2 = make_desk(brand=w.brand, name="Desk two")
    w.agent1 = make_user(role_code=RoleCode.SALES_AGENT, desk=w.desk1)
    w.agent2 = make_user(role_code=RoleCode.SALES_AGENT, desk=w.desk2)
    w.admin = make_user(role_code=RoleCode.ADMIN)
    w.finance = make_user(role_code=RoleCode.FINANCE, brand=w.brand)
    w.finance_other = make_user(role_code=RoleCode.FINANCE, brand=w.other_brand)
    w.c1 = client_create(actor=None, brand=w.brand, first_name="Ada", country="DE", desk=w.desk1, owner=w.agent1,
                         campaign="spring")
    w.c2 = client_create(actor=None, brand=w.brand, first_name="Bo", country="FR", desk=w.desk2, owner=w.agent2,
                         campaign="spring")
    w.c3 = client_create(actor=None, brand=w.other_brand, first_name="Cy", country="ES", campaign="autumn")
    w.lead = client_create(actor=None, brand=w.brand, first_name="Di", country="DE", desk=w.desk1, owner=w.agent1,
                           campaign="spring")
    wire = demo_wire_provider()
    for brand in (w.brand, w.other_brand):
        demo_wire_methods(brand=brand, wire=wire)
    now = dt.datetime.now(dt.UTC)
    w.now = now
    yesterday = now - dt.timedelta(days=1)
    n = itertools.count()
    demo_wire_deposit(provider=wire, client=w.c1, amount=Money("1000", "USD"), at=yesterday, n=next(n))
    demo_wire_deposit(provider=wire, client=w.c1, amount=Money("500", "EUR"), at=yesterday, n=next(n))
    demo_wire_deposit(provider=wire, client=w.c2, amount=Money("250", "USD"), at=now - dt.timedelta(minutes=5),
                      n=next(n))
    demo_wire_deposit(provider=wire, client=w.c3, amount=Money("700", "USD"), at=yesterday, n=next(n))
    kyc_approve(w.c1)
    method = PaymentMethod.objects.get(brand=w.brand, method="bank_wire", direction=Direction.WITHDRAWAL)
    wd = withdrawal_request(client=w.c1, amount=Money("400", "USD"), method=method,
                            destination={"bank_wire": "GB82 WEST 1234 5698 7654 32"})
    if wd.state == "requested":
        wd = withdrawal_approve(withdrawal=wd, actor=w.finance)
    wd = withdrawal_payout_send(withdrawal_id=wd.pk)
    withdrawal_mark_paid(withdrawal=wd, actor=w.finance, bank_reference="BANK-REF-1")

    w.server = platform_server_save(actor=None, manager_password="x-secret-1", brand=w.brand, name="MT5 Alpha",
                                    kind="mt5_web", is_active=True, host="127.0.0.1", port=1, manager_login=1000,
                                    account_types=ACCOUNT_TYPES)
    w.a1 = trading_account_register(actor=None, client=w.c1, server=w.server, login=next(_logins),
                                    account_type="standard")
    w.a1e = trading_account_register(actor=None, client=w.c1, server=w.server, login=next(_logins),
                                     account_type="euro")
    w.a2 = trading_account_register(actor=None, client=w.c2, server=w.server, login=next(_logins),
                                    account_type="standard")
    t0 = yesterday.replace(microsecond=0)
    deals_store(w.server, [
        *round_trip(w.a1, opened=t0, closed=t0 + dt.timedelta(minutes=3), volume="1.5", profit="120"),
        *round_trip(w.a1e, opened=t0, closed=t0 + dt.timedelta(minutes=4), volume="0.5", profit="-40",
                    symbol="XAUUSD"),
        *round_trip(w.a2, opened=t0, closed=t0 + dt.timedelta(minutes=6), volume="2", profit="-75"),
    ])
    dispatch_pending()
    return w


def settle() -> None:
    """What beat and the dispatcher do: events to their handlers, the deals' days recomputed."""
    from reports.readmodel import deals_refresh

    dispatch_pending()
    deals_refresh()
