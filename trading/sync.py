"""Keeping the CRM in step with the trading platforms: deals, account states, positions, signals.

Every entry point takes a server id, holds a lease for that server and job (trading.lease: two
workers never sync the same server at once), talks to the platform through the server's adapter
(trading.registry) and writes in bulk. Celery tasks (trading.tasks) are thin wrappers.

Leases
    Short (``TRADING_SYNC_LEASE_SECONDS``, 30 s) and renewed by a heartbeat while the work runs, so
    a worker killed mid-sync blocks its server for one TTL at most, not for the longest poll there
    could be. Every write checks the lease first (``_still_leased``): a worker that lost it (a
    long pause, another worker took over) stops before writing. Writes are idempotent upserts and
    the watermark moves only after the deals are stored, so a sync cut off anywhere loses nothing
    and the next holder re-reads from the same watermark. The servers page shows who holds a
    lease, since when, and its last renewal (``server_leases``).

Deals (``deals_sync``)
    Each poll reads the window [watermark - overlap, platform now + 1 h) for the server's accounts.
    The watermark is the platform's own clock read *before* the deals, so nothing stamped after it
    is skipped, and the overlap re-reads the recent past so that deals that became visible late
    (a platform may show a deal minutes after its time) are still picked up. Accounts new to the
    sync are first read back to their opening (``history_synced``). The deal table is partitioned by
    month (migration 0016): a chunk's months get their partitions first, and one read finds the
    deals whose time the platform edited, which are moved to it before the write. Rows are written
    with ONE SQL statement per chunk: ``INSERT ... SELECT FROM unnest(...) ON CONFLICT (server_id, deal_id, time) DO
    UPDATE ... WHERE content_hash IS DISTINCT FROM EXCLUDED.content_hash RETURNING ...``.
    Rows already stored with the same hash are dropped before the insert is attempted (an index
    probe on the unique index, which carries the hash), so a replay writes nothing and costs less
    than new rows; a changed hash is an edit ("trading.deal_edited"). The watermark and health
    fields are written only after every chunk is stored: a failure records ``last_error``, backs
    off exponentially and leaves the watermark where it was, so the next poll re-reads the window.

Reconciliation (``deals_reconcile``, nightly)
    Re-reads a full window (``reconcile_days``); stored deals in it that the platform no longer
    shows get ``deleted_at`` ("trading.deal_deleted"); for every account whose history is complete,
    the stored deals must sum to the platform balance (and credit deals to the credit), else
    "trading.balance_mismatch".

Account states (``account_states_sync``)
    Balance, credit, equity, margin and margin level of every active account, in batches, plus
    open positions; the same statement keeps each account's equity high of the day
    (AccountEquityDay, pruned nightly after ``EQUITY_DAYS_KEPT`` days). Margin calls have hysteresis: an episode starts below the server's
    ``margin_call_enter_level`` and ends above ``margin_call_leave_level``; each start and end is
    one conditional UPDATE, so there is exactly one "trading.margin_call_entered" per episode.

Signals
    "trading.first_trade" (an account's first trade deal), "trading.account_inactive" (no trade for
    ``inactivity_days`` of platform time, once per episode; a new trade ends it),
    "trading.sync_lag" / "trading.sync_lag_cleared" (the deal data is older than
    ``sync_lag_alert_seconds``, once per episode; ``sync_health_check``).

Times: deal times and the watermark are the platform's clock converted to UTC; lags and backoff
are the CRM's own clock.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.events import emit_many
from crm.lib.partitions import month_partitions_cover
from plumbing.sqlfiles import sql_text
from trading import summaries
from trading.adapters.base import (
    AccountState,
    Deal,
    DealKind,
    PlatformAdapter,
    PlatformError,
)
from trading.adapters.base import Position as PlatformPosition
from trading.exceptions import CredentialsUnreadable
from trading.lease import Lease, LeaseInfo, LeaseLost, lease_hold, leases_info
from trading.models import AccountEquityDay as EquityDay
from trading.models import Deal as DealRow
from trading.models import PlatformServer, TradingAccount
from trading.registry import adapter_discard, adapter_for

logger = logging.getLogger(__name__)

CHUNK = 5_000  # deals per SQL statement
LOGIN_BATCH = 1_000  # accounts per account-state round
FUTURE_SLACK = dt.timedelta(hours=1)  # deals stamped a little after the platform's "now" are read too
BACKFILL_DAYS = 90  # history read for an account whose opening time is unknown
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 300
RATE_SMOOTHING = Decimal("0.3")  # weight of the newest measurement in deals_per_minute
CENT = Decimal("0.01")


# --- leases ----------------------------------------------------------------------------------------

LEASE_JOBS = ("deals", "states")
# The lease the running sync holds; the writer thread gets it through its copied context.
_current_lease: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("trading_sync_lease", default=None)


def lease_key(server_id: int, job: str) -> str:
    return f"crm:trading:sync:{job}:{server_id}"


def lease_seconds() -> float:
    return float(settings.TRADING_SYNC_LEASE_SECONDS)


@contextlib.contextmanager
def server_lock(server_id: int, job: str) -> Iterator[Lease | None]:
    """Hold the lease of (server, job) for the block; yields None (and runs nothing exclusive)
    when another worker holds it. Released on every way out."""
    with lease_hold(lease_key(server_id, job), ttl=lease_seconds()) as held:
        token = _current_lease.set(held)
        try:
            yield held
        finally:
            _current_lease.reset(token)


def _still_leased() -> None:
    """Raise LeaseLost when the running sync no longer holds its lease: call before each write."""
    held = _current_lease.get()
    if held is not None:
        held.check()


def server_leases(server_ids: Sequence[int]) -> dict[int, dict[str, LeaseInfo]]:
    """The held leases of each server, by job (a job missing: nobody holds it). One round trip."""
    keys = [(pk, job) for pk in server_ids for job in LEASE_JOBS]
    infos = leases_info([lease_key(pk, job) for pk, job in keys])
    out: dict[int, dict[str, LeaseInfo]] = {pk: {} for pk in server_ids}
    for (pk, job), info in zip(keys, infos, strict=True):
        if info is not None:
            out[pk][job] = info
    return out


# --- the bulk deal upsert --------------------------------------------------------------------------

# The columns of a chunk of deals (deal_columns), one array each in trading/sql/sync/_deal_upsert.sql.
DEAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("deal_id", "bigint"), ("login", "bigint"), ("time", "timestamptz"), ("platform_time_msc", "bigint"),
    ("kind", "text"), ("action", "smallint"), ("entry", "text"), ("side", "text"), ("position_id", "bigint"),
    ("order_id", "bigint"), ("symbol", "text"), ("volume", "numeric"), ("price", "numeric"),
    ("profit", "numeric"), ("commission", "numeric"), ("swap", "numeric"), ("fee", "numeric"),
    ("comment", "text"), ("reason", "smallint"), ("market_bid", "numeric"), ("market_ask", "numeric"),
    ("raw", "text"), ("market_spread", "numeric"),
)
# The statements of the upsert (trading/sql/sync/): the deals' new time first, then the deals.
UPSERT_SQL = sql_text("trading", "sync/deals_upsert")
MOVED_SQL = sql_text("trading", "sync/deals_moved")
MOVE_SQL = sql_text("trading", "sync/deals_move")


def deal_columns(deals: Iterable[Deal]) -> dict[str, list[Any]]:
    """The deals as one list per column, ready for the upsert's unnest (last copy of an id wins).

    Money, prices and volumes travel as decimal text (the server casts them to numeric): dumping
    Decimal objects one by one costs several times more than their text. The content hash is
    computed by the database (trading/sql/sync/_content_hash.sql)."""
    unique = list({deal.deal_id: deal for deal in deals}.values())
    dumps = orjson.dumps  # about ten times the standard library's speed on these 45-field records
    return {
        "deal_id": [d.deal_id for d in unique],
        "login": [d.login for d in unique],
        "time": [d.time for d in unique],
        "platform_time_msc": [d.platform_time_msc for d in unique],
        "kind": [d.kind.value for d in unique],
        "action": [d.action for d in unique],
        "entry": [d.entry.value for d in unique],
        "side": [d.side.value if d.side is not None else "" for d in unique],
        "position_id": [d.position_id for d in unique],
        "order_id": [d.order_id for d in unique],
        "symbol": [d.symbol for d in unique],
        "volume": [str(d.volume) for d in unique],
        "price": [str(d.price) for d in unique],
        "profit": [str(d.profit) for d in unique],
        "commission": [str(d.commission) for d in unique],
        "swap": [str(d.swap) for d in unique],
        "fee": [str(d.fee) for d in unique],
        "comment": [d.comment for d in unique],
        "reason": [d.reason for d in unique],
        "market_bid": [None if d.market_bid is None else str(d.market_bid) for d in unique],
        "market_ask": [None if d.market_ask is None else str(d.market_ask) for d in unique],
        "raw": [dumps(d.raw).decode() for d in unique],
        "market_spread": [None if d.market_spread is None else str(d.market_spread) for d in unique],
    }


@dataclass(frozen=True)
class NewDeals:
    """New deals of one account and kind in one upsert: how many, the earliest and latest time."""

    account_id: int
    kind: str
    count: int
    first: dt.datetime
    last: dt.datetime


@dataclass
class UpsertResult:
    new: list[NewDeals] = field(default_factory=list)
    edited: list[tuple[int, int, str, dt.datetime]] = field(default_factory=list)  # account, deal_id, kind, time

    @property
    def inserted(self) -> int:
        return sum(row.count for row in self.new)


@contextlib.contextmanager
def _binding_cursor() -> Iterator[psycopg.Cursor[Any]]:
    """A server-side binding cursor on Django's connection (same transaction). Django's own cursors
    bind client-side, which would spell every array out as an SQL literal."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def deals_upsert(server_id: int, columns: dict[str, list[Any]], *, chunk: int = CHUNK) -> UpsertResult:
    """Write the deals with one statement per chunk; returns what was new and what was edited.
    Deals of logins the CRM has no account for are skipped. Runs in the caller's transaction.

    The deal table is partitioned by month on the deal's time (migration 0016): the months of a
    chunk get their partitions first (an account's history may go back years), and the deals
    whose time the platform edited are moved to it (a statement more, only then) before the
    upsert, whose key (server, deal id, time) then finds them: a deal is stored once per server."""
    result = UpsertResult()
    total = len(columns["deal_id"])
    with _binding_cursor() as cursor:
        for start in range(0, total, chunk):
            params: dict[str, Any] = {name: values[start:start + chunk] for name, values in columns.items()}
            params["server_id"] = server_id
            month_partitions_cover(DealRow._meta.db_table, params["time"])
            cursor.execute(MOVED_SQL, {"server_id": server_id, "deal_id": params["deal_id"], "time": params["time"]})
            moved = cursor.fetchall()
            if moved:
                cursor.execute(MOVE_SQL, {"server_id": server_id, "deal_id": [m[0] for m in moved],
                                          "stored": [m[1] for m in moved], "time": [m[2] for m in moved]})
            cursor.execute(UPSERT_SQL, params)
            for inserted, account_id, kind, deal_id, count, first, last in cursor.fetchall():
                if inserted:
                    result.new.append(NewDeals(account_id, kind, count, first, last))
                else:
                    result.edited.append((account_id, deal_id, kind, first))
    return result


# --- results ----------------------------------------------------------------------------------------

@dataclass
class SyncResult:
    status: str  # ok, busy, backoff, disabled, error, lost (the lease, to another worker)
    fetched: int = 0
    inserted: int = 0
    edited: int = 0
    deleted: int = 0
    accounts: int = 0
    error: str = ""
    window: tuple[dt.datetime, dt.datetime] | None = None
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _server(server_id: int) -> PlatformServer | None:
    return PlatformServer.objects.select_related("brand").filter(pk=server_id).first()


def _backoff_seconds(failures: int) -> int:
    return min(int(BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1)), BACKOFF_MAX_SECONDS)


def _record_failure(server: PlatformServer, error: PlatformError | CredentialsUnreadable, *, what: str) -> None:
    now = timezone.now()
    failures = server.consecutive_failures + 1
    message = f"{what}: {error}"[:2000]
    PlatformServer.objects.filter(pk=server.pk).update(
        last_error=message, last_error_at=now, consecutive_failures=F("consecutive_failures") + 1,
        backoff_until=now + dt.timedelta(seconds=_backoff_seconds(failures)), updated_at=now,
    )
    adapter_discard(server)  # the session may be half-dead; the next call logs in afresh
    logger.warning("trading sync failed", extra={"server": server.pk, "what": what, "error": str(error)})


def _lease_lost(server: PlatformServer, what: str, lost: LeaseLost) -> SyncResult:
    # Not the platform's fault: no backoff. Whoever holds the lease now carries on.
    logger.warning("trading sync stopped: lease lost", extra={"server": server.pk, "what": what})
    return SyncResult("lost", error=str(lost))


def _in_backoff(server: PlatformServer) -> bool:
    return server.backoff_until is not None and server.backoff_until > timezone.now()


def _active_accounts(server: PlatformServer) -> list[TradingAccount]:
    return list(TradingAccount.objects.filter(server=server, is_archived=False)
                .only("id", "login", "history_synced", "opened_at", "client_id").order_by("login"))


# --- deals -------------------------------------------------------------------------------------------

def deals_sync(server_id: int, *, force: bool = False) -> SyncResult:
    """One deal poll of a server (see the module docstring). `force` ignores the backoff."""
    server = _server(server_id)
    if server is None or not server.is_active or not server.sync_enabled:
        return SyncResult("disabled")
    if not force and _in_backoff(server):
        return SyncResult("backoff")
    with server_lock(server.pk, "deals") as acquired:
        if not acquired:
            return SyncResult("busy")
        started = timezone.now()
        PlatformServer.objects.filter(pk=server.pk).update(last_deal_sync_at=started)
        try:
            result = _deals_sync_locked(server, started)
        except (PlatformError, CredentialsUnreadable) as error:
            _record_failure(server, error, what="deal sync")
            sync_health_check(server_id=server.pk)
            return SyncResult("error", error=str(error))
        except LeaseLost as lost:
            return _lease_lost(server, "deal sync", lost)
    sync_health_check(server_id=server.pk)
    return result


def _deals_sync_locked(server: PlatformServer, started: dt.datetime) -> SyncResult:
    adapter = adapter_for(server)
    accounts = _active_accounts(server)
    platform_now = adapter.server_time().utc
    end = platform_now + FUTURE_SLACK
    base = server.deal_watermark or platform_now - dt.timedelta(days=BACKFILL_DAYS)
    # min(): a platform clock that ran ahead and came back must not leave fresh deals behind.
    start = min(base, platform_now) - dt.timedelta(seconds=server.deal_overlap_seconds)
    result = SyncResult("ok", accounts=len(accounts), window=(start, end))

    fresh = [a for a in accounts if not a.history_synced]
    if fresh:
        since = min((a.opened_at or platform_now - dt.timedelta(days=BACKFILL_DAYS)) for a in fresh)
        since -= dt.timedelta(days=1)  # the platform's clock and the opening stamp may disagree a little
        _read_and_store(server, adapter, start=since, end=end, logins=[a.login for a in fresh], result=result)
        TradingAccount.objects.filter(pk__in=[a.pk for a in fresh]).update(history_synced=True)
    known = [a.login for a in accounts if a.history_synced]
    if known:
        _read_and_store(server, adapter, start=start, end=end, logins=known, result=result)

    result.events["trading.account_inactive"] += _inactivity_sweep(server, platform_now)
    _record_deal_success(server, started, platform_now, result.inserted)
    return result


def _read_and_store(server: PlatformServer, adapter: PlatformAdapter, *, start: dt.datetime, end: dt.datetime,
                    logins: Sequence[int], result: SyncResult) -> None:
    """Read the deals of `logins` in the platform's own login chunks and store each chunk. In a
    worker (no transaction open) a writer thread stores a chunk while the next one is read and
    parsed, so the platform's answer time and the database's write time overlap."""
    size = max(1, adapter.capabilities.max_logins_per_request)
    with _DealWriter(server, result, threaded=not connection.in_atomic_block) as writer:
        for begin in range(0, len(logins), size):
            deals = adapter.deals(start=start, end=end, logins=logins[begin:begin + size])
            result.fetched += len(deals)
            writer.put(deals)


class _DealWriter:
    """Stores chunks of deals, inline or in one background thread with its own database connection
    (a chunk is its own transaction either way). A failure in the thread is raised in the caller."""

    def __init__(self, server: PlatformServer, result: SyncResult, *, threaded: bool) -> None:
        self.server = server
        self.result = result
        self.threaded = threaded
        self._queue: queue.Queue[Sequence[Deal] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _DealWriter:
        if self.threaded:
            run = contextvars.copy_context().run  # the acting context (actor, request id) goes along
            self._thread = threading.Thread(target=run, args=(self._run,), daemon=True,
                                            name=f"trading-deal-writer-{self.server.pk}")
            self._thread.start()
        return self

    def put(self, deals: Sequence[Deal]) -> None:
        if not deals:
            return
        if self._thread is None:
            deals_store(self.server, deals, self.result)
            return
        if self._error is not None:
            raise self._error
        self._queue.put(deals)

    def _run(self) -> None:
        try:
            while (deals := self._queue.get()) is not None:
                if self._error is not None:
                    continue  # keep draining so that the reader never blocks on a full queue
                try:
                    deals_store(self.server, deals, self.result)
                except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, raised there
                    self._error = exc
        finally:
            connection.close()  # this thread's own connection

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self._error is not None and exc is None:
            raise self._error


def deals_store(server: PlatformServer, deals: Sequence[Deal], result: SyncResult | None = None) -> SyncResult:
    """Store deals read from the platform: the bulk upsert, one transaction per chunk, and what
    the new and edited rows teach (first trades, edit events). Idempotent.

    Outside an enclosing transaction the chunks commit without waiting for the WAL flush
    (synchronous_commit off): a crash can lose only the last chunks, never leave them half
    written, and as the watermark is written after them (and so lost first), the next poll reads
    them again."""
    result = result if result is not None else SyncResult("ok")
    relaxed = not connection.in_atomic_block
    touched: set[int] = set()
    for begin in range(0, len(deals), CHUNK):
        # Columns are built chunk by chunk: a large read never doubles its memory at once.
        part = deal_columns(deals[begin:begin + CHUNK])
        with transaction.atomic():
            if relaxed:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            _still_leased()
            upserted = deals_upsert(server.pk, part)
            result.inserted += upserted.inserted
            result.edited += len(upserted.edited)
            for name, count in _learn_from_deals(server, upserted).items():
                result.events[name] += count
            _still_leased()  # once more before the commit: a holder that lost it meanwhile rolls back
        touched.update(row.account_id for row in upserted.new)
        touched.update(row[0] for row in upserted.edited)
    if touched:
        _challenges_after_deals(server, sorted(touched))
    return result


def _challenges_after_deals(server: PlatformServer, account_ids: list[int]) -> None:
    """Prop challenges of these accounts: trading days and instruments (trading.prop)."""
    from trading import prop

    prop.challenges_act(prop.challenges_deals_learn(server_id=server.pk, account_ids=account_ids))


def _challenges_after_states(server: PlatformServer) -> None:
    """Prop challenges of this server against the money just stored, then their platform actions
    (outside the transactions: a platform call must not hold the rows)."""
    from trading import prop

    prop.challenges_act(prop.challenges_evaluate(server_ids=[server.pk]))
    prop.challenges_enforce_due(server_ids=[server.pk])


def _learn_from_deals(server: PlatformServer, upserted: UpsertResult) -> dict[str, int]:
    """First trades, the end of inactivity episodes, and edit events, for one stored chunk."""
    counts: dict[str, int] = defaultdict(int)
    first: dict[int, dt.datetime] = {}
    last: dict[int, dt.datetime] = {}
    for row in upserted.new:
        if row.kind != DealKind.TRADE:
            continue
        if row.account_id not in first or row.first < first[row.account_id]:
            first[row.account_id] = row.first
        if row.account_id not in last or row.last > last[row.account_id]:
            last[row.account_id] = row.last
    events: list[dict[str, Any]] = []
    if first:
        ids = list(first)
        with connection.cursor() as cursor:
            cursor.execute(sql_text("trading", "sync/first_trades"),
                           {"ids": ids, "first": [first[i] for i in ids], "last": [last[i] for i in ids]})
            newly_first = [pk for pk, is_first in cursor.fetchall() if is_first]
        summaries.retention_refresh_accounts(account_ids=ids)  # their last trades moved
        accounts = TradingAccount.objects.select_related("client").in_bulk(newly_first)
        for pk in newly_first:
            account = accounts[pk]
            events.append({"name": "trading.first_trade", "client": account.client, "occurred_at": first[pk],
                           "data": _account_data(account) | {"at": first[pk].isoformat()}})
    if upserted.edited:
        accounts = TradingAccount.objects.select_related("client").in_bulk({row[0] for row in upserted.edited})
        for account_id, deal_id, kind, when in upserted.edited:
            account = accounts[account_id]
            events.append({"name": "trading.deal_edited", "client": account.client,
                           "data": _account_data(account) | {"deal_id": deal_id, "kind": kind,
                                                             "time": when.isoformat()}})
    for event in events:
        counts[event["name"]] += 1
    emit_many(events)
    return counts


def _account_data(account: TradingAccount) -> dict[str, Any]:
    return {"account": str(account.code), "login": account.login, "server": account.server_id}


def _inactivity_sweep(server: PlatformServer, platform_now: dt.datetime) -> int:
    """Start an inactivity episode for accounts without a trade for `inactivity_days`."""
    if not server.inactivity_days:
        return 0
    cutoff = platform_now - dt.timedelta(days=server.inactivity_days)
    with transaction.atomic():
        _still_leased()
        candidates = (TradingAccount.objects.filter(server=server, is_archived=False, inactive_since__isnull=True)
                      .annotate(last_activity=Coalesce("last_trade_at", "opened_at"))
                      .filter(last_activity__lt=cutoff))
        ids = list(candidates.values_list("pk", flat=True))
        if not ids:
            return 0
        # Conditional update: a concurrent sweep cannot start the same episode twice.
        started = list(TradingAccount.objects.filter(pk__in=ids, inactive_since__isnull=True)
                       .select_for_update(skip_locked=True).values_list("pk", flat=True))
        TradingAccount.objects.filter(pk__in=started).update(inactive_since=platform_now, updated_at=timezone.now())
        accounts = TradingAccount.objects.select_related("client").in_bulk(started)
        emit_many({
            "name": "trading.account_inactive", "client": a.client,
            "data": _account_data(a) | {
                "days": server.inactivity_days,
                "last_trade_at": a.last_trade_at.isoformat() if a.last_trade_at else None,
            },
        } for a in accounts.values())
        return len(started)


def _record_deal_success(server: PlatformServer, started: dt.datetime, platform_now: dt.datetime,
                         inserted: int) -> None:
    _still_leased()  # a stale holder must not move the watermark under the new one
    now = timezone.now()
    rate = Decimal(server.deals_per_minute)
    if server.last_deal_sync_ok_at is not None:
        minutes = Decimal(max((started - server.last_deal_sync_ok_at).total_seconds(), 1.0)) / 60
        measured = Decimal(inserted) / minutes
        rate = (RATE_SMOOTHING * measured + (1 - RATE_SMOOTHING) * rate).quantize(CENT)
    PlatformServer.objects.filter(pk=server.pk).update(
        deal_watermark=platform_now, last_deal_sync_ok_at=started, deals_per_minute=rate,
        sync_lag_seconds=int((now - started).total_seconds()), consecutive_failures=0, backoff_until=None,
        last_error="", updated_at=now,
    )


# --- reconciliation ------------------------------------------------------------------------------

def deals_reconcile(server_id: int, *, days: int | None = None) -> SyncResult:
    """Re-read a full window: mark deals the platform deleted, and check balances against deals."""
    server = _server(server_id)
    if server is None or not server.is_active or not server.sync_enabled:
        return SyncResult("disabled")
    with server_lock(server.pk, "deals") as acquired:
        if not acquired:
            return SyncResult("busy")
        try:
            result = _reconcile_locked(server, days if days is not None else server.reconcile_days)
        except (PlatformError, CredentialsUnreadable) as error:
            _record_failure(server, error, what="reconciliation")
            return SyncResult("error", error=str(error))
        except LeaseLost as lost:
            return _lease_lost(server, "reconciliation", lost)
    return result


def _reconcile_locked(server: PlatformServer, days: int) -> SyncResult:
    adapter = adapter_for(server)
    accounts = [a for a in _active_accounts(server) if a.history_synced]
    platform_now = adapter.server_time().utc
    start, end = platform_now - dt.timedelta(days=days), platform_now + FUTURE_SLACK
    result = SyncResult("ok", accounts=len(accounts), window=(start, end))
    if not accounts:
        return result
    size = max(1, adapter.capabilities.max_logins_per_request)
    for begin in range(0, len(accounts), size):
        # One login chunk at a time: a full window of every account never sits in memory at once.
        batch = accounts[begin:begin + size]
        deals = adapter.deals(start=start, end=end, logins=[a.login for a in batch])
        result.fetched += len(deals)
        deals_store(server, deals, result)
        result.deleted += _mark_deleted(server, batch, {d.deal_id for d in deals}, start, end)
    result.events["trading.balance_mismatch"] += _balance_check(server, adapter, accounts)
    equity_days_prune(server)
    PlatformServer.objects.filter(pk=server.pk).update(last_reconcile_at=timezone.now())
    return result


EQUITY_DAYS_KEPT = 90  # the retention workspace compares with the last 30 days; a margin for longer views


def equity_days_prune(server: PlatformServer, *, keep_days: int = EQUITY_DAYS_KEPT) -> int:
    """Forget the equity highs of `server`'s accounts older than `keep_days` (nightly, with the
    reconciliation): the table grows by one row per account and day."""
    cutoff = timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=keep_days)
    deleted, _ = EquityDay.objects.filter(account__server=server, day__lt=cutoff).delete()
    return deleted


def _mark_deleted(server: PlatformServer, accounts: Sequence[TradingAccount], seen: set[int],
                  start: dt.datetime, end: dt.datetime) -> int:
    """Stored deals of `accounts` in [start, end) that the platform no longer shows get deleted_at."""
    with transaction.atomic():
        _still_leased()
        stored = DealRow.objects.filter(server=server, account_id__in=[a.pk for a in accounts], time__gte=start,
                                        time__lt=end, deleted_at__isnull=True)
        gone_ids = [pk for pk, deal_id in stored.values_list("pk", "deal_id") if deal_id not in seen]
        if not gone_ids:
            return 0
        gone = list(DealRow.objects.filter(pk__in=gone_ids).select_related("account__client"))
        now = timezone.now()
        DealRow.objects.filter(pk__in=gone_ids).update(deleted_at=now, updated_at=now)
        emit_many({
            "name": "trading.deal_deleted", "client": d.account.client,
            "data": _account_data(d.account) | {"deal_id": d.deal_id, "kind": d.kind,
                                                "time": d.time.isoformat(), "profit": str(d.profit)},
        } for d in gone)
        return len(gone)


def _balance_check(server: PlatformServer, adapter: PlatformAdapter, accounts: list[TradingAccount]) -> int:
    """Stored deals must sum to the platform's balance (credit deals to its credit). Accounts with a
    deal stamped while the states were read are skipped: they cannot be compared fairly."""
    before = adapter.server_time().utc
    states = adapter.account_states([a.login for a in accounts])
    after = adapter.server_time().utc
    by_login = {a.login: a for a in accounts}
    margin = dt.timedelta(seconds=1)
    sums = {
        row["account_id"]: row
        for row in DealRow.objects.filter(account_id__in=[a.pk for a in accounts], deleted_at__isnull=True)
        .order_by().values("account_id").annotate(
            balance=Sum(F("profit") + F("commission") + F("swap") + F("fee"), filter=~Q(kind=DealKind.CREDIT)),
            credit=Sum("profit", filter=Q(kind=DealKind.CREDIT)),
            busy=Count("id", filter=Q(time__gte=before - margin, time__lte=after + margin)),
        )
    }
    events = []
    for state in states:
        account = by_login.get(state.login)
        row = sums.get(account.pk) if account is not None else None
        if account is None or (row is not None and row["busy"]):
            continue
        ours = {"balance": (row["balance"] if row is not None else None) or Decimal(0),
                "credit": (row["credit"] if row is not None else None) or Decimal(0)}
        if ours["balance"] != state.balance or ours["credit"] != state.credit:
            events.append((account, ours, state))
    if events:
        loaded = TradingAccount.objects.select_related("client").in_bulk([a.pk for a, _o, _s in events])
        emit_many({
            "name": "trading.balance_mismatch", "client": loaded[a.pk].client,
            "data": _account_data(a) | {
                "deals_balance": str(o["balance"]), "platform_balance": str(s.balance),
                "deals_credit": str(o["credit"]), "platform_credit": str(s.credit),
            },
        } for a, o, s in events)
    return len(events)


# --- account states and positions --------------------------------------------------------------------

def account_states_sync(server_id: int, *, force: bool = False) -> SyncResult:
    """Poll money and open positions of every active account of a server; margin-call episodes."""
    server = _server(server_id)
    if server is None or not server.is_active or not server.sync_enabled:
        return SyncResult("disabled")
    if not force and _in_backoff(server):
        return SyncResult("backoff")
    with server_lock(server.pk, "states") as acquired:
        if not acquired:
            return SyncResult("busy")
        started = timezone.now()
        PlatformServer.objects.filter(pk=server.pk).update(last_state_sync_at=started)
        try:
            result = _states_locked(server)
        except (PlatformError, CredentialsUnreadable) as error:
            _record_failure(server, error, what="account states")
            return SyncResult("error", error=str(error))
        except LeaseLost as lost:
            return _lease_lost(server, "account states", lost)
    PlatformServer.objects.filter(pk=server.pk).update(last_state_sync_ok_at=started)
    return result


def _states_locked(server: PlatformServer) -> SyncResult:
    adapter = adapter_for(server)
    accounts = _active_accounts(server)
    result = SyncResult("ok", accounts=len(accounts))
    capabilities = adapter.capabilities
    for begin in range(0, len(accounts), LOGIN_BATCH):
        batch = accounts[begin:begin + LOGIN_BATCH]
        logins = [a.login for a in batch]
        states = adapter.account_states(logins) if capabilities.account_states else []
        positions = adapter.open_positions(logins) if capabilities.positions else None
        with transaction.atomic():
            _still_leased()
            _store_states(server, states)
            if states:  # money, margin levels and the day's equity highs of this batch moved
                summaries.retention_refresh(client_ids={a.client_id for a in batch})
            if positions is not None:
                _store_positions(server, batch, positions)
            for name, count in _margin_episodes(server, states).items():
                result.events[name] += count
    if capabilities.positions:  # the dealer's exposure of the brands holding them, as this poll left them
        summaries.exposure_refresh_server(server_id=server.pk)
    _challenges_after_states(server)
    return result


def _store_states(server: PlatformServer, states: Sequence[AccountState]) -> None:
    """The polled money of each account, and the day's equity high (AccountEquityDay), in one
    statement. The day is the CRM's UTC day: a platform clock that is off does not move it."""
    if not states:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql_text("trading", "sync/account_states"), {
            "now": now, "logins": [s.login for s in states], "balances": [s.balance for s in states],
            "credits": [s.credit for s in states], "equities": [s.equity for s in states],
            "margins": [s.margin for s in states], "free_margins": [s.free_margin for s in states],
            "levels": [s.margin_level for s in states], "observed": [s.observed_at for s in states],
            "server": server.pk, "day": now.astimezone(dt.UTC).date()})


def _store_positions(server: PlatformServer, accounts: Sequence[TradingAccount],
                     positions: Sequence[PlatformPosition]) -> None:
    account_of = {a.login: a.pk for a in accounts}
    rows = [p for p in positions if p.login in account_of]
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql_text("trading", "sync/positions_delete"),
                       {"accounts": list(account_of.values()), "positions": [p.position_id for p in rows]})
        if rows:
            cursor.execute(sql_text("trading", "sync/positions_upsert"), {
                "server": server.pk, "now": now, "accounts": [account_of[p.login] for p in rows],
                "positions": [p.position_id for p in rows], "symbols": [p.symbol for p in rows],
                "sides": [p.side.value for p in rows], "volumes": [p.volume for p in rows],
                "prices_open": [p.price_open for p in rows], "prices_current": [p.price_current for p in rows],
                "profits": [p.profit for p in rows], "swaps": [p.swap for p in rows],
                "opened": [p.opened_at for p in rows], "comments": [p.comment[:64] for p in rows]})


def _margin_episodes(server: PlatformServer, states: Sequence[AccountState]) -> dict[str, int]:
    """Start or end margin-call episodes; each transition is a conditional UPDATE, so one event each."""
    counts: dict[str, int] = defaultdict(int)
    enter, leave = server.margin_call_enter_level, server.margin_call_leave_level
    entering = [s.login for s in states if s.margin_level is not None and s.margin_level < enter]
    leaving = [s.login for s in states if s.margin_level is None or s.margin_level > leave]
    level_of = {s.login: s.margin_level for s in states}
    now = timezone.now()
    base = TradingAccount.objects.filter(server=server)
    events: list[dict[str, Any]] = []
    if entering:
        ids = _update_returning(base.filter(login__in=entering, margin_call_since__isnull=True),
                                margin_call_since=now)
        for account in TradingAccount.objects.select_related("client").filter(pk__in=ids):
            level = level_of[account.login]
            events.append({"name": "trading.margin_call_entered", "client": account.client, "data": _account_data(
                account) | {"margin_level": str(level), "threshold": str(enter), "equity": str(account.equity),
                             "margin": str(account.margin)}})
    if leaving:
        ids = _update_returning(base.filter(login__in=leaving, margin_call_since__isnull=False),
                                margin_call_since=None)
        for account in TradingAccount.objects.select_related("client").filter(pk__in=ids):
            level = level_of[account.login]
            events.append({"name": "trading.margin_call_left", "client": account.client, "data": _account_data(
                account) | {"margin_level": str(level) if level is not None else None, "threshold": str(leave)}})
    for event in events:
        counts[event["name"]] += 1
    emit_many(events)
    return counts


def _update_returning(qs: Any, **values: Any) -> list[int]:
    """UPDATE the rows of `qs` that still match when locked; their ids."""
    ids = list(qs.select_for_update(skip_locked=True).values_list("pk", flat=True))
    if ids:
        qs.filter(pk__in=ids).update(updated_at=timezone.now(), **values)
    return ids


# --- health ------------------------------------------------------------------------------------------

def sync_health_check(*, server_id: int | None = None) -> dict[str, int]:
    """Lag of every active server's deal data; "trading.sync_lag" once when a lag episode starts,
    "trading.sync_lag_cleared" when it ends."""
    now = timezone.now()
    counts = {"started": 0, "cleared": 0}
    servers = PlatformServer.objects.filter(is_active=True, sync_enabled=True).select_related("brand")
    if server_id is not None:
        servers = servers.filter(pk=server_id)
    for server in servers:
        reference = server.last_deal_sync_ok_at or server.created_at
        lag = max(0, int((now - reference).total_seconds()))
        PlatformServer.objects.filter(pk=server.pk).update(sync_lag_seconds=lag)
        data = {"server": server.pk, "server_name": server.name, "lag_seconds": lag,
                "threshold_seconds": server.sync_lag_alert_seconds, "last_error": server.last_error[:500]}
        with transaction.atomic():
            if lag > server.sync_lag_alert_seconds:
                if PlatformServer.objects.filter(pk=server.pk, lag_alert_since__isnull=True).update(lag_alert_since=now):
                    emit_many([{"name": "trading.sync_lag", "brand": server.brand_id, "data": data}])
                    counts["started"] += 1
            elif PlatformServer.objects.filter(pk=server.pk, lag_alert_since__isnull=False).update(lag_alert_since=None):
                emit_many([{"name": "trading.sync_lag_cleared", "brand": server.brand_id, "data": data}])
                counts["cleared"] += 1
    return counts


# --- scheduling ----------------------------------------------------------------------------------------

def servers_due(job: str, *, now: dt.datetime | None = None) -> list[int]:
    """Ids of active servers whose `job` ("deals" or "states") is due by their own interval."""
    now = now or timezone.now()
    servers = PlatformServer.objects.filter(is_active=True, sync_enabled=True).filter(
        Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
    due = []
    for server in servers.only("pk", "deal_poll_seconds", "state_poll_seconds", "last_deal_sync_at",
                               "last_state_sync_at"):
        if job == "deals":
            last, interval = server.last_deal_sync_at, server.deal_poll_seconds
        else:
            last, interval = server.last_state_sync_at, server.state_poll_seconds
        # A little slack so that a beat tick arriving just before the interval is over still counts.
        if last is None or (now - last).total_seconds() >= interval - 1:
            due.append(server.pk)
    return due
