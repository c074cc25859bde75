"""A stand-in for the Windows-only ``MetaTrader5`` package, with the documented function
signatures and named tuples (MetaQuotes "Python Integration" reference), backed by in-memory data.

Only what the terminal adapter calls is here: initialize, login, shutdown, last_error,
account_info, history_deals_get, positions_get, symbol_info_tick.
"""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from typing import Any

RES_S_OK = 1
RES_E_FAIL = -1
RES_E_INVALID_PARAMS = -2
RES_E_NOT_FOUND = -4
RES_E_AUTH_FAILED = -6
RES_E_INTERNAL_FAIL_TIMEOUT = -10005

AccountInfo = namedtuple(
    "AccountInfo",
    "login trade_mode leverage limit_orders margin_so_mode trade_allowed trade_expert margin_mode "
    "currency_digits fifo_close balance credit profit equity margin margin_free margin_level "
    "margin_so_call margin_so_so margin_initial margin_maintenance assets liabilities "
    "commission_blocked name server currency company",
)
TradeDeal = namedtuple(
    "TradeDeal",
    "ticket order time time_msc type entry magic position_id reason volume price commission swap "
    "profit fee symbol comment external_id",
)
TradePosition = namedtuple(
    "TradePosition",
    "ticket time time_msc time_update time_update_msc type magic identifier reason volume price_open "
    "sl tp price_current swap profit symbol comment external_id",
)
Tick = namedtuple("Tick", "time bid ask last volume time_msc flags volume_real")


class FakeMetaTrader5:
    """One terminal with one account. Times are the trade server's, as the package reports them."""

    def __init__(self, *, login: int, password: str, server: str) -> None:
        self._credentials = (login, password, server)
        self._connected = False
        self._error: tuple[int, str] = (RES_S_OK, "Success")
        self.initialize_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.fail_next: dict[str, tuple[int, str]] = {}
        self.account = AccountInfo(
            login=login, trade_mode=2, leverage=100, limit_orders=200, margin_so_mode=0,
            trade_allowed=True, trade_expert=True, margin_mode=2, currency_digits=2, fifo_close=False,
            balance=10_250.5, credit=100.0, profit=-12.25, equity=10_338.25, margin=542.6,
            margin_free=9_795.65, margin_level=1905.32, margin_so_call=100.0, margin_so_so=50.0,
            margin_initial=0.0, margin_maintenance=0.0, assets=0.0, liabilities=0.0,
            commission_blocked=0.0, name="Grace Hopper", server=server, currency="USD", company="Broker",
        )  # fmt: skip
        self.deals: list[TradeDeal] = []
        self.positions: list[TradePosition] = []
        self.ticks: dict[str, Tick] = {}

    # -- documented API --------------------------------------------------------------------
    def initialize(self, path: str | None = None, *, login: int = 0, password: str = "", server: str = "",
                   timeout: int = 60_000, portable: bool = False) -> bool:  # fmt: skip
        self.initialize_calls.append(
            ((path,) if path else (), {"login": login, "server": server, "timeout": timeout})
        )
        if "initialize" in self.fail_next:
            self._error = self.fail_next.pop("initialize")
            return False
        if login and (login, password, server) != self._credentials:
            self._error = (RES_E_AUTH_FAILED, "Authorization failed")
            return False
        self._connected = True
        self._error = (RES_S_OK, "Success")
        return True

    def login(self, login: int, password: str = "", server: str = "", timeout: int = 60_000) -> bool:
        if (login, password, server) != self._credentials:
            self._error = (RES_E_AUTH_FAILED, "Authorization failed")
            return False
        return True

    def shutdown(self) -> None:
        self._connected = False

    def last_error(self) -> tuple[int, str]:
        return self._error

    def account_info(self) -> AccountInfo | None:
        if not self._connected:
            self._error = (RES_E_FAIL, "Terminal not connected")
            return None
        return self.account

    def history_deals_get(self, date_from: dt.datetime | int, date_to: dt.datetime | int,
                          group: str = "") -> tuple[TradeDeal, ...] | None:  # fmt: skip
        if not self._connected:
            self._error = (RES_E_FAIL, "Terminal not connected")
            return None
        if "history_deals_get" in self.fail_next:
            self._error = self.fail_next.pop("history_deals_get")
            return None
        low, high = _seconds(date_from), _seconds(date_to)
        return tuple(d for d in self.deals if low <= d.time <= high)

    def positions_get(
        self, symbol: str = "", group: str = "", ticket: int = 0
    ) -> tuple[TradePosition, ...] | None:
        if not self._connected:
            self._error = (RES_E_FAIL, "Terminal not connected")
            return None
        return tuple(
            p
            for p in self.positions
            if (not symbol or p.symbol == symbol) and (not ticket or p.ticket == ticket)
        )

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        tick = self.ticks.get(symbol)
        if tick is None:
            self._error = (RES_E_NOT_FOUND, "Symbol not found")
        return tick


def _seconds(value: dt.datetime | int) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return int(value)
