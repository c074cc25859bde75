"""What the Sirix adapter does beyond the shared conformance suite: the server's zone-less wall-clock
times read as UTC, open positions' units turned into lots, access that comes back after a user was
disabled, and refusals the service answers with HTTP 200."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.trading.conftest import (
    MANAGER_PASSWORD,
    SERVER_TZ_MINUTES,
    Simulator,
    start_simulator,
    stop_simulator,
)
from trading.adapters.base import (
    AccessLevel,
    AuthFailed,
    BalanceKind,
    NewAccount,
    PlatformRejected,
)
from trading.adapters.sirix import SirixAdapter, SirixConfig


@pytest.fixture(scope="module")
def sirix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    sim = start_simulator(tmp_path_factory.mktemp("sirix") / "sim", "--face", "sirix")
    try:
        yield sim
    finally:
        stop_simulator(sim)


def _adapter(sim: Simulator, *, token: str = MANAGER_PASSWORD) -> SirixAdapter:
    adapter = SirixAdapter(SirixConfig(host="127.0.0.1", port=sim.port, token=token, ca_file=sim.ca_file,
                                       timeout=5.0, server_tz_offset_minutes=SERVER_TZ_MINUTES))
    sim.adapters.append(adapter)  # type: ignore[arg-type]  # closed with the simulator
    return adapter


def _open(adapter: SirixAdapter) -> int:
    return adapter.create_account(NewAccount(group="real\\standard", leverage=100, name="Ann Lee",
                                             password="Secret123", investor_password="Invest123",
                                             email="ann@example.com")).login


def _now(sim: Simulator) -> dt.datetime:
    return dt.datetime.fromtimestamp(sim.control("/_sim/status")["now_utc_msc"] / 1000, dt.UTC)


def test_server_wall_clock_times_are_read_as_utc_and_the_raw_reading_is_kept(sirix):
    adapter = _adapter(sirix)
    login = _open(adapter)
    now = _now(sirix)
    ticket = adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("75"), "CRM REFTZ1")
    [deal] = [d for d in adapter.deals(start=now - dt.timedelta(minutes=5), end=now + dt.timedelta(minutes=5),
                                       logins=[login]) if d.deal_id == ticket]
    assert abs(deal.time - now) < dt.timedelta(seconds=2)
    assert deal.time.utcoffset() == dt.timedelta(0)
    assert "T" in deal.raw["Time"] and not deal.raw["Time"].endswith("Z")  # no zone on the wire
    utc_msc = int(deal.time.timestamp() * 1000)
    assert deal.platform_time_msc - utc_msc == SERVER_TZ_MINUTES * 60_000
    clock = adapter.server_time()
    assert abs(clock.utc - now) < dt.timedelta(seconds=2)
    assert clock.platform_seconds - int(clock.utc.timestamp()) == SERVER_TZ_MINUTES * 60


def test_open_positions_in_units_come_back_in_lots(sirix):
    adapter = _adapter(sirix)
    login = _open(adapter)
    adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("50000"), "CRM REFLOTS")
    sirix.control("/_sim/trade", {"login": login, "symbol": "USDJPY", "action": "sell", "volume": "0.25",
                                  "price": "149.900"})
    [position] = adapter.open_positions([login])
    assert position.raw["Amount"] == "25000.0"  # units on the wire (the client keeps numbers as text)
    assert (position.symbol, position.side.value, position.volume) == ("USDJPY", "sell", Decimal("0.25"))
    assert position.price_open == Decimal("149.9")


def test_a_disabled_user_trades_again_once_given_an_access_level(sirix):
    adapter = _adapter(sirix)
    login = _open(adapter)
    assert adapter.set_access(login, AccessLevel.DISABLED).access is AccessLevel.DISABLED
    assert adapter.set_access(login, AccessLevel.CLOSE_ONLY).access is AccessLevel.CLOSE_ONLY
    info = adapter.get_account(login)
    assert (info.access, info.raw["IsEnabled"], info.raw["TradingState"]) == (AccessLevel.CLOSE_ONLY, True, 1)


def test_a_wrong_bearer_token_is_refused(sirix):
    with pytest.raises(AuthFailed) as caught:
        _adapter(sirix, token="not-the-token").get_account(1)
    assert not caught.value.outcome_unknown


def test_an_error_message_in_a_200_answer_is_a_refusal(sirix, monkeypatch):
    adapter = _adapter(sirix)
    monkeypatch.setattr(adapter.http, "request",
                        lambda *a, **k: {"OrderID": 0, "ErrorMessage": "Trading is closed"})
    with pytest.raises(PlatformRejected) as caught:
        adapter.apply_balance_operation(1, BalanceKind.BALANCE, Decimal("10"), "CRM REF200")
    assert "Trading is closed" in str(caught.value)
    assert not caught.value.outcome_unknown


def test_only_balance_operations_are_sent(sirix):
    from trading.adapters.base import PlatformUnsupported

    with pytest.raises(PlatformUnsupported):
        _adapter(sirix).apply_balance_operation(1, BalanceKind.CREDIT, Decimal("10"), "CRM REFCR")


@pytest.mark.django_db
def test_a_sirix_server_gets_a_sirix_adapter_with_its_token_and_zone(sirix):
    from tests.factories import make_brand
    from tests.trading.crm_fixtures import make_server
    from trading.registry import adapter_for, adapters_reset

    server = make_server(sirix, make_brand(), kind="sirix", server_tz_offset_minutes=SERVER_TZ_MINUTES,
                         close_only_groups={})
    try:
        adapter = adapter_for(server)
        assert isinstance(adapter, SirixAdapter)
        assert adapter.config.token == MANAGER_PASSWORD
        assert abs(adapter.server_time().utc - _now(sirix)) < dt.timedelta(seconds=2)
    finally:
        adapters_reset()
