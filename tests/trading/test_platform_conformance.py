"""One conformance suite for every platform adapter, each against its own face of the shared
simulator engine (MT5 Web API, cTrader Web Services, Match-Trader Broker API, Sirix management
REST service, the MT4 bridge): accounts, access, money that never applies twice, deal reads equal
to what the platform shows, the nine fault types of the simulator's control API (plus a restart)
converging to the platform's truth, and the same trades giving the same normalised deals on every platform."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.trading.conftest import (
    MANAGER_LOGIN,
    MANAGER_PASSWORD,
    SERVER_TZ_MINUTES,
    Simulator,
    start_simulator,
    stop_simulator,
)
from trading.adapters.base import (
    AccessLevel,
    BalanceKind,
    Deal,
    NewAccount,
    PlatformAdapter,
    PlatformError,
    PlatformProtocolError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
)
from trading.adapters.ctrader import CTraderAdapter, CTraderConfig
from trading.adapters.matchtrader import MatchTraderAdapter, MatchTraderConfig
from trading.adapters.mt4_bridge import MT4BridgeAdapter, MT4BridgeConfig
from trading.adapters.mt5_web import MT5WebAdapter
from trading.adapters.sirix import SirixAdapter, SirixConfig

PLATFORMS = ("mt5", "ctrader", "matchtrader", "sirix", "mt4bridge")
LATE = 1800
_refs = itertools.count(1)


@dataclass
class Platform:
    name: str
    sim: Simulator
    deals_path: str  # the route its trade history is read from
    balance_path: str  # the route a deposit is sent to
    trading: list[int] = field(default_factory=list)  # logins a test set trading, put to rest after it

    def trade_as(self, login: int, persona: str) -> None:
        """Let ``login`` trade as ``persona`` until the test ends (then it rests: the module's simulator
        would otherwise go on trading for every test's accounts in every later test's clock advances, and
        its truth would carry all their deals)."""
        self.sim.control("/_sim/persona", {"login": login, "persona": persona})
        self.trading.append(login)

    def rest(self) -> None:
        while self.trading:
            self.sim.control("/_sim/persona", {"login": self.trading.pop(), "persona": "dormant"})

    def adapter(self, timeout: float = 3.0) -> PlatformAdapter:
        adapter: PlatformAdapter
        if self.name == "mt5":
            adapter = self.sim.adapter(timeout=timeout, close_only_groups={"real\\standard": "real\\standard-closeonly"})
            return adapter
        if self.name == "mt4bridge":
            adapter = MT4BridgeAdapter(MT4BridgeConfig(host="127.0.0.1", port=self.sim.port, key_id=str(MANAGER_LOGIN),
                                                       key=MANAGER_PASSWORD, ca_file=self.sim.ca_file, timeout=timeout))
        elif self.name == "ctrader":
            adapter = CTraderAdapter(CTraderConfig(host="127.0.0.1", port=self.sim.port, login=MANAGER_LOGIN,
                                                   password=MANAGER_PASSWORD, ca_file=self.sim.ca_file, timeout=timeout))
        elif self.name == "sirix":  # on the server's wall clock, like MT5
            adapter = SirixAdapter(SirixConfig(host="127.0.0.1", port=self.sim.port, token=MANAGER_PASSWORD,
                                               ca_file=self.sim.ca_file, timeout=timeout,
                                               server_tz_offset_minutes=SERVER_TZ_MINUTES))
        else:
            adapter = MatchTraderAdapter(MatchTraderConfig(host="127.0.0.1", port=self.sim.port,
                                                           api_key=MANAGER_PASSWORD, ca_file=self.sim.ca_file,
                                                           timeout=timeout))
        self.sim.adapters.append(adapter)  # type: ignore[arg-type] - closed with the simulator
        return adapter

    def truth(self, adapter: PlatformAdapter, logins: set[int]) -> dict[int, str]:
        """Every deal of ``logins`` as this platform shows it: deal id -> content hash."""
        deals: list[Deal] = []
        if isinstance(adapter, MT5WebAdapter):
            deals = [adapter._deal(w) for w in self.sim.truth()["deals"]]
        else:
            records = self.sim.control("/_sim/face_truth")["records"]
            for record in records:
                if isinstance(adapter, CTraderAdapter):
                    deals.append(adapter._balance_deal(record) if "balanceHistoryId" in record
                                 else adapter._trade_deal(record))
                elif isinstance(adapter, MT4BridgeAdapter):
                    deals.extend(adapter.record_deals(record))
                elif isinstance(adapter, MatchTraderAdapter):
                    if "ledger" in record:
                        deals.append(adapter._ledger_deal(record["ledger"]))
                    else:
                        deals.extend(adapter._position_deals(record["closed"]))
                elif isinstance(adapter, SirixAdapter):
                    if "deposit" in record:
                        deals.append(adapter._deposit_deal(record["deposit"]))
                    else:
                        deals.extend(adapter._position_deals(record["closed"]))
        return {d.deal_id: d.content_hash for d in deals if d.login in logins}


def _start(tmp: Path, name: str) -> Platform:
    if name == "mt5":
        return Platform(name, start_simulator(tmp / name), "/api/deal/get_batch", "/api/trade/balance")
    if name == "sirix":  # keeps the server's wall clock (SERVER_TZ_MINUTES east of UTC)
        return Platform(name, start_simulator(tmp / name, "--face", name),
                        "/api/ManagementService/GetClosedPositionsForUser",
                        "/api/ManagementService/DepositBalanceWithResult")
    if name == "mt4bridge":  # MT4 keeps the server's wall clock (the suite's +120 minutes)
        return Platform(name, start_simulator(tmp / name, "--face", name), "/v1/trades/history",
                        "/v1/accounts/{login}/balance")
    sim = start_simulator(tmp / name, "--face", name, "--server-tz-offset", "0")
    if name == "ctrader":
        return Platform(name, sim, "/v2/webserv/deals", "/v2/webserv/traders/{login}/changebalance")
    return Platform(name, sim, "/v1/closed-positions", "/v1/deposits/manual")


@pytest.fixture(scope="module")
def platforms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Platform]]:
    tmp = tmp_path_factory.mktemp("faces")
    started: dict[str, Platform] = {}
    try:
        for name in PLATFORMS:
            started[name] = _start(tmp, name)
        yield started
    finally:
        for platform in started.values():
            stop_simulator(platform.sim)


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest, platforms: dict[str, Platform]) -> Iterator[Platform]:
    chosen = platforms[request.param]
    chosen.sim.control("/_sim/faults/clear", {})
    made = len(chosen.sim.adapters)
    try:
        yield chosen
    finally:
        chosen.sim.control("/_sim/faults/clear", {})
        chosen.rest()
        for adapter in chosen.sim.adapters[made:]:
            adapter.close()
        del chosen.sim.adapters[made:]


def _open(adapter: PlatformAdapter, *, leverage: int = 100, group: str = "real\\standard") -> int:
    info = adapter.create_account(NewAccount(group=group, leverage=leverage, name="Ann Lee", password="Secret123",
                                             investor_password="Invest123", email="ann@example.com"))
    return info.login


def _now(platform: Platform) -> dt.datetime:
    return dt.datetime.fromtimestamp(platform.sim.control("/_sim/status")["now_utc_msc"] / 1000, dt.UTC)


def retrying[R](call: Callable[[], R]) -> R:
    for _ in range(20):
        try:
            return call()
        except (PlatformUnavailable, PlatformTimeout, PlatformProtocolError):
            continue
    raise AssertionError("still failing after 20 attempts")


# --- the conformance suite -----------------------------------------------------------------------

def test_an_account_is_opened_with_its_group_and_leverage_and_reads_back(platform):
    adapter = platform.adapter()
    login = _open(adapter, leverage=200)
    info = adapter.get_account(login)
    assert (info.login, info.group, info.leverage, info.access) == (login, "real\\standard", 200, AccessLevel.FULL)
    assert adapter.update_account(login, changes=_changes(leverage=50)).leverage == 50


def _changes(**values: Any) -> Any:
    from trading.adapters.base import AccountChanges

    return AccountChanges(**values)


def test_leverage_above_the_group_maximum_is_refused(platform):
    adapter = platform.adapter()
    with pytest.raises(PlatformRejected):
        _open(adapter, leverage=5000)


def test_an_unknown_login_is_not_found(platform):
    with pytest.raises(PlatformRejected) as caught:
        platform.adapter().get_account(999_999)
    assert caught.value.not_found


@pytest.mark.parametrize("level", [AccessLevel.CLOSE_ONLY, AccessLevel.READ_ONLY, AccessLevel.DISABLED,
                                   AccessLevel.FULL])
def test_access_levels_map_to_the_platforms_rights(platform, level):
    adapter = platform.adapter()
    login = _open(adapter)
    assert adapter.set_access(login, level).access is level
    assert adapter.get_account(login).access is level


def test_a_deposit_applies_once_with_a_ticket_found_by_its_reference(platform):
    adapter = platform.adapter()
    login = _open(adapter)
    since = _now(platform) - dt.timedelta(minutes=5)
    ticket = adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("250.50"), "CRM REFDEP1 wire")
    assert adapter.find_balance_operation(login, "REFDEP1", since) == ticket
    assert adapter.find_balance_operation(login, "REFDEP", since) is None  # a whole token, not a prefix
    state = adapter.account_states([login])[0]
    assert (state.balance, state.equity) == (Decimal("250.50"), Decimal("250.50"))


def test_a_withdrawal_above_the_balance_is_refused_and_applies_nothing(platform):
    adapter = platform.adapter()
    login = _open(adapter)
    adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("100"), "CRM REFW1")
    with pytest.raises(PlatformRejected) as caught:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("-500"), "CRM REFW2")
    assert not caught.value.outcome_unknown
    assert adapter.account_states([login])[0].balance == Decimal("100")


@pytest.mark.parametrize("mode", ["drop", "sleep"])
def test_a_write_whose_answer_is_lost_is_unknown_and_found_by_reference(platform, mode):
    adapter = platform.adapter(timeout=1.0)
    login = _open(adapter)
    since = _now(platform) - dt.timedelta(minutes=5)
    platform.sim.faults({"type": "timeout_after_apply", "path": platform.balance_path, "mode": mode,
                         "seconds": 2, "count": 1})
    with pytest.raises(PlatformError) as caught:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("10"), "CRM REFLOST")
    assert caught.value.outcome_unknown
    found = retrying(lambda: adapter.find_balance_operation(login, "REFLOST", since))
    assert found is not None
    assert adapter.account_states([login])[0].balance == Decimal("10")


@pytest.mark.parametrize(("status", "unknown"), [(500, True), (502, True), (503, False), (429, False)])
def test_http_errors_on_a_write_say_whether_it_may_have_been_applied(platform, status, unknown):
    adapter = platform.adapter()
    login = _open(adapter)
    platform.sim.faults({"type": "http_error", "path": platform.balance_path, "status": status, "count": 1})
    with pytest.raises(PlatformError) as caught:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("10"), "CRM REFHTTP")
    assert caught.value.outcome_unknown is unknown


def test_deal_reads_equal_what_the_platform_shows_over_a_long_window(platform):
    adapter = platform.adapter()
    logins = [_open(adapter), _open(adapter)]
    since = _now(platform) - dt.timedelta(seconds=1)
    for login in logins:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("20000"), "CRM REFSEED")
        platform.trade_as(login, "scalper")
    platform.sim.advance(seconds=2 * 86_400 + 3600)  # past cTrader's two-day limit: read in two chunks
    end = _now(platform) + dt.timedelta(minutes=1)
    read = {d.deal_id: d.content_hash for d in adapter.deals(start=since, end=end, logins=logins)}
    truth = platform.truth(adapter, set(logins))
    assert read == truth
    assert len(read) > 20


# --- the nine fault types (and a restart), each a plan the reads must come through -----------------

FAULTS: dict[str, Callable[[Platform], list[dict[str, Any]]]] = {
    "latency": lambda p: [{"type": "latency", "path": p.deals_path, "seconds": 3.5, "count": 1}],
    "http_error": lambda p: [{"type": "http_error", "path": p.deals_path, "status": 502, "count": 2}],
    "retcode": lambda p: [{"type": "retcode", "path": p.deals_path, "retcode": "9 Operation timeout", "count": 1},
                          {"type": "retcode", "path": p.balance_path, "retcode": "10 No connection", "count": 1}],
    "timeout_after_apply": lambda p: [{"type": "timeout_after_apply", "path": p.balance_path, "mode": "drop",
                                       "count": 1}],
    "malformed": lambda p: [{"type": "malformed", "path": p.deals_path, "mode": "truncated", "count": 1},
                            {"type": "malformed", "path": p.deals_path, "mode": "wrong_shape", "count": 1}],
    "duplicate_deals": lambda p: [{"type": "duplicate_deals", "path": p.deals_path, "copies": 2, "count": 3}],
    "late_deals": lambda p: [{"type": "late_deals", "delay_seconds": LATE, "count": 6}],
    "mutate_after_read": lambda p: [{"type": "mutate_after_read", "path": p.deals_path, "mode": "edit", "count": 2},
                                    {"type": "mutate_after_read", "path": p.deals_path, "mode": "delete",
                                     "count": 1}],
    "clock_offset": lambda p: [{"type": "clock_offset", "seconds": 90}],
    "restart": lambda p: [],
}


def deposit_once(platform: Platform, adapter: PlatformAdapter, login: int, reference: str,
                 since: dt.datetime) -> int:
    """Send a deposit; when the outcome is unknown, look it up, and re-send only after the lookup
    has been repeated past the platform's visibility lag."""
    while True:
        try:
            return adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("10"), f"CRM {reference}")
        except PlatformRejected:
            continue
        except PlatformError as exc:
            if not exc.outcome_unknown:
                continue
        found = retrying(lambda: adapter.find_balance_operation(login, reference, since))
        if found is None:
            platform.sim.advance(seconds=LATE + 60)
            found = retrying(lambda: adapter.find_balance_operation(login, reference, since))
        if found is not None:
            return found


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_reads_and_money_converge_to_the_platforms_truth_under_each_fault(platform, fault):
    adapter = platform.adapter(timeout=3.0)
    logins = [_open(adapter), _open(adapter)]
    since = _now(platform) - dt.timedelta(seconds=1)
    for login in logins:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("20000"), "CRM REFSEED")
        platform.trade_as(login, "scalper")
    faults = FAULTS[fault](platform)
    if faults:
        platform.sim.faults(*faults)
    reference = f"REFF{next(_refs):04d}"
    ticket = deposit_once(platform, adapter, logins[0], reference, since)
    mirror: dict[int, str] = {}
    for step in range(3):
        platform.sim.advance(seconds=20 * 60)
        if fault == "restart" and step == 0:
            platform.sim.control("/_sim/restart", {})
        end = _now(platform) + dt.timedelta(minutes=5)
        for deal in retrying(lambda end=end: adapter.deals(start=since, end=end, logins=logins)):
            mirror[deal.deal_id] = deal.content_hash
    # Faults over, late deals surfaced: the next overlapping read settles it.
    platform.sim.control("/_sim/faults/clear", {})
    platform.sim.advance(seconds=LATE + 60)
    end = _now(platform) + dt.timedelta(minutes=5)
    final = retrying(lambda: adapter.deals(start=since, end=end, logins=logins))
    for deal in final:
        mirror[deal.deal_id] = deal.content_hash
    truth = platform.truth(adapter, set(logins))
    assert {d.deal_id: d.content_hash for d in final} == truth
    assert {k: v for k, v in mirror.items() if k in truth} == truth  # nothing lost, every edit seen
    # The deposit applied exactly once, under the ticket the client settled on.
    with_reference = [d for d in final if reference in d.comment]
    assert [d.deal_id for d in with_reference] == [ticket]


# --- one shape across platforms --------------------------------------------------------------------

@pytest.fixture
def fresh_platforms(tmp_path: Path) -> Iterator[dict[str, Platform]]:
    """Three new simulator processes with the same seed and start: the same market on every face."""
    started: dict[str, Platform] = {}
    try:
        for name in PLATFORMS:
            started[name] = _start(tmp_path, name)
        yield started
    finally:
        for platform in started.values():
            stop_simulator(platform.sim)


def test_the_same_trades_give_the_same_normalised_deals_on_every_platform(fresh_platforms):
    """Lots from cTrader's cents of units and Match-Trader's lots, prices, money and UTC times: the
    fields the IB engine and the exposure page read are equal deal for deal."""
    shapes = {}
    for name in PLATFORMS:
        platform = fresh_platforms[name]
        adapter = platform.adapter()
        login = _open(adapter, group="real\\pro")  # a group with commission
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("50000"), "CRM REFSAME")
        since = _now(platform) - dt.timedelta(seconds=1)
        trades = [("EURUSD", "buy", "1.5", "1.08500", "1.08730"), ("USDJPY", "sell", "0.25", "149.900", "150.250"),
                  ("XAUUSD", "buy", "0.10", "2350.00", "2341.50")]
        for symbol, side, lots, open_price, close_price in trades:
            position = platform.sim.control("/_sim/trade", {"login": login, "symbol": symbol, "action": side,
                                                             "volume": lots, "price": open_price})
            platform.sim.advance(seconds=600)
            platform.sim.control("/_sim/close", {"position": int(position["Position"]), "price": close_price})
        end = _now(platform) + dt.timedelta(minutes=1)
        deals = adapter.deals(start=since, end=end, logins=[login])
        trades_read = [d for d in deals if d.kind.value == "trade"]
        legs = sorted((d.symbol, d.side.value if d.side else "", d.entry.value, d.volume.normalize(),
                       d.price.normalize(), d.profit + d.swap, d.time.isoformat()) for d in trades_read)
        totals = (sum((d.commission for d in trades_read), Decimal(0)),
                  sum((d.profit + d.swap for d in trades_read), Decimal(0)),
                  sum((d.volume for d in trades_read if d.entry.value == "out"), Decimal(0)))
        shapes[name] = (legs, totals)
        assert len(trades_read) == 6
    assert shapes["ctrader"] == shapes["mt5"]
    assert shapes["matchtrader"] == shapes["mt5"]
    assert shapes["sirix"] == shapes["mt5"]
    assert shapes["mt4bridge"] == shapes["mt5"]
    legs, (commission, profit, lots) = shapes["mt5"]
    assert lots == Decimal("1.85") and commission < 0 and profit != 0
    assert all(leg[6].endswith("+00:00") for leg in legs)


# --- the CRM on each platform: accounts, never-twice money, deal sync and the nightly reconciliation --

@pytest.mark.django_db
@pytest.mark.parametrize("name", PLATFORMS)
def test_the_crm_opens_funds_and_syncs_accounts_on_each_platform(platforms, name):
    from types import SimpleNamespace

    from tests.factories import make_brand, make_client
    from tests.trading.crm_fixtures import crm_deals, make_server, open_account
    from trading import sync
    from trading.models import Deal
    from trading.registry import adapter_for, adapters_reset

    platform = platforms[name]
    platform.sim.control("/_sim/faults/clear", {})
    brand = make_brand()
    extra = {} if name == "mt5" else {"kind": name, "server_tz_offset_minutes": 0, "close_only_groups": {}}
    if name == "sirix":
        extra["server_tz_offset_minutes"] = SERVER_TZ_MINUTES
    server = make_server(platform.sim, brand, name=f"{name} {brand.code}", **extra)
    world = SimpleNamespace(sim=platform.sim, client=make_client(brand=brand, stage="registered"), server=server)
    try:
        accounts = [open_account(world, persona="scalper"), open_account(world, persona="swing")]
        # A deposit whose answer is lost is resolved by lookup, never sent twice.
        platform.sim.faults({"type": "timeout_after_apply", "path": platform.balance_path, "mode": "drop", "count": 1})
        from trading.services import (
            balance_operation_request,
            balance_operation_resolve,
            balance_operation_send,
        )

        op = balance_operation_request(actor=None, account=accounts[0], kind="balance", amount=Decimal("123.45"),
                                       send=False)
        op = balance_operation_send(operation_id=op.pk)
        assert op.state == "unknown"
        op = balance_operation_resolve(operation_id=op.pk)
        assert op.state == "applied"
        platform.sim.control("/_sim/faults/clear", {})
        platform.sim.advance(seconds=6 * 3600)
        assert sync.deals_sync(server.pk, force=True).status == "ok"
        platform.sim.faults({"type": "mutate_after_read", "path": platform.deals_path, "mode": "delete", "count": 1})
        platform.sim.advance(seconds=3600)
        assert sync.deals_sync(server.pk, force=True).status == "ok"
        platform.sim.control("/_sim/faults/clear", {})
        assert sync.deals_reconcile(server.pk).status == "ok"
        truth = platform.truth(adapter_for(server), {a.login for a in accounts})
        live, _marked = crm_deals(server)
        assert live == truth
        deposits = Deal.objects.filter(server=server, account=accounts[0], kind="balance",
                                       comment__contains=op.reference)
        assert deposits.count() == 1 and deposits.get().profit == Decimal("123.45")
    finally:
        adapters_reset()
