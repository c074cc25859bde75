"""Read-only adapter for one MetaTrader 5 *terminal* through the ``MetaTrader5`` Python package.

The package (PyPI ``MetaTrader5``, MetaQuotes) drives a running MetaTrader 5 terminal on the same
Windows machine; it does not exist for other systems. It serves one trading login at a time, so
this adapter reads that login's state, deals and positions and nothing else; it cannot open
accounts or move money (use the MT5 Web API adapter for that).

Documented functions used (MetaQuotes "Python Integration" reference):
``initialize(path, login=, password=, server=, timeout=, portable=)`` connects to (and, given a
path, starts) the terminal and logs in; ``login(login, password=, server=, timeout=)`` switches
account; ``account_info()`` returns an AccountInfo named tuple (login, leverage, balance, credit,
profit, equity, margin, margin_free, margin_level, currency, ...); ``history_deals_get(date_from,
date_to)`` returns TradeDeal tuples (ticket, order, time, time_msc, type, entry, magic,
position_id, reason, volume in lots, price, commission, swap, profit, fee, symbol, comment,
external_id); ``positions_get()`` returns TradePosition tuples; ``symbol_info_tick(symbol)`` the
last Tick; ``shutdown()`` disconnects; ``last_error()`` gives ``(code, description)`` with codes
1 ok, -1 generic fail, -2 invalid arguments, -3 no memory, -4 not found, -5 invalid version,
-6 authorisation failed, -7 unsupported, -8 auto-trading disabled, -10000..-10005 IPC failures
(-10005 timeout). Deal and position times are the trade server's time, converted here like the
Web API adapter does.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .base import (
    BALANCE_DEAL_KINDS,
    UTC,
    AccessLevel,
    AccountChanges,
    AccountInfo,
    AccountState,
    AuthFailed,
    BalanceKind,
    Capabilities,
    Deal,
    DealEntry,
    DealKind,
    NewAccount,
    PlatformAdapter,
    PlatformError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
    PlatformUnsupported,
    Position,
    Quote,
    ServerClock,
    ServerTime,
    Side,
    comment_has_reference,
)
from .mt5_web import ACTION_KIND, BALANCE_ACTIONS, ENTRY

NEEDS_WINDOWS = (
    "The MetaTrader 5 terminal adapter needs Windows with a MetaTrader 5 terminal installed and the "
    "MetaTrader5 Python package (pip install 'brokerage-crm[mt5]'); on other systems connect through "
    "the MT5 Web API adapter instead."
)


@dataclass(frozen=True)
class MT5TerminalConfig:
    login: int
    password: str
    server: str
    path: str = ""  # terminal64.exe; empty lets the package find a running terminal
    timeout_ms: int = 60_000
    portable: bool = False
    server_tz_offset_minutes: int = 0
    server_tz: str = ""


def load_metatrader5() -> Any:
    """Import the MetaTrader5 package, or explain why it cannot be used here."""
    if sys.platform != "win32":
        raise PlatformUnsupported(NEEDS_WINDOWS)
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError:
        raise PlatformUnsupported(NEEDS_WINDOWS) from None


class MT5TerminalAdapter(PlatformAdapter):
    """One terminal, one login, read-only. ``module`` replaces the MetaTrader5 package (tests)."""

    def __init__(self, config: MT5TerminalConfig, *, module: Any = None) -> None:
        self.config = config
        self.mt5 = module if module is not None else load_metatrader5()
        self.clock = ServerClock(offset_minutes=config.server_tz_offset_minutes, tz_name=config.server_tz)
        self._connected = False

    # ------------------------------------------------------------------ connection
    def _connect(self) -> None:
        if self._connected:
            return
        kwargs = {
            "login": self.config.login,
            "password": self.config.password,
            "server": self.config.server,
            "timeout": self.config.timeout_ms,
            "portable": self.config.portable,
        }
        ok = (
            self.mt5.initialize(self.config.path, **kwargs)
            if self.config.path
            else self.mt5.initialize(**kwargs)
        )
        if not ok:
            raise self._error("initialize")
        self._connected = True

    def _error(self, call: str) -> PlatformError:
        code, description = self.mt5.last_error()
        message = f"MetaTrader5.{call} failed: {code} {description}"
        if code == -6:
            return AuthFailed(message, retcode=code)
        if code == -10005:
            return PlatformTimeout(message, request_sent=False)
        if code in (-2, -4, -5, -7, -8):
            return PlatformRejected(code, message)
        return PlatformUnavailable(message)

    def close(self) -> None:
        if self._connected:
            self.mt5.shutdown()
            self._connected = False

    # ------------------------------------------------------------------ capabilities
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            platform="mt5_terminal",
            read_only=True,
            create_account=False,
            update_account=False,
            access_levels=frozenset(),
            balance_kinds=frozenset(),
            find_balance_operation=True,
            account_states=True,
            deals=True,
            positions=True,
            quotes=True,
            server_time=False,
            max_logins_per_request=1,
            deal_window=dt.timedelta(days=3650),
            max_comment_length=31,
        )

    def _read_only(self, what: str) -> PlatformUnsupported:
        return PlatformUnsupported(f"the terminal adapter is read-only and cannot {what}")

    def create_account(self, account: NewAccount) -> AccountInfo:
        raise self._read_only("open accounts")

    def update_account(self, login: int, changes: AccountChanges) -> AccountInfo:
        raise self._read_only("change accounts")

    def set_access(self, login: int, level: AccessLevel) -> AccountInfo:
        raise self._read_only("change access")

    def apply_balance_operation(self, login: int, kind: BalanceKind, amount: Decimal, comment: str) -> int:
        raise self._read_only("move money")

    def server_time(self) -> ServerTime:
        raise PlatformUnsupported("the MetaTrader5 package does not report the trade server's clock")

    # ------------------------------------------------------------------ reads
    def _account(self) -> Any:
        self._connect()
        info = self.mt5.account_info()
        if info is None:
            raise self._error("account_info")
        return info

    def get_account(self, login: int) -> AccountInfo:
        info = self._account()
        if int(info.login) != login:
            raise PlatformRejected(13, f"the terminal is logged in to {info.login}, not {login}")
        return AccountInfo(
            login=int(info.login),
            group="",
            leverage=int(info.leverage),
            name=str(info.name),
            email="",
            access=AccessLevel.FULL if info.trade_allowed else AccessLevel.READ_ONLY,
            rights=0,
            registered_at=None,
            raw=info._asdict(),
        )

    def account_states(self, logins: Sequence[int]) -> list[AccountState]:
        info = self._account()
        if int(info.login) not in {int(x) for x in logins}:
            return []
        digits = _digits(info)
        margin = _money(info.margin, digits)
        return [
            AccountState(
                login=int(info.login),
                balance=_money(info.balance, digits),
                credit=_money(info.credit, digits),
                equity=_money(info.equity, digits),
                margin=margin,
                free_margin=_money(info.margin_free, digits),
                margin_level=_money(info.margin_level, 2) if margin > 0 else None,
                floating_profit=_money(info.profit, digits),
                leverage=int(info.leverage),
                margin_call=bool(margin > 0 and info.margin_level < info.margin_so_call),
                stop_out=bool(margin > 0 and info.margin_level < info.margin_so_so),
                observed_at=dt.datetime.now(UTC),
                raw=info._asdict(),
            )
        ]

    def deals(
        self,
        *,
        start: dt.datetime,
        end: dt.datetime,
        logins: Sequence[int] | None = None,
        group: str | None = None,
    ) -> list[Deal]:
        if group is not None:
            raise PlatformUnsupported("a terminal sees one login; it cannot list deals by group")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        info = self._account()
        login, digits = int(info.login), _digits(info)
        if logins is not None and login not in {int(x) for x in logins}:
            return []
        if end <= start:
            return []
        rows = self.mt5.history_deals_get(self.clock.from_utc(start), self.clock.from_utc(end) + 1)
        if rows is None:
            raise self._error("history_deals_get")
        seen: dict[int, Deal] = {}
        for row in rows:
            deal = self._deal(login, row, digits)
            seen.setdefault(deal.deal_id, deal)
        result = [d for d in seen.values() if start <= d.time < end]
        result.sort(key=lambda d: (d.time, d.deal_id))
        return result

    def _deal(self, login: int, row: Any, digits: int) -> Deal:
        action = int(row.type)
        kind = ACTION_KIND.get(action, DealKind.OTHER)
        time_msc = int(row.time_msc) if getattr(row, "time_msc", 0) else int(row.time) * 1000
        return Deal(
            deal_id=int(row.ticket),
            login=login,
            time=self.clock.to_utc_msc(time_msc),
            platform_time_msc=time_msc,
            kind=kind,
            action=action,
            entry=ENTRY.get(int(row.entry), DealEntry.IN) if kind is DealKind.TRADE else DealEntry.NONE,
            side=Side.BUY if action == 0 else Side.SELL if action == 1 else None,
            position_id=int(row.position_id),
            order_id=int(row.order),
            symbol=str(row.symbol),
            volume=_num(row.volume),
            price=_num(row.price),
            profit=_money(row.profit, digits),
            commission=_money(row.commission, digits),
            swap=_money(row.swap, digits),
            fee=_money(row.fee, digits),
            comment=str(row.comment),
            reason=int(row.reason),
            market_bid=None,
            market_ask=None,
            raw=row._asdict(),
        )

    def find_balance_operation(self, login: int, reference: str, since: dt.datetime) -> int | None:
        end = dt.datetime.now(UTC) + dt.timedelta(days=1)
        found = [
            d.deal_id
            for d in self.deals(start=since, end=end, logins=[login])
            if (d.kind in BALANCE_DEAL_KINDS or d.action in BALANCE_ACTIONS)
            and comment_has_reference(d.comment, reference)
        ]
        return min(found) if found else None

    def open_positions(self, logins: Sequence[int]) -> list[Position]:
        info = self._account()
        login, digits = int(info.login), _digits(info)
        if login not in {int(x) for x in logins}:
            return []
        rows = self.mt5.positions_get()
        if rows is None:
            raise self._error("positions_get")
        out = []
        for row in rows:
            msc = int(row.time_msc) if getattr(row, "time_msc", 0) else int(row.time) * 1000
            out.append(
                Position(
                    position_id=int(row.ticket),
                    login=login,
                    symbol=str(row.symbol),
                    side=Side.BUY if int(row.type) == 0 else Side.SELL,
                    volume=_num(row.volume),
                    price_open=_num(row.price_open),
                    price_current=_num(row.price_current),
                    profit=_money(row.profit, digits),
                    swap=_money(row.swap, digits),
                    opened_at=self.clock.to_utc_msc(msc),
                    comment=str(row.comment),
                    raw=row._asdict(),
                )
            )
        return out

    def quotes(self, symbols: Sequence[str]) -> list[Quote]:
        self._connect()
        out = []
        for symbol in symbols:
            tick = self.mt5.symbol_info_tick(symbol)
            if tick is None:
                continue
            msc = int(tick.time_msc) if getattr(tick, "time_msc", 0) else int(tick.time) * 1000
            out.append(
                Quote(
                    symbol=symbol,
                    bid=_num(tick.bid),
                    ask=_num(tick.ask),
                    time=self.clock.to_utc_msc(msc),
                    raw=tick._asdict(),
                )
            )
        return out


def _num(value: float | int) -> Decimal:
    # The package hands out doubles; their shortest repr is the value the terminal showed.
    return Decimal(repr(float(value)))


def _digits(info: Any) -> int:
    # The account currency's decimals (2 for USD, 0 for JPY, 8 for BTC): money is read at those.
    return int(getattr(info, "currency_digits", 2))


def _money(value: float | int, digits: int) -> Decimal:
    return _num(value).quantize(Decimal(1).scaleb(-digits))
