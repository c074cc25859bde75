"""The MT5 Web API adapter driven against the simulator over HTTPS on loopback."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from trading.adapters.base import (
    AccessLevel,
    AccountChanges,
    BalanceKind,
    DealKind,
    NewAccount,
    PlatformProtocolError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
    PlatformUnsupported,
    Side,
)

UTC = dt.UTC
START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LATER = START + dt.timedelta(days=30)


def _new_account(**overrides) -> NewAccount:
    values = {
        "group": "real\\standard",
        "leverage": 100,
        "name": "Ada Lovelace",
        "password": "Strong123x",
        "investor_password": "Watch456y",
        "email": "ada@example.com",
        "country": "GB",
    }
    values.update(overrides)
    return NewAccount(**values)


def _truth_deals(sim, adapter, logins=None) -> dict[int, str]:
    deals = (adapter._deal(w) for w in sim.truth()["deals"] if w["_visible"])
    return {d.deal_id: d.content_hash for d in deals if logins is None or d.login in logins}


# ---------------------------------------------------------------------------------- accounts
def test_create_account_returns_login_and_reads_back(sim):
    adapter = sim.adapter()
    info = adapter.create_account(_new_account())
    assert info.login >= 100_001
    assert info.group == "real\\standard"
    assert info.leverage == 100
    assert info.access is AccessLevel.FULL
    assert info.registered_at == START  # server time converted back to UTC
    again = adapter.get_account(info.login)
    assert (again.name, again.email) == ("Ada Lovelace", "ada@example.com")
    assert adapter.account_states([info.login])[0].balance == Decimal("0.00")


def test_create_account_with_weak_password_is_rejected_with_retcode(quiet_sim):
    adapter = quiet_sim.adapter()
    with pytest.raises(PlatformRejected) as rejected:
        adapter.create_account(_new_account(password="weak"))
    assert rejected.value.retcode == 3


def test_create_account_with_taken_login_is_rejected(quiet_sim):
    adapter = quiet_sim.adapter()
    first = adapter.create_account(_new_account())
    with pytest.raises(PlatformRejected) as rejected:
        adapter.create_account(_new_account(login=first.login))
    assert rejected.value.retcode == 3004


def test_change_password_replaces_main_or_investor_password_and_refuses_a_weak_one(quiet_sim):
    adapter = quiet_sim.adapter()
    assert adapter.capabilities.change_password
    login = adapter.create_account(_new_account()).login

    def check(kind: str, password: str) -> int:
        try:
            adapter._call("/api/user/check_password", {"login": login, "type": kind, "password": password})
        except PlatformRejected as refused:
            return refused.retcode
        return 0

    adapter.change_password(login, "Fresh789Zq")
    adapter.change_password(login, "Peek321Wv", investor=True)
    assert (check("main", "Fresh789Zq"), check("main", "Strong123x")) == (0, 3006)
    assert (check("investor", "Peek321Wv"), check("investor", "Watch456y")) == (0, 3006)
    with pytest.raises(PlatformRejected) as rejected:
        adapter.change_password(login, "weak")
    assert rejected.value.retcode == 3
    assert check("main", "Fresh789Zq") == 0
    with pytest.raises(PlatformRejected) as missing:
        adapter.change_password(999_999, "Fresh789Zq")
    assert missing.value.not_found


def test_update_account_changes_leverage_and_group(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    info = adapter.update_account(login, AccountChanges(leverage=200, group="real\\pro", comment="vip"))
    assert (info.leverage, info.group) == (200, "real\\pro")
    assert info.raw["Comment"] == "vip"


def test_leverage_above_group_maximum_is_rejected(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account(group="real\\pro", leverage=100)).login
    with pytest.raises(PlatformRejected) as rejected:
        adapter.update_account(login, AccountChanges(leverage=500))
    assert rejected.value.retcode == 3
    assert adapter.get_account(login).leverage == 100


def test_unknown_login_is_not_found(quiet_sim):
    adapter = quiet_sim.adapter()
    with pytest.raises(PlatformRejected) as rejected:
        adapter.get_account(999_999)
    assert rejected.value.not_found
    assert adapter.account_states([999_999]) == []


def test_set_access_maps_levels_to_mt5_rights(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    read_only = adapter.set_access(login, AccessLevel.READ_ONLY)
    assert read_only.access is AccessLevel.READ_ONLY and read_only.rights & 0x4 and read_only.rights & 0x1
    disabled = adapter.set_access(login, AccessLevel.DISABLED)
    assert disabled.access is AccessLevel.DISABLED and not disabled.rights & 0x1
    full = adapter.set_access(login, AccessLevel.FULL)
    assert full.access is AccessLevel.FULL and full.rights & 0x1 and not full.rights & 0x4


def test_close_only_moves_the_account_to_the_mapped_group_and_back(quiet_sim):
    adapter = quiet_sim.adapter(close_only_groups={"real\\standard": "real\\standard-closeonly"})
    assert AccessLevel.CLOSE_ONLY in adapter.capabilities.access_levels
    login = adapter.create_account(_new_account()).login
    closing = adapter.set_access(login, AccessLevel.CLOSE_ONLY)
    assert (closing.access, closing.group) == (AccessLevel.CLOSE_ONLY, "real\\standard-closeonly")
    back = adapter.set_access(login, AccessLevel.FULL)
    assert (back.access, back.group) == (AccessLevel.FULL, "real\\standard")


def test_close_only_without_a_group_mapping_is_unsupported(quiet_sim):
    adapter = quiet_sim.adapter()
    assert AccessLevel.CLOSE_ONLY not in adapter.capabilities.access_levels
    login = adapter.create_account(_new_account()).login
    with pytest.raises(PlatformUnsupported, match="close-only"):
        adapter.set_access(login, AccessLevel.CLOSE_ONLY)


# ---------------------------------------------------------------------------------- money
def test_balance_operation_is_applied_once_with_a_ticket(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    ticket = adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("1500.25"), "dep RX7Q2")
    state = adapter.account_states([login])[0]
    assert (state.balance, state.equity, state.margin_level) == (Decimal("1500.25"), Decimal("1500.25"), None)
    deals = adapter.deals(start=START, end=LATER, logins=[login])
    assert [(d.deal_id, d.kind, d.profit, d.comment) for d in deals] == [
        (ticket, DealKind.BALANCE, Decimal("1500.25"), "dep RX7Q2")
    ]
    assert adapter.find_balance_operation(login, "RX7Q2", START) == ticket
    assert adapter.find_balance_operation(login, "RX7Q", START) is None  # whole tokens only


def test_credit_and_bonus_move_credit_and_balance(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("100"), "d1")
    adapter.apply_balance_operation(login, BalanceKind.CREDIT, Decimal("50"), "c1")
    adapter.apply_balance_operation(login, BalanceKind.BONUS, Decimal("10"), "b1")
    state = adapter.account_states([login])[0]
    assert (state.balance, state.credit, state.equity) == (
        Decimal("110.00"),
        Decimal("50.00"),
        Decimal("160.00"),
    )
    kinds = [d.kind for d in adapter.deals(start=START, end=LATER, logins=[login])]
    assert kinds == [DealKind.BALANCE, DealKind.CREDIT, DealKind.BONUS]


def test_withdrawal_above_the_balance_is_refused_with_not_enough_money(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("100"), "d1")
    with pytest.raises(PlatformRejected) as rejected:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("-100.01"), "w1")
    assert rejected.value.retcode == 10019
    assert not rejected.value.outcome_unknown
    assert adapter.account_states([login])[0].balance == Decimal("100.00")


def test_comment_longer_than_mt5_keeps_is_refused_before_sending(quiet_sim):
    adapter = quiet_sim.adapter()
    with pytest.raises(ValueError, match="31"):
        adapter.apply_balance_operation(1, BalanceKind.BALANCE, Decimal("1"), "x" * 32)


def test_timeout_after_apply_is_unknown_and_found_by_reference(quiet_sim):
    adapter = quiet_sim.adapter(timeout=1.0)
    login = adapter.create_account(_new_account()).login
    quiet_sim.faults({"type": "timeout_after_apply", "path": "/api/trade/balance", "count": 1, "seconds": 3})
    with pytest.raises(PlatformTimeout) as timed_out:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("250"), "dep K9ZX4")
    assert timed_out.value.outcome_unknown
    ticket = adapter.find_balance_operation(login, "K9ZX4", START)
    assert ticket is not None
    deals = adapter.deals(start=START, end=LATER, logins=[login])
    assert [d.deal_id for d in deals if "K9ZX4" in d.comment] == [ticket]
    assert adapter.account_states([login])[0].balance == Decimal("250.00")


def test_connection_dropped_after_apply_is_unknown_and_found_by_reference(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    quiet_sim.faults(
        {"type": "timeout_after_apply", "path": "/api/trade/balance", "count": 1, "mode": "drop"}
    )
    with pytest.raises(PlatformUnavailable) as lost:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("75"), "dep D1R0P")
    assert lost.value.outcome_unknown
    assert adapter.find_balance_operation(login, "D1R0P", START) is not None
    assert adapter.account_states([login])[0].balance == Decimal("75.00")


def test_a_write_that_cannot_even_log_in_is_known_not_applied(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    quiet_sim.control("/_sim/sessions/expire", {})
    quiet_sim.faults({"type": "http_error", "path": "/api/auth/start", "count": 1, "status": 503})
    with pytest.raises(PlatformUnavailable) as failed:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("10"), "dep N0L0G")
    assert not failed.value.outcome_unknown
    assert adapter.find_balance_operation(login, "N0L0G", START) is None


def test_a_write_is_not_retried_when_the_platform_is_unreachable(quiet_sim):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    quiet_sim.faults({"type": "http_error", "path": "/api/trade/balance", "count": 1, "status": 503})
    with pytest.raises(PlatformUnavailable) as failed:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("10"), "dep N0DUP")
    assert failed.value.status == 503
    assert adapter.find_balance_operation(login, "N0DUP", START) is None


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("retcode", "error", "unknown"),
    [
        ("13 Not found", PlatformRejected, False),
        ("8 Not enough permissions", PlatformRejected, False),
        ("9 Operation timeout", PlatformTimeout, True),
        ("10 No connection", PlatformUnavailable, False),  # turned away before it ran
        ("12 Too frequent requests", PlatformUnavailable, False),
    ],
)
def test_retcodes_map_to_errors(quiet_sim, retcode, error, unknown):
    adapter = quiet_sim.adapter()
    login = adapter.create_account(_new_account()).login
    quiet_sim.faults({"type": "retcode", "path": "/api/trade/balance", "count": 1, "retcode": retcode})
    with pytest.raises(error) as raised:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("1"), "x")
    assert raised.value.outcome_unknown is unknown
    if error is PlatformRejected:
        assert raised.value.retcode == int(retcode.split()[0])


def test_http_500_on_a_read_maps_to_unavailable(quiet_sim):
    adapter = quiet_sim.adapter()
    quiet_sim.faults({"type": "http_error", "path": "/api/user/account/get_batch", "count": 1, "status": 500})
    with pytest.raises(PlatformUnavailable) as failed:
        adapter.account_states([999_998])
    assert failed.value.status == 500
    assert adapter.account_states([999_998]) == []  # the fault fired once; the next read works


@pytest.mark.parametrize("mode", ["not_json", "truncated", "missing_retcode", "wrong_shape"])
def test_malformed_answers_raise_protocol_error(quiet_sim, mode):
    adapter = quiet_sim.adapter()
    login = quiet_sim.seed({"balance": "100"})[0]
    quiet_sim.faults({"type": "malformed", "path": "/api/deal/get_batch", "count": 1, "mode": mode})
    with pytest.raises(PlatformProtocolError):
        adapter.deals(start=START, end=LATER, logins=[login])
    assert len(adapter.deals(start=START, end=LATER, logins=[login])) == 1


def test_latency_beyond_the_timeout_is_a_timeout(quiet_sim):
    adapter = quiet_sim.adapter(timeout=0.5)
    quiet_sim.faults({"type": "latency", "path": "/api/user/account/get_batch", "count": 1, "seconds": 1.5})
    with pytest.raises(PlatformTimeout):
        adapter.account_states([999_998])
    assert adapter.account_states([999_998]) == []


# ---------------------------------------------------------------------------------- deals
def test_deal_window_fetch_equals_ground_truth(sim):
    sim.seed(
        {"persona": "scalper", "balance": "20000"},
        {"persona": "swing", "balance": "50000"},
        {"persona": "latency_arb", "balance": "30000"},
        {"persona": "hedger", "balance": "25000", "pair_with": 4},
        {"persona": "hedger", "balance": "25000"},
        {"persona": "dormant", "balance": "1000"},
    )
    sim.advance(ticks=24 * 60)  # one simulated day, a minute per tick
    adapter = sim.adapter(deal_window=dt.timedelta(hours=3), max_logins_per_request=2)
    by_group = adapter.deals(start=START, end=LATER, group="real*")
    assert len(by_group) > 200
    truth = _truth_deals(sim, adapter)
    assert {d.deal_id: d.content_hash for d in by_group} == truth
    logins = sorted({d.login for d in by_group})
    by_login = adapter.deals(start=START, end=LATER, logins=logins)
    assert [d.deal_id for d in by_login] == [d.deal_id for d in by_group]
    # A window in the middle returns exactly the deals whose UTC time falls inside it.
    lo, hi = START + dt.timedelta(hours=5), START + dt.timedelta(hours=9)
    window = adapter.deals(start=lo, end=hi, group="*")
    assert {d.deal_id for d in window} == {d.deal_id for d in by_group if lo <= d.time < hi}


def test_deal_times_are_converted_from_server_time(sim):
    adapter = sim.adapter()
    login = sim.seed({"balance": "10"})[0]
    status = sim.control("/_sim/status")
    deal = adapter.deals(start=START, end=LATER, logins=[login])[0]
    assert deal.time == dt.datetime.fromtimestamp(status["now_utc_msc"] / 1000, UTC)
    assert deal.platform_time_msc - status["now_utc_msc"] == 120 * 60 * 1000
    assert adapter.server_time().utc == deal.time


def test_trade_deals_carry_volume_side_and_market_prices(quiet_sim):
    adapter = quiet_sim.adapter()
    login = quiet_sim.seed({"balance": "10000"})[0]
    position = quiet_sim.control(
        "/_sim/trade", {"login": login, "symbol": "EURUSD", "action": "buy", "volume": "0.35"}
    )
    quiet_sim.advance(ticks=30)
    quiet_sim.control("/_sim/close", {"position": int(position["Position"])})
    opening, closing = [
        d for d in adapter.deals(start=START, end=LATER, logins=[login]) if d.kind is DealKind.TRADE
    ]
    assert (opening.side, opening.volume, opening.entry.value) == (Side.BUY, Decimal("0.35"), "in")
    assert (closing.side, closing.entry.value, closing.position_id) == (Side.SELL, "out", opening.position_id)
    assert opening.price == opening.market_ask and closing.price == closing.market_bid
    state = adapter.account_states([login])[0]
    assert state.balance == Decimal("10000.00") + closing.profit


def test_duplicated_deals_in_a_batch_are_returned_once(quiet_sim):
    adapter = quiet_sim.adapter()
    login = quiet_sim.seed({"persona": "scalper", "balance": "20000"})[0]
    quiet_sim.advance(ticks=120)
    truth = _truth_deals(quiet_sim, adapter, {login})
    quiet_sim.faults({"type": "duplicate_deals", "copies": 2})
    deals = adapter.deals(start=START, end=LATER, logins=[login])
    assert [d.deal_id for d in deals] == sorted(
        truth, key=lambda i: (next(x.time for x in deals if x.deal_id == i), i)
    )
    assert len(deals) == len(truth)


def test_late_deals_show_up_in_a_later_overlapping_read(quiet_sim):
    adapter = quiet_sim.adapter()
    login = quiet_sim.seed({"balance": "500"})[0]
    quiet_sim.faults({"type": "late_deals", "delay_seconds": 600, "count": 1})
    late = adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("5"), "late L4TE")
    assert late not in {d.deal_id for d in adapter.deals(start=START, end=LATER, logins=[login])}
    quiet_sim.advance(seconds=900)
    assert late in {d.deal_id for d in adapter.deals(start=START, end=LATER, logins=[login])}


def test_deals_edited_after_reading_change_their_content_hash_and_deleted_ones_vanish(quiet_sim):
    adapter = quiet_sim.adapter()
    login = quiet_sim.seed({"persona": "scalper", "balance": "20000"})[0]
    quiet_sim.advance(ticks=90)
    first = {d.deal_id: d for d in adapter.deals(start=START, end=LATER, logins=[login])}
    quiet_sim.faults({"type": "mutate_after_read", "mode": "edit", "count": 2})
    adapter.deals(start=START, end=LATER, logins=[login])  # this read triggers the edits
    quiet_sim.control("/_sim/faults/clear", {})
    second = {d.deal_id: d for d in adapter.deals(start=START, end=LATER, logins=[login])}
    edited = [i for i in first if first[i].content_hash != second[i].content_hash]
    assert len(edited) == 2
    assert all(second[i].profit < first[i].profit for i in edited)
    quiet_sim.faults({"type": "mutate_after_read", "mode": "delete", "count": 1})
    adapter.deals(start=START, end=LATER, logins=[login])
    third = {d.deal_id for d in adapter.deals(start=START, end=LATER, logins=[login])}
    assert len(third) == len(second) - 1
    # Balance still equals the sum of what the remaining deals did to it.
    remaining = adapter.deals(start=START, end=LATER, logins=[login])
    state = adapter.account_states([login])[0]
    assert state.balance == sum(
        (d.money_effect for d in remaining if d.kind is not DealKind.CREDIT), Decimal(0)
    )


# ---------------------------------------------------------------------------------- sessions
def test_expired_session_is_renewed_by_logging_in_again(sim):
    adapter = sim.adapter()
    login = sim.seed({"balance": "42"})[0]
    assert adapter.account_states([login])[0].balance == Decimal("42.00")
    assert sim.control("/_sim/status")["logins"] == 1
    assert sim.control("/_sim/sessions/expire", {})["expired"] == 1
    assert adapter.account_states([login])[0].balance == Decimal("42.00")
    status = sim.control("/_sim/status")
    assert (status["logins"], status["sessions"]) == (2, 1)


def test_restart_keeps_state_and_the_adapter_reconnects(sim):
    adapter = sim.adapter()
    login = adapter.create_account(_new_account()).login
    ticket = adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("321.50"), "dep R3ST")
    before = sim.truth()
    assert sim.control("/_sim/restart", {})["restarted"]
    assert adapter.account_states([login])[0].balance == Decimal("321.50")
    assert adapter.find_balance_operation(login, "R3ST", START) == ticket
    after = sim.truth()
    assert after["deals"] == before["deals"] and after["accounts"] == before["accounts"]
    # Writes after a restart go through the fresh session too.
    adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("1"), "dep R3ST2")
    assert adapter.account_states([login])[0].balance == Decimal("322.50")


def test_process_restart_keeps_state(sim, tmp_path):
    from .conftest import start_simulator, stop_simulator

    adapter = sim.adapter()
    login = sim.seed({"persona": "swing", "balance": "9000"})[0]
    sim.advance(ticks=600)
    truth = sim.truth()
    adapter.close()
    sim.adapters.clear()
    stop_simulator(sim)
    again = start_simulator(sim.state_dir)
    try:
        assert again.truth() == truth
        fresh = again.adapter()
        assert fresh.account_states([login])[0].balance == Decimal(
            next(a["Balance"] for a in truth["accounts"] if a["Login"] == str(login))
        )
    finally:
        stop_simulator(again)


def test_server_clock_offset_shows_in_server_time(sim):
    adapter = sim.adapter()
    normal = adapter.server_time()
    sim.faults({"type": "clock_offset", "seconds": 3600})
    skewed = adapter.server_time()
    assert skewed.platform_seconds - normal.platform_seconds == 3600
    sim.control("/_sim/faults/clear", {})
    assert adapter.server_time().platform_seconds == normal.platform_seconds


# ---------------------------------------------------------------------------------- positions
def test_open_positions_and_quotes(quiet_sim):
    adapter = quiet_sim.adapter()
    login = quiet_sim.seed({"balance": "10000", "leverage": 100})[0]
    quiet_sim.control("/_sim/trade", {"login": login, "symbol": "XAUUSD", "action": "sell", "volume": "0.10"})
    (position,) = adapter.open_positions([login])
    assert (position.symbol, position.side, position.volume) == ("XAUUSD", Side.SELL, Decimal("0.10"))
    (gold,) = adapter.quotes(["XAUUSD"])
    assert gold.ask > gold.bid and position.price_current == gold.ask
    state = adapter.account_states([login])[0]
    assert state.margin > 0 and state.margin_level is not None
    assert state.equity == state.balance + state.credit + state.floating_profit


def test_stop_out_closes_positions_when_margin_level_falls_below_the_group_level(quiet_sim):
    adapter = quiet_sim.adapter()
    login = quiet_sim.seed({"balance": "1000", "leverage": 100})[0]
    quiet_sim.control("/_sim/trade", {"login": login, "symbol": "EURUSD", "action": "buy", "volume": "0.90"})
    quote = adapter.quotes(["EURUSD"])[0]
    crash = quote.bid - Decimal("0.0110")  # about -990 USD on 0.9 lot
    quiet_sim.control(
        "/_sim/prices", {"quotes": {"EURUSD": {"bid": str(crash), "ask": str(crash + Decimal("0.00012"))}}}
    )
    assert adapter.open_positions([login]) == []
    closing = [d for d in adapter.deals(start=START, end=LATER, logins=[login]) if d.entry.value == "out"]
    assert [d.reason for d in closing] == [5]  # DEAL_REASON_SO
    state = adapter.account_states([login])[0]
    assert state.margin == 0 and state.margin_level is None and not state.stop_out
    assert state.raw["SOLevel"] != "0.00"  # the level at which the stop-out happened
