"""Deal sync against the simulator subprocess: the CRM's deals equal the platform's ground truth by
id and content hash, whatever the platform does (duplicates, late deals, edits, deletions, errors,
restarts), with one event per thing learned."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm.lib.redis import get_redis
from tests.trading.conftest import start_simulator, stop_simulator
from tests.trading.crm_fixtures import (  # noqa: F401 - fixtures
    _fresh_adapters,
    crm_deals,
    events,
    make_server,
    open_account,
    sim_now,
    truth_deals,
    world,
)
from trading import sync
from trading.lease import Lease, LeaseLost, lease_info
from trading.models import Deal, PlatformServer, TradingAccount

DEALS = "/api/deal/get_batch"
LATE = 900  # seconds; below the server's 3600 s overlap


def _sync(server, **kwargs) -> sync.SyncResult:
    result = sync.deals_sync(server.pk, force=True, **kwargs)
    server.refresh_from_db()
    return result


def _assert_matches_truth(world, accounts) -> None:
    logins = {a.login for a in accounts}
    truth, deleted = truth_deals(world.sim, logins)
    live, marked = crm_deals(world.server)
    assert live == truth
    assert marked <= deleted


def test_sync_stores_exactly_the_platforms_deals(world):
    accounts = [open_account(world, persona="scalper"), open_account(world, persona="swing")]
    world.sim.advance(seconds=3 * 3600)
    result = _sync(world.server)
    assert result.status == "ok"
    assert result.inserted > 20
    _assert_matches_truth(world, accounts)
    assert world.server.deal_watermark is not None
    assert world.server.last_error == ""
    deal = Deal.objects.filter(server=world.server, kind="trade").first()
    assert deal.account.client == world.client
    assert deal.raw["Deal"] == str(deal.deal_id)  # the platform's record is kept as it came
    # The platform's server time (UTC+2) is converted at the edge.
    assert deal.time == dt.datetime.fromtimestamp(deal.platform_time_msc / 1000, dt.UTC) - dt.timedelta(hours=2)


def test_replay_writes_nothing_and_an_edit_is_detected(world):
    account = open_account(world, persona="scalper")
    world.sim.advance(seconds=3600)
    first = _sync(world.server)
    assert first.inserted > 0
    updated_before = dict(Deal.objects.values_list("deal_id", "updated_at"))
    again = _sync(world.server)
    assert (again.inserted, again.edited) == (0, 0)
    assert dict(Deal.objects.values_list("deal_id", "updated_at")) == updated_before

    world.sim.faults({"type": "mutate_after_read", "mode": "edit", "count": 2})
    _sync(world.server)  # this read triggers the edits on the platform, after answering
    world.sim.control("/_sim/faults/clear", {})
    edited = _sync(world.server)
    assert edited.edited == 2
    assert len(events("trading.deal_edited", client=world.client)) == 2
    _assert_matches_truth(world, [account])


def test_upsert_of_the_same_chunk_twice_returns_nothing_the_second_time(world):
    from trading.adapters.mt5_web import MT5WebAdapter

    account = open_account(world, persona="scalper")
    world.sim.advance(seconds=1800)
    parser = MT5WebAdapter(world.sim.config())
    deals = [parser._deal(w) for w in world.sim.truth()["deals"] if int(w["Login"]) == account.login]
    columns = sync.deal_columns(deals + deals[:3])  # duplicates inside one batch are harmless too
    first = sync.deals_upsert(world.server.pk, columns)
    assert first.inserted == len(deals) and first.edited == []
    assert {(n.account_id, n.kind) for n in first.new} == {(account.pk, "trade"), (account.pk, "balance")}
    again = sync.deals_upsert(world.server.pk, columns)
    assert (again.inserted, again.edited) == (0, [])


decimals = st.decimals(min_value=Decimal("-1000000000"), max_value=Decimal("1000000000"), places=8,
                       allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(values=st.lists(st.tuples(decimals, decimals, decimals, st.text(max_size=31)), min_size=1, max_size=20))
def test_the_database_computes_the_adapters_content_hash(world, values):
    from trading.adapters.base import Deal as PlatformDeal
    from trading.adapters.base import DealEntry, DealKind, Side, deal_content_hash

    account = TradingAccount.objects.filter(server=world.server).first() or open_account(world, deposit=None)
    start = next(_ids)
    deals = [
        PlatformDeal(deal_id=start * 1000 + i, login=account.login, time=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
                     platform_time_msc=1_772_438_400_000 + i, kind=DealKind.TRADE, action=0, entry=DealEntry.OUT,
                     side=Side.BUY, position_id=7, order_id=8, symbol="XAUUSD", volume=abs(volume) / 1000,
                     price=abs(price), profit=profit, commission=-abs(profit) / 7, swap=Decimal("-0.00"),
                     fee=Decimal("0E-8"), comment=comment.replace("\x00", ""), reason=16,
                     market_bid=None, market_ask=None, raw={"Deal": str(i)})
        for i, (volume, price, profit, comment) in enumerate(values)
    ]
    sync.deals_upsert(world.server.pk, sync.deal_columns(deals))
    stored = dict(Deal.objects.filter(deal_id__in=[d.deal_id for d in deals]).values_list("deal_id", "content_hash"))
    assert stored == {d.deal_id: deal_content_hash(d) for d in deals}


_ids = itertools.count(1)


def test_first_trade_is_announced_once(world):
    account = open_account(world, persona="scalper")
    _sync(world.server)
    assert events("trading.first_trade") == []  # the deposit is not a trade
    world.sim.advance(seconds=3600)
    _sync(world.server)
    world.sim.advance(seconds=3600)
    _sync(world.server)
    firsts = events("trading.first_trade", client=world.client)
    assert len(firsts) == 1
    account.refresh_from_db()
    first_trade = Deal.objects.filter(account=account, kind="trade").order_by("time").first()
    assert account.first_trade_at == first_trade.time


def test_inactivity_is_announced_once_per_episode(world):
    PlatformServer.objects.filter(pk=world.server.pk).update(inactivity_days=1)
    account = open_account(world, persona="dormant")
    _sync(world.server)
    assert events("trading.account_inactive") == []
    world.sim.advance(seconds=26 * 3600)
    _sync(world.server)
    _sync(world.server)
    assert len(events("trading.account_inactive", client=world.client)) == 1

    # A trade ends the episode; a new quiet day starts another.
    position = world.sim.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy",
                                                 "volume": "0.1"})
    world.sim.control("/_sim/close", {"position": int(position["Position"])})
    _sync(world.server)
    account.refresh_from_db()
    assert account.inactive_since is None
    world.sim.advance(seconds=26 * 3600)
    _sync(world.server)
    assert len(events("trading.account_inactive", client=world.client)) == 2


def test_late_deals_are_picked_up_by_the_overlapping_window(world):
    account = open_account(world, persona="scalper")
    _sync(world.server)
    world.sim.faults({"type": "late_deals", "delay_seconds": LATE, "count": 6})
    world.sim.advance(seconds=600)
    _sync(world.server)  # the first six deals of these ten minutes are not visible yet
    truth, _deleted = truth_deals(world.sim, {account.login})
    assert len(crm_deals(world.server)[0]) == len(truth)
    world.sim.control("/_sim/faults/clear", {})
    world.sim.advance(seconds=LATE + 60)
    _sync(world.server)
    _assert_matches_truth(world, [account])


def test_a_failure_keeps_the_watermark_records_the_error_and_backs_off(world):
    account = open_account(world, persona="scalper")
    world.sim.advance(seconds=1800)
    _sync(world.server)
    watermark = world.server.deal_watermark
    world.sim.faults({"type": "http_error", "path": DEALS, "status": 503, "count": 5})
    world.sim.advance(seconds=1800)
    failed = _sync(world.server)
    assert failed.status == "error"
    assert world.server.deal_watermark == watermark
    assert "503" in world.server.last_error
    assert world.server.consecutive_failures == 1
    assert world.server.backoff_until is not None
    assert sync.deals_sync(world.server.pk).status == "backoff"  # beat waits out the backoff
    world.sim.control("/_sim/faults/clear", {})
    assert _sync(world.server).status == "ok"
    assert world.server.consecutive_failures == 0 and world.server.last_error == ""
    assert world.server.deal_watermark > watermark
    _assert_matches_truth(world, [account])


def test_beat_polls_a_server_only_when_its_own_interval_is_due(world):
    now = dt.datetime.now(dt.UTC)
    assert world.server.pk in sync.servers_due("deals")
    _sync(world.server)
    assert world.server.pk not in sync.servers_due("deals")
    assert world.server.pk in sync.servers_due("deals", now=now + dt.timedelta(seconds=20))
    assert world.server.pk in sync.servers_due("states")  # its own clock
    PlatformServer.objects.filter(pk=world.server.pk).update(backoff_until=now + dt.timedelta(minutes=5))
    assert world.server.pk not in sync.servers_due("deals", now=now + dt.timedelta(seconds=20))
    PlatformServer.objects.filter(pk=world.server.pk).update(backoff_until=None, sync_enabled=False)
    assert world.server.pk not in sync.servers_due("deals", now=now + dt.timedelta(seconds=20))


def test_two_workers_never_sync_one_server_at_once(world):
    with sync.server_lock(world.server.pk, "deals") as held:
        assert held
        assert sync.deals_sync(world.server.pk, force=True).status == "busy"
        assert sync.deals_reconcile(world.server.pk).status == "busy"
    assert sync.deals_sync(world.server.pk, force=True).status == "ok"


def test_a_sync_that_lost_its_lease_stops_before_writing_and_cannot_free_the_new_holders(world):
    open_account(world, persona="scalper")
    world.sim.advance(seconds=2 * 3600)
    key = sync.lease_key(world.server.pk, "deals")
    with sync.server_lock(world.server.pk, "deals") as stale:
        stale._stop.set()  # the holder stalls: no renewal; its lease lapses and another worker takes it
        get_redis().delete(key)
        taker = Lease(key, ttl=30, owner="worker-b")
        assert taker.acquire()
        with pytest.raises(LeaseLost):
            sync._deals_sync_locked(world.server, timezone.now())
    assert not Deal.objects.filter(server=world.server).exists()
    world.server.refresh_from_db()
    assert world.server.deal_watermark is None
    assert lease_info(key).owner == "worker-b"  # the stale holder's exit did not free it
    assert sync.deals_sync(world.server.pk, force=True).status == "busy"
    taker.release()
    assert sync.deals_sync(world.server.pk, force=True).status == "ok"


def test_reconcile_marks_deleted_deals_and_checks_balances(world):
    from django.db import connection

    account = open_account(world, persona="scalper")
    world.sim.advance(seconds=2 * 3600)
    _sync(world.server)
    world.sim.faults({"type": "mutate_after_read", "mode": "delete", "count": 2})
    _sync(world.server)  # the platform deletes two of the deals it just returned
    world.sim.control("/_sim/faults/clear", {})
    result = sync.deals_reconcile(world.server.pk)
    assert result.status == "ok"
    assert result.deleted == 2
    _assert_matches_truth(world, [account])
    assert len(events("trading.deal_deleted", client=world.client)) == 2
    assert events("trading.balance_mismatch") == []

    # A stored deal that no longer matches the platform's money is caught (the raw table is the point).
    with connection.cursor() as cursor:
        cursor.execute("UPDATE trading_deal SET profit = profit + 1, content_hash = 'x' WHERE id = "
                       "(SELECT id FROM trading_deal WHERE account_id = %s AND kind = 'trade' AND profit <> 0 "
                       "ORDER BY id LIMIT 1)", [account.pk])
    sync.deals_reconcile(world.server.pk, days=1)  # a window that no longer covers the tampered deal
    mismatch = events("trading.balance_mismatch", client=world.client)
    if Deal.objects.filter(account=account, content_hash="x").exists():
        assert len(mismatch) == 1
        assert Decimal(mismatch[0].data["deals_balance"]) == Decimal(mismatch[0].data["platform_balance"]) + 1
    else:  # the window re-read it and repaired it: nothing to report
        assert mismatch == []


def test_sync_lag_is_announced_once_per_episode(world):
    PlatformServer.objects.filter(pk=world.server.pk).update(
        sync_lag_alert_seconds=60, last_deal_sync_ok_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    sync.sync_health_check(server_id=world.server.pk)
    sync.sync_health_check(server_id=world.server.pk)
    assert len(events("trading.sync_lag")) == 1
    _sync(world.server)
    assert len(events("trading.sync_lag_cleared")) == 1
    assert world.server.lag_alert_since is None


def test_sync_resumes_after_a_simulator_restart(db, tmp_path):
    from types import SimpleNamespace

    from tests.factories import make_brand, make_client

    simulator = start_simulator(tmp_path / "restart-sim")
    try:
        brand = make_brand()
        world = SimpleNamespace(sim=simulator, client=make_client(brand=brand, stage="registered"), server=make_server(simulator, brand))
        accounts = [open_account(world, persona="scalper"), open_account(world, persona="swing")]
        simulator.advance(seconds=3600)
        assert _sync(world.server).status == "ok"
        simulator.control("/_sim/restart", {})
        simulator.advance(seconds=3600)
        statuses = [_sync(world.server).status for _ in range(2)]
        assert "ok" in statuses  # the first poll may meet the dropped connection; the next logs in again
        _assert_matches_truth(world, accounts)
    finally:
        stop_simulator(simulator)


def test_sync_resumes_after_the_simulator_process_is_restarted(db, tmp_path):
    from types import SimpleNamespace

    from tests.factories import make_brand, make_client

    state = tmp_path / "process-sim"
    simulator = start_simulator(state)
    try:
        brand = make_brand()
        world = SimpleNamespace(sim=simulator, client=make_client(brand=brand, stage="registered"), server=make_server(simulator, brand))
        accounts = [open_account(world, persona="scalper")]
        simulator.advance(seconds=3600)
        _sync(world.server)
        watermark = world.server.deal_watermark
    finally:
        stop_simulator(simulator)
    assert _sync(world.server).status == "error"  # nothing listens there now
    assert world.server.deal_watermark == watermark
    simulator = start_simulator(state)  # same state, new process and port
    try:
        world.sim = simulator
        PlatformServer.objects.filter(pk=world.server.pk).update(port=simulator.port)
        world.server.refresh_from_db()
        simulator.advance(seconds=3600)
        assert _sync(world.server).status == "ok"
        _assert_matches_truth(world, accounts)
    finally:
        stop_simulator(simulator)


# --- fault plans (hypothesis) -------------------------------------------------------------------------

_plans = itertools.count()
read_faults = st.one_of(
    st.fixed_dictionaries({"type": st.just("duplicate_deals"), "copies": st.integers(1, 2),
                           "count": st.integers(1, 3)}),
    st.fixed_dictionaries({"type": st.just("late_deals"), "delay_seconds": st.integers(120, LATE),
                           "count": st.integers(2, 12)}),
    st.fixed_dictionaries({"type": st.just("mutate_after_read"), "mode": st.sampled_from(["edit", "delete"]),
                           "count": st.integers(1, 3)}),
    st.fixed_dictionaries({"type": st.just("http_error"), "path": st.just(DEALS),
                           "status": st.sampled_from([500, 503]), "count": st.integers(1, 2)}),
    st.fixed_dictionaries({"type": st.just("malformed"), "path": st.just(DEALS),
                           "mode": st.sampled_from(["not_json", "truncated", "wrong_shape"]), "count": st.just(1)}),
    st.fixed_dictionaries({"type": st.just("retcode"), "path": st.just(DEALS),
                           "retcode": st.sampled_from(["9 Operation timeout", "10 No connection"]),
                           "count": st.just(1)}),
    st.fixed_dictionaries({"type": st.just("latency"), "path": st.just(DEALS), "seconds": st.just(3.5),
                           "count": st.just(1)}),  # past the adapter's 3 s timeout
    st.just({"type": "restart"}),
)


@pytest.mark.django_db
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@example(plan=[{"type": "late_deals", "delay_seconds": LATE, "count": 12},
               {"type": "duplicate_deals", "copies": 2, "count": 3}], steps=[3, 3, 3])
@example(plan=[{"type": "mutate_after_read", "mode": "edit", "count": 3},
               {"type": "mutate_after_read", "mode": "delete", "count": 2}, {"type": "restart"},
               {"type": "http_error", "path": DEALS, "status": 503, "count": 1}], steps=[10, 20])
@given(plan=st.lists(read_faults, min_size=1, max_size=4), steps=st.lists(st.integers(1, 30), min_size=1,
                                                                           max_size=3))
def test_deals_match_the_ground_truth_under_a_fault_plan(shared_sim, plan, steps):
    from types import SimpleNamespace

    from tests.factories import make_brand, make_client

    sim = shared_sim
    sim.control("/_sim/faults/clear", {})
    brand = make_brand()
    world = SimpleNamespace(sim=sim, client=make_client(brand=brand, stage="registered"), server=make_server(sim, brand, name=f"plan{next(_plans)}"))
    accounts = [open_account(world, persona="scalper"), open_account(world, persona="latency_arb"),
                open_account(world, persona="swing")]
    _sync(world.server)
    faults = [f for f in plan if f["type"] != "restart"]
    if faults:
        sim.faults(*faults)
    for index, minutes in enumerate(steps):
        sim.advance(seconds=minutes * 60)
        if index == 0 and any(f["type"] == "restart" for f in plan):
            sim.control("/_sim/restart", {})
        _sync(world.server)
    # Faults over; late deals surface; the next polls and the nightly reconciliation settle it.
    sim.control("/_sim/faults/clear", {})
    sim.advance(seconds=LATE + 60)
    assert _sync(world.server).status == "ok"
    # The polls alone lose nothing (late deals included); edits of deals older than the window and
    # deletions are the reconciliation's to settle.
    truth, _deleted = truth_deals(sim, {a.login for a in accounts})
    live, _marked = crm_deals(world.server)
    assert set(truth) <= set(live)
    assert sync.deals_reconcile(world.server.pk).status == "ok"
    _assert_matches_truth(world, accounts)
    # Every stored deal belongs to the account of its login.
    assert not Deal.objects.filter(server=world.server).exclude(
        account__in=TradingAccount.objects.filter(server=world.server)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_reads_and_writes_in_parallel_and_gets_the_same_result(quiet_sim):
    from types import SimpleNamespace

    from django.db import connection

    from tests.factories import make_brand, make_client

    brand = make_brand()
    world = SimpleNamespace(sim=quiet_sim, client=make_client(brand=brand, stage="registered"), server=make_server(quiet_sim, brand))
    accounts = [open_account(world, persona="scalper") for _ in range(3)]
    quiet_sim.advance(seconds=3600)
    assert not connection.in_atomic_block  # as in a Celery worker: the writer thread is used
    result = _sync(world.server)
    assert result.status == "ok" and result.inserted == result.fetched > 0
    _assert_matches_truth(world, accounts)
    assert len(events("trading.first_trade", client=world.client)) == 3
