"""The read-only MetaTrader 5 terminal adapter, against a stand-in for the Windows-only package."""

from __future__ import annotations

import builtins
import datetime as dt
import sys
from decimal import Decimal

import pytest

from trading.adapters.base import (
    AccessLevel,
    AuthFailed,
    BalanceKind,
    DealKind,
    NewAccount,
    PlatformTimeout,
    PlatformUnsupported,
    Side,
)
from trading.adapters.mt5_terminal import MT5TerminalAdapter, MT5TerminalConfig, load_metatrader5

from .fake_mt5_module import RES_E_INTERNAL_FAIL_TIMEOUT, FakeMetaTrader5, Tick, TradeDeal, TradePosition

UTC = dt.UTC
OFFSET_MIN = 180  # server at UTC+3
SRV = 1_772_445_600  # a server-time second


def _config(**overrides) -> MT5TerminalConfig:
    values = {
        "login": 5151,
        "password": "Pw123456",
        "server": "Broker-Live",
        "server_tz_offset_minutes": OFFSET_MIN,
    }
    values.update(overrides)
    return MT5TerminalConfig(**values)


def _terminal() -> FakeMetaTrader5:
    fake = FakeMetaTrader5(login=5151, password="Pw123456", server="Broker-Live")
    fake.deals = [
        TradeDeal(1001, 0, SRV, SRV * 1000 + 250, 2, 0, 0, 0, 2, 0.0, 0.0, 0.0, 0.0, 5000.0, 0.0, "", "dep AB12", ""),
        TradeDeal(1002, 7001, SRV + 60, (SRV + 60) * 1000, 0, 0, 0, 7001, 0, 0.35, 1.08512, -1.22, 0.0, 0.0, 0.0,
                  "EURUSD", "", ""),
        TradeDeal(1003, 7002, SRV + 120, (SRV + 120) * 1000, 1, 1, 0, 7001, 0, 0.35, 1.08601, -1.22, -0.4, 31.15,
                  0.0, "EURUSD", "", ""),
    ]  # fmt: skip
    fake.positions = [
        TradePosition(8001, SRV, SRV * 1000, SRV, SRV * 1000, 1, 0, 8001, 0, 1.2, 2351.5, 0.0, 0.0, 2349.1, -3.5,
                      288.0, "XAUUSD", "swing", ""),
    ]  # fmt: skip
    fake.ticks = {"XAUUSD": Tick(SRV, 2349.0, 2349.1, 0.0, 0, SRV * 1000, 6, 0.0)}
    return fake


def test_without_windows_the_adapter_explains_what_it_needs(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(PlatformUnsupported, match="needs Windows with a MetaTrader 5 terminal"):
        MT5TerminalAdapter(_config())


def test_on_windows_without_the_package_the_adapter_explains_what_it_needs(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "MetaTrader5":
            raise ImportError("No module named 'MetaTrader5'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    monkeypatch.delitem(sys.modules, "MetaTrader5", raising=False)
    with pytest.raises(PlatformUnsupported, match="MetaTrader5 Python package"):
        load_metatrader5()


def test_reads_the_account_state_of_the_logged_in_login():
    fake = _terminal()
    adapter = MT5TerminalAdapter(_config(path="C:/MT5/terminal64.exe"), module=fake)
    (state,) = adapter.account_states([5151, 9999])
    assert (state.balance, state.credit, state.equity) == (
        Decimal("10250.50"),
        Decimal("100.00"),
        Decimal("10338.25"),
    )
    assert (state.margin_level, state.leverage, state.margin_call) == (Decimal("1905.32"), 100, False)
    assert adapter.account_states([9999]) == []
    assert fake.initialize_calls[0][0] == ("C:/MT5/terminal64.exe",)
    assert fake.initialize_calls[0][1]["server"] == "Broker-Live"


def test_reads_deals_with_times_converted_from_server_time():
    adapter = MT5TerminalAdapter(_config(), module=_terminal())
    start = dt.datetime.fromtimestamp(SRV - OFFSET_MIN * 60, UTC)
    deals = adapter.deals(start=start, end=start + dt.timedelta(hours=1), logins=[5151])
    assert [d.deal_id for d in deals] == [1001, 1002, 1003]
    deposit, opening, closing = deals
    assert deposit.kind is DealKind.BALANCE and deposit.comment == "dep AB12"
    assert deposit.time == start + dt.timedelta(milliseconds=250)
    assert (opening.side, opening.volume, opening.price) == (Side.BUY, Decimal("0.35"), Decimal("1.08512"))
    assert (closing.side, closing.entry.value, closing.profit, closing.swap) == (
        Side.SELL,
        "out",
        Decimal("31.15"),
        Decimal("-0.40"),
    )
    assert adapter.deals(start=start, end=start + dt.timedelta(seconds=60), logins=[5151]) == [deposit]
    assert adapter.deals(start=start, end=start + dt.timedelta(hours=1), logins=[1]) == []
    assert adapter.find_balance_operation(5151, "AB12", start) == 1001


def test_reads_open_positions_and_quotes():
    adapter = MT5TerminalAdapter(_config(), module=_terminal())
    (position,) = adapter.open_positions([5151])
    assert (position.side, position.volume, position.profit) == (Side.SELL, Decimal("1.2"), Decimal("288.00"))
    assert position.opened_at == dt.datetime.fromtimestamp(SRV - OFFSET_MIN * 60, UTC)
    (quote,) = adapter.quotes(["XAUUSD", "NOPE"])
    assert (quote.bid, quote.ask) == (Decimal("2349.0"), Decimal("2349.1"))


def test_wrong_credentials_map_the_terminals_last_error_to_auth_failed():
    adapter = MT5TerminalAdapter(_config(password="wrong"), module=_terminal())
    with pytest.raises(AuthFailed) as failed:
        adapter.account_states([5151])
    assert failed.value.retcode == -6


def test_ipc_timeout_maps_to_platform_timeout():
    fake = _terminal()
    fake.fail_next["initialize"] = (RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
    with pytest.raises(PlatformTimeout) as timed_out:
        MT5TerminalAdapter(_config(), module=fake).account_states([5151])
    assert not timed_out.value.outcome_unknown


def test_writes_are_refused_as_unsupported():
    adapter = MT5TerminalAdapter(_config(), module=_terminal())
    caps = adapter.capabilities
    assert caps.read_only and not caps.create_account and not caps.balance_kinds
    with pytest.raises(PlatformUnsupported):
        adapter.apply_balance_operation(5151, BalanceKind.BALANCE, Decimal("1"), "x")
    with pytest.raises(PlatformUnsupported):
        adapter.create_account(NewAccount("g", 100, "n", "Pw123456", "Pw654321"))
    with pytest.raises(PlatformUnsupported):
        adapter.set_access(5151, AccessLevel.DISABLED)
    assert not caps.change_password
    with pytest.raises(PlatformUnsupported):
        adapter.change_password(5151, "Fresh789Zq")
    with pytest.raises(PlatformUnsupported):
        adapter.deals(
            start=dt.datetime(2026, 1, 1, tzinfo=UTC), end=dt.datetime(2026, 2, 1, tzinfo=UTC), group="*"
        )


def test_close_shuts_the_terminal_connection_down():
    fake = _terminal()
    adapter = MT5TerminalAdapter(_config(), module=fake)
    assert adapter.get_account(5151).name == "Grace Hopper"
    adapter.close()
    assert fake.account_info() is None
