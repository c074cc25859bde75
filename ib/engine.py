"""The commission engine: a brand's period computed from the synced deals and the deposit and
chargeback facts, as known at a moment, with set-based SQL (a handful of statements over the whole
period, never a loop over deals).

What a run does (``compute_lines``), inside the caller's transaction:

1. ``_ver``: the plan versions in force, per plan, as recorded by ``as_of`` (drafts only when a
   what-if run names them): [valid_from, valid_to) from each version's effective_from to the next
   one's; of two versions with one effective_from the later recorded wins (a correction).
   ``_asg``: the plan assignments recorded by ``as_of`` (partner-wide, and per account).
   ``_pick``: for every (version, instrument group, account type) the most specific rule of each
   kind and basis (group and type > group > type > neither), with its formula. ``_attr``: the
   scope's accounts with their clients' dated partner attributions; ``_inst``: the brand's
   instruments; ``_seg``: each account's time segments over which its client, partner, plan (its
   own override, else its partner's) and version stay the same (a deal finds all four by one join).
2. ``_pos``: the positions with deals in the period, from one aggregate over the deals: when each
   opened (its "in" deal, looked for back to the period start minus the longest minimum holding
   time) and whether it was hedged: another position of the opposite side on the same account and
   symbol, opened before it, was still open when it opened. Of a hedged pair only the first opened
   earns (opposite positions open at the same time count once). One window pass per account and
   symbol over the positions, not a self-join. Kept are the positions a closing deal of which can
   lose its line (hedged, or first closed sooner than the longest minimum hold after opening).
   ``_src``: the period's trade deals first seen by ``as_of`` and not deleted, each with its
   segment (client, partner at the deal's time, plan, version at the deal's time), its instrument
   (group, contract size) and two flags: held (open at least the version's minimum holding time)
   and hedged (its position's); a closing deal of a position not kept was held and not hedged.
   Under a version paying only the volume not offset (``hedge_mode`` net), the closing deals on
   the accounts and symbols with a hedged position get their net_factor (net_hedge.sql): the
   smallest share of their side's open volume left unoffset by the other side's, from their
   position's opening to just before the deal (0 to 1: hedging never makes a line negative).
3. Lines, as batches (ib.models.CommissionBatch: the sources of one client's partner, rule and
   business day, one array element each) and their shares (one per level of the partner's chain with a rate),
   in two INSERT ... SELECT statements. The sources:
     - per_lot: closing deals that were held and not hedged: lots = volume x contract size /
       group's units per standard lot, times the level's amount per lot;
     - revshare: spread (closing deals, held, not hedged: the deal's spread, ask - bid or else the
       spread a deal report gave, x volume x contract size, else the symbol's markup x lots, in the
       instrument's profit currency), commission (-commission of every trade deal) or net loss
       (-(profit + swap + commission + fee) of every trade deal), times the level's percentage;
     - cpa: a client qualifies at the moment the last condition is met (first deposit of at least
       X; Y lots within Z days of it; KYC approved; country allowed); the line is in the period of
       that moment, so it is paid once;
     - chargeback: the first chargeback or refund after a qualification claws the CPA back, as
       negative lines in the chargeback's period.
   Each level's rate (per-level rates, the pass-up split by one percentage or by a chain of
   them, one per level: _ver's pass_up_reach, or the differential) is the share's; amounts are converted
   to the plan's currency with ``_fx`` (the rate of the source's own day, else the latest before; a
   missing rate stops the run and names the pair and day). A line (the view ``ib_commissionline``)
   is one source of a batch under one share: basis x rate (x tier factor) x unit x FX, never
   rounded; a share's amount is the sum of its lines. A source is in one batch per run and rule,
   and batches are unique per key: a re-run of the same statement cannot double a line.
4. Totals per partner (ib.commissions): the shares' sum, the carry from the previous period
   (negative revenue share, totals under the minimum), the cap, the payable rounded once half to
   even, and the difference against what was settled for the period (CommissionSettlement).

Other apps' rows are read through the views they publish for it, never their tables (crm.lib.
sqlviews): trading's deals, accounts and servers (trading.selectors.PUBLISHED_VIEWS), the core's
clients (crm.selectors) and KYC's approvals (kyc.selectors), each inlined by PostgreSQL into the
statements above, so the plans are those over the tables behind them.

Two connections (``_Half``): a full run of at least settings.IB_ENGINE_PARALLEL_DEALS deals splits
the partners in two halves of about as many accounts; a second connection, in a thread, reads the
caller's snapshot and computes steps 1 to 3 for its half's deal sources while the caller's
connection computes the other half and the CPA and chargeback lines; its batches stream back as
binary COPY rows and are written in the caller's transaction (step 3's shares and step 4 then see
one run). Not when the caller's transaction wrote to the tables a run reads and has not committed
(the second connection could not see it), nor for an increment (small).

Incremental (``commission_run_increment``): the latest regular run of an unsettled period is
brought up to a later as-of by recomputing the batches of the partners whose clients' deals changed
since (new, late, edited or deleted), from the first changed day on, and the CPA and chargeback
batches (few); its totals are corrected by the shares removed and added.

Limits (documented): the chain is the partners' paths at run time (moves recorded in
PartnerParentChange are not replayed into older chains); a deal edited after ``as_of`` is read in
its latest content (the deal table keeps no older content); an increment looks for the opening of
a position closed on its first day at most a day before it (a full run: back to the period start).
Net hedging reads an account and symbol's offsets only when a position with a deal in the period
(an increment: from its first day) was opened against an opposite one still open: an earlier leg
closing in the period whose later opposite legs all closed before the period (an increment: its
first day) can earn on its whole volume.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, connections
from psycopg import sql

from crm.lib.money import money_round
from plumbing.sqlfiles import sql_file, sql_statements, sql_text

ZERO = Decimal("0")
logger = logging.getLogger(__name__)


class FxMissing(Exception):
    def __init__(self, pairs: list[tuple[str, str, dt.date]]) -> None:
        self.pairs = pairs
        super().__init__(", ".join(f"{a}/{b} on {d}" for a, b, d in pairs))


@dataclass
class Scope:
    brand_id: int
    start: dt.datetime
    end: dt.datetime
    as_of: dt.datetime
    run_id: int
    draft_versions: list[int] = field(default_factory=list)
    accounts: list[int] | None = None  # incremental: only these accounts' deals
    since: dt.datetime | None = None  # incremental: only deals from this day's start (context: a day before)
    partners: list[int] | None = None  # incremental: only the deal batches of these client's partners


def _params(scope: Scope) -> dict[str, Any]:
    since = scope.since.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) if scope.since else None
    return {"brand": scope.brand_id, "start": scope.start, "end": scope.end, "as_of": scope.as_of,
            "run": scope.run_id, "drafts": scope.draft_versions, "accounts": scope.accounts,
            "all_accounts": scope.accounts is None, "from": max(since, scope.start) if since else scope.start,
            "partners": scope.partners, "all_partners": scope.partners is None}


# The statements are ib/sql/engine/<name>.sql, each file's comments saying what it computes and why
# it is written so; fragments shared by several (the scope's deals, a source's basis, an
# attribution as known at as_of) are the _<name>.sql files beside them (plumbing.sqlfiles).
def _sql(name: str, **parts: sql.Composable) -> str:
    """The engine's statement `name` as text (one statement)."""
    return sql_text("ib", f"engine/{name}", **parts)


def _part(name: str, **parts: sql.Composable) -> sql.Composed:
    """A fragment or statement of the engine, to fill another's placeholder."""
    return sql_file("ib", f"engine/{name}", **parts)


def _tier_parts(tiered: int) -> dict[str, sql.Composable]:
    """The tier columns of the deal sources and their batches: a tiered source's step (engine/tiered/),
    or none when no source has a tiered rule (engine/untiered/: nothing joined, nothing aggregated)."""
    variant = "tiered" if tiered else "untiered"
    return {part: _part(f"{variant}/_{part}") for part in ("tier_columns", "tier_join", "tier_where", "tier_arrays")}


# The batches' columns (ib.models.CommissionBatch), as ib/sql/engine/_batches_select.sql computes them.
BATCH_COLUMNS = ("run_id", "source_kind", "partner_id", "chain", "rule_code", "rule_id", "plan_version_id", "day",
                 "fx_day", "basis_currency", "currency", "fx_rate", "unit", "source_ids", "times", "bases",
                 "account_ids", "client_ids", "tier_values", "tier_mins", "tier_factors", "weighted_basis",
                 "factor_in_rate")


def _batch_columns() -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in BATCH_COLUMNS)


def _tiers_apply(params: dict[str, Any], db: Any = None) -> int:
    """Give the sources of tiered rules their step (tier_value, tier_min, tier_factor): nothing to
    do, and nothing read, when no rule in force has tiers."""
    with (db or connection).cursor() as cursor:
        cursor.execute(_sql("tiered"))
        kinds = cursor.fetchall()
    if not kinds:
        return 0
    _execute("tier_deals", {**params, "tier_window": max(window for window, _by_lots in kinds)}, db)
    for window, by_lots in kinds:
        _execute("tier_lots" if by_lots else "tier_clients", {**params, "window": window, "by_lots": by_lots}, db)
    return _execute("tier_apply", params, db)


def _execute(name: str, params: dict[str, Any], db: Any = None, **parts: sql.Composable) -> int:
    """Run the statements of ib/sql/engine/<name>.sql in turn on `db` (the caller's connection by
    default; each one's time logged: the benchmark prints them); the last one's row count."""
    rows = 0
    with (db or connection).cursor() as cursor:
        for statement in sql_statements("ib", f"engine/{name}", **parts):
            started = time.perf_counter()
            cursor.execute(statement, params)
            rows = cursor.rowcount
            if not statement.startswith(("ANALYZE", "SET")):
                logger.info("commission engine step %s%s: %.2f s, %s rows", _step_name(statement),
                            " (second connection)" if db is not None else "", time.perf_counter() - started, rows)
    return rows


def _step_name(statement: str) -> str:
    words = statement.split()
    for word, nxt in zip(words, words[1:], strict=False):
        if word.upper() in ("TABLE", "INTO", "UPDATE"):
            return nxt
    return words[0] if words else ""


def _drop_temps() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _ver, _asg, _pick, _attr, _inst, _seg, _pos, _src, _netdeal, _netshare, _tierdeal, _tiermetric, _tier, _cpa, _fx")


def _fx_check(rows: list[tuple[str, str, dt.date]]) -> None:
    """Stop on the (pair, first day without a rate) rows: the days after it, up to a first rate,
    lack one too."""
    if rows:
        raise FxMissing([(src, dst, day) for src, dst, day in rows])


def _context(params: dict[str, Any], lookback: int) -> dt.datetime:
    """From when deals are read: the longest minimum holding time before the period (opening deals
    of its first positions); an increment reads a day before its first day too (at most back to that)."""
    start: dt.datetime = params["start"] - dt.timedelta(seconds=lookback)
    if params["from"] == params["start"]:
        return start
    day_before: dt.datetime = params["from"] - dt.timedelta(seconds=max(lookback, 86400))
    return max(start, day_before)


def increment_settings() -> None:
    """For the rest of the caller's transaction (an increment): no JIT compilation. Compiling
    costs about a second per statement, more than an increment's statements save by it (a full
    month's run keeps it: there it pays)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")


def _session(db: Any = None) -> None:
    """This transaction's memory for the aggregates over a month of deals (its positions, its
    batches), so that they stay in memory instead of spilling to disk: up to 1 GB per sort, 4 GB
    per hash."""
    with (db or connection).cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '1GB'")
        cursor.execute("SET LOCAL hash_mem_multiplier = 4")


def _deal_sources(params: dict[str, Any], db: Any = None) -> int:
    """Steps 1 and 2 for the scope's accounts and partners: the small tables, _pos, _src and the
    tiers; how many tiered sources."""
    _execute("ver", params, db)
    with (db or connection).cursor() as cursor:
        # The longest minimum holding time: opening deals are looked for that far back.
        cursor.execute(_sql("longest_hold"))
        longest, net_hedge = cursor.fetchone() or (0, False)
        params["longest_hold"] = int(longest or 0)
        params["context"] = _context(params, params["longest_hold"])
        cursor.execute(_sql("tier_table"))
    _execute("attr", params, db)
    _execute("inst", params, db)
    _execute("seg", params, db)
    _execute("pos", params, db)
    _execute("src", params, db)
    if net_hedge:
        _execute("net_hedge", params, db)
    return _tiers_apply(params, db)


def compute_lines(scope: Scope, added: dict[tuple[int, str], PartnerSum] | None = None) -> dict[str, int]:
    """Write the run's lines, as batches and shares, for the scope (all the period's sources, or an
    increment's: its partners' deal batches from its first day, plus every CPA and chargeback
    line). Runs in the caller's transaction. With `added`, the sums of the shares written are added
    to it (an increment corrects its totals with them). A large full run splits its deals in two
    (see `_Half`): this connection computes one half while a second computes the other."""
    params = _params(scope)
    _drop_temps()
    _session()
    with connection.cursor() as cursor:
        # The brand's servers as a list: the planner then knows how many of the deals are the brand's.
        cursor.execute("SELECT array_agg(id) FROM trading_public_servers WHERE brand_id = %s", [scope.brand_id])
        params["servers"] = (cursor.fetchone() or (None,))[0] or []
    other = _Half.start_if_worth_it(params)
    try:
        tiered = _deal_sources(params)
        _execute("cpa", params)
        _execute("fx", params, needs=_part("_fx_needs"))
        with connection.cursor() as cursor:
            cursor.execute(_sql("cpa_fx_missing"))
            _fx_check(cursor.fetchall())
            cursor.execute("SELECT COALESCE(max(id), 0) FROM ib_commissionbatch WHERE run_id = %s", [scope.run_id])
            params["after"] = (cursor.fetchone() or (0,))[0]
        _execute("batches", params, batch_columns=_batch_columns(), **_tier_parts(tiered))
        with connection.cursor() as cursor:
            cursor.execute(_sql("stats"))
            counts = list(cursor.fetchone() or (0, 0, 0, 0))
        if other is not None:
            other.copy_in()
            tiered += other.tiered
            counts = [a + b for a, b in zip(counts, other.counts, strict=True)]
    finally:
        if other is not None:
            other.stop()
    with connection.cursor() as cursor:
        # The pairs and days the sources needed and no rate was found for (the caller's transaction,
        # and with it the batches, is rolled back).
        cursor.execute(_sql("batches_fx_missing"), params)
        _fx_check(cursor.fetchall())
    sums = _sums(_sql("shares"), params)
    if added is not None:
        for key, one in sums.items():
            added[key] = added.get(key, PartnerSum()).plus(one)
    with connection.cursor() as cursor:
        cursor.execute(_sql("line_counts"), params)
        lines = dict(cursor.fetchall())
    deals, short, hedged, unpriced = counts
    stats = {"deal_lines": int(lines.get("deal", 0)), "cpa_lines": int(lines.get("cpa", 0)),
             "chargeback_lines": int(lines.get("chargeback", 0)), "deals": deals, "short_hold": short,
             "hedged": hedged, "unknown_symbol": unpriced, "tiered": tiered}
    _drop_temps()
    return stats


# The relations a run reads (but the clients and KYC approvals, which only the caller's connection
# reads, for the CPA): its own tables and the views trading publishes for it (deals, accounts and
# servers: trading.selectors), whose tables PostgreSQL knows (pg_depend, through each view's rewrite
# rule): the engine never names them. What the caller's transaction wrote to any of those tables and has not committed, a
# second connection cannot see: a run in such a transaction is computed by one connection. The
# counts of a transaction's writes (pg_stat_xact_user_tables) also hold the connection's earlier
# transactions' until they are flushed, about once a second: a run right after this connection
# wrote deals may be computed on one connection (slower, never wrong).
READ_RELATIONS = ["trading_public_deals", "trading_public_accounts", "trading_public_servers", "ib_planversion",
                  "ib_commissionplan", "ib_planassignment", "ib_planrule", "ib_instrumentgroup", "ib_instrument",
                  "ib_clientattribution", "ib_partner", "ib_fxrate", "ib_clientdeposit", "ib_clientchargeback"]


def _halves(params: dict[str, Any]) -> list[tuple[list[int], list[int]]] | None:
    """For a full run of at least settings.IB_ENGINE_PARALLEL_DEALS deals (the planner's estimate),
    in a transaction that has written nothing the run reads: the partners in two halves of about as
    many accounts each (the largest first, each to the smaller half), each with its partners'
    accounts (an account attributed to partners of both halves in the period is in both). None:
    one connection computes the run."""
    threshold = settings.IB_ENGINE_PARALLEL_DEALS
    if threshold <= 0 or not params["all_accounts"] or not params["all_partners"]:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_sql("uncommitted"), [READ_RELATIONS])
        if (cursor.fetchone() or (True,))[0]:
            return None
        cursor.execute(_sql("deals_estimate"), {**params, "context": params["from"]})
        plan = (cursor.fetchone() or ("[]",))[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        if not plan or plan[0]["Plan"]["Plan Rows"] < threshold:
            return None
        cursor.execute(_sql("partner_accounts"), params)
        partners = cursor.fetchall()
    if len(partners) < 2:
        return None
    halves: list[tuple[list[int], set[int]]] = [([], set()), ([], set())]
    weight = [0, 0]
    for partner_id, accounts in sorted(partners, key=lambda row: (-len(row[1]), row[0])):
        k = 0 if weight[0] <= weight[1] else 1
        halves[k][0].append(partner_id)
        halves[k][1].update(accounts)
        weight[k] += len(accounts)
    return [(sorted(p), sorted(a)) for p, a in halves]


class _Half(threading.Thread):
    """The deal lines of half the partners, computed by a second connection in a thread while the
    caller's connection computes the other half (and the CPA and chargeback lines): a month's
    aggregates then use two processors instead of one. The second connection reads the caller's
    snapshot (pg_export_snapshot) when it can: inside a savepoint no snapshot can be exported, and
    it reads the committed rows then, as any later statement of the caller would. Its batches
    stream to the caller as binary COPY rows and are written in the caller's transaction, so that
    the run stays one transaction: nothing of it is kept if it fails. A failure of either side
    stops the other; the second's is raised in the caller. When the second connection cannot be
    opened at all (the server's connection limit reached, say), the caller computes the whole run."""

    def __init__(self, params: dict[str, Any], snapshot: str | None) -> None:
        super().__init__(name="commission-engine-half", daemon=True)
        self.params = params
        self.snapshot = snapshot
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self.stopping = threading.Event()
        self.connected = threading.Event()  # set once connected, or once connecting failed (`error`)
        self.caller = connections[connection.alias]
        self.error: BaseException | None = None
        self.db: Any = None
        self.tiered = 0
        self.counts = [0, 0, 0, 0]

    @classmethod
    def start_if_worth_it(cls, params: dict[str, Any]) -> _Half | None:
        """Start the second half when the run is worth splitting (`_halves`); `params` then scope
        the caller's half."""
        halves = _halves(params)
        if halves is None:
            return None
        (mine_partners, mine_accounts), (other_partners, other_accounts) = halves
        snapshot = None
        if not any(connection.savepoint_ids):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = (cursor.fetchone() or (None,))[0]
        other = cls({**params, "partners": other_partners, "accounts": other_accounts,
                     "all_partners": False, "all_accounts": False}, snapshot)
        other.start()
        other.connected.wait()
        if other.error is not None:
            # No second connection (the server's connection limit, say): this one computes it all.
            other.join()
            logger.warning("commission engine: no second connection (%s); the run is computed on one", other.error)
            return None
        params.update(partners=mine_partners, accounts=mine_accounts, all_partners=False, all_accounts=False)
        logger.info("commission engine: %s partners (%s accounts) here, %s partners (%s accounts) on a second "
                    "connection", len(mine_partners), len(mine_accounts), len(other_partners), len(other_accounts))
        return other

    def _connect(self) -> Any:
        """The second connection, in a transaction reading the caller's snapshot (when exported)."""
        db = type(self.caller)(dict(self.caller.settings_dict), self.caller.alias)
        try:
            db.set_autocommit(False)
            with db.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                if self.snapshot:
                    cursor.execute("SET TRANSACTION SNAPSHOT %s", [self.snapshot])
        except BaseException:
            db.close()
            raise
        return db

    def run(self) -> None:
        try:
            try:
                self.db = db = self._connect()
            finally:
                self.connected.set()
            _session(db)
            self.tiered = _deal_sources(self.params, db)
            _execute("fx", self.params, db, needs=_part("_fx_needs_deals"))
            with db.cursor() as cursor:
                cursor.execute(_sql("stats"))
                self.counts = list(cursor.fetchone() or (0, 0, 0, 0))
                cursor.execute("SET LOCAL enable_sort = off")
                started = time.perf_counter()
                with cursor.cursor.copy(self._copy_out_sql(cursor), self.params) as copy:
                    for chunk in copy:
                        self._put(bytes(chunk))
                logger.info("commission engine step ib_commissionbatch (second connection: computed and "
                            "handed to the first): %.2f s", time.perf_counter() - started)
        except BaseException as error:  # handed to the caller's thread, which raises it
            self.error = error
        finally:
            self._put(None)
            if self.db is not None:
                self.db.close()

    def _copy_out_sql(self, cursor: Any) -> str:
        """The second half's batches as binary COPY rows of ib_commissionbatch's columns (each cast
        to the column's type: binary rows carry no type)."""
        cursor.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                       "WHERE attrelid = 'ib_commissionbatch'::regclass AND attname = ANY(%s)", [list(BATCH_COLUMNS)])
        types = dict(cursor.fetchall())
        # A type as the catalogue prints it (format_type): its name, not a value.
        columns = sql.SQL(", ").join(sql.SQL("{}::{}").format(sql.Identifier("b", f"c{i}"), sql.SQL(types[name]))
                                     for i, name in enumerate(BATCH_COLUMNS))
        names = sql.SQL(", ").join(sql.Identifier(f"c{i}") for i in range(len(BATCH_COLUMNS)))
        tiers = _tier_parts(self.tiered)
        return _sql("copy_out", columns=columns, names=names, sources=_part("_deal_sources", **tiers), **tiers)

    def _put(self, chunk: bytes | None) -> None:
        while not self.stopping.is_set():
            try:
                self.chunks.put(chunk, timeout=0.2)
                return
            except queue.Full:
                continue
        if chunk is not None:
            raise RuntimeError("the run stopped")

    def copy_in(self) -> None:
        """Write the second half's batches in the caller's transaction as they arrive (after its
        own); its error, if it failed, is raised here."""
        with connection.cursor() as cursor:
            with cursor.cursor.copy(_sql("copy_in", batch_columns=_batch_columns())) as copy:
                while (chunk := self.chunks.get()) is not None:
                    copy.write(chunk)
                if self.error is not None:
                    raise self.error
        self.join()

    def stop(self) -> None:
        """Stop the second half if it still runs (the caller failed), and wait for it."""
        if self.is_alive():
            self.stopping.set()
            db = self.db
            if db is not None and db.connection is not None:
                try:
                    db.connection.cancel_safe()
                except Exception:  # noqa: BLE001 - it may have ended meanwhile
                    logger.debug("cancel of the second connection failed", exc_info=True)
            while self.is_alive():
                try:
                    self.chunks.get(timeout=0.2)
                except queue.Empty:
                    continue
        self.join()


@dataclass
class PartnerSum:
    gross: Decimal = ZERO
    lines: int = 0
    version_id: int | None = None  # the latest plan version among the lines: its cap and minimum apply
    cap: Decimal | None = None
    minimum: Decimal | None = None

    def plus(self, other: PartnerSum, sign: int = 1) -> PartnerSum:
        versions = [v for v in (self.version_id, other.version_id) if v is not None]
        return PartnerSum(self.gross + sign * other.gross, self.lines + sign * other.lines,
                          max(versions) if versions else None)


def _sums(statement: str, params: Any) -> dict[tuple[int, str], PartnerSum]:
    out: dict[tuple[int, str], PartnerSum] = {}
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        for partner_id, currency, gross, n, version_id in cursor.fetchall():
            out[(partner_id, currency)] = PartnerSum(gross, n, version_id)
    return out


def line_sums(run_id: int) -> dict[tuple[int, str], PartnerSum]:
    """Per (partner, currency): the run's lines' sum, count and latest plan version (from its shares)."""
    return _sums(_sql("line_sums"), {"run": run_id})


def lines_forget(run_id: int, *, partners: list[int], since: dt.datetime) -> dict[tuple[int, str], PartnerSum]:
    """Delete the lines an increment recomputes (the deal batches of `partners` from the day of
    `since`, and every CPA and chargeback batch) and return their sums, so totals are corrected
    without summing the whole run again."""
    day = since.astimezone(dt.UTC).date()
    return _sums(_sql("forget"), {"run": run_id, "partners": partners, "day": day})


def lines_delete(run_id: int) -> None:
    """Delete every line of the run (a run computed again from scratch into the same run)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ib_commissionshare WHERE run_id = %s", [run_id])
        cursor.execute("DELETE FROM ib_commissionbatch WHERE run_id = %s", [run_id])


def with_limits(sums: dict[tuple[int, str], PartnerSum]) -> dict[tuple[int, str], PartnerSum]:
    """`sums` with each one's cap and minimum read from its plan version."""
    versions = {s.version_id for s in sums.values() if s.version_id is not None}
    limits: dict[int, tuple[Decimal | None, Decimal | None]] = {}
    if versions:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, period_cap, period_minimum FROM ib_planversion WHERE id = ANY(%s)",
                           [sorted(versions)])
            limits = {vid: (cap, minimum) for vid, cap, minimum in cursor.fetchall()}
    for s in sums.values():
        s.cap, s.minimum = limits.get(s.version_id, (None, None)) if s.version_id is not None else (None, None)
    return sums


@dataclass
class Shape:
    """What a partner's lines under the plan shapes of their rules change in its period's total:
    the lines of rules that do not carry a negative period over (`uncarried`), whether a rule says
    a negative total is owed, and what the caps per rule and per client cut (`capped`, <= 0)."""

    uncarried: Decimal = ZERO
    owed: bool = False
    capped: Decimal = ZERO


def shapes(run_id: int) -> dict[tuple[int, str], Shape]:
    """The run's partners' `Shape`s (read only when one of the run's rules or versions has such a
    choice: a plain plan reads nothing more than its totals)."""
    out: dict[tuple[int, str], Shape] = {}
    with connection.cursor() as cursor:
        cursor.execute(_sql("shape_kinds"), {"run": run_id})
        by_rule, by_client = cursor.fetchone() or (False, False)
        if by_rule:
            cursor.execute(_sql("shapes"), {"run": run_id})
            for partner_id, currency, uncarried, owed, capped in cursor.fetchall():
                out[(partner_id, currency)] = Shape(uncarried, bool(owed), capped)
        if by_client:
            cursor.execute(_sql("client_caps"), {"run": run_id})
            for partner_id, currency, capped in cursor.fetchall():
                out.setdefault((partner_id, currency), Shape()).capped += capped
    return out


@dataclass(frozen=True)
class Total:
    gross: Decimal
    carry_in: Decimal
    capped: Decimal
    payable: Decimal
    carry_out: Decimal


def total_of(*, gross: Decimal, carry_in: Decimal, cap: Decimal | None, minimum: Decimal | None,
             currency: str, shape: Shape | None = None) -> Total:
    """One partner's period: the caps per rule and per client, then the plan's cap, cut what the
    period's lines earned; the carry from earlier periods is added. A negative total is owed (paid
    as negative) when a rule of the partner's lines says so; else it is carried over, but for the
    lines of rules that carry nothing over (their negative part is dropped); a total under the
    minimum is carried over. The payable is rounded once, half to even, to the currency's minor unit."""
    shape = shape or Shape()
    capped = shape.capped
    if cap is not None:
        capped += min(ZERO, cap - (gross + capped))
    net = gross + capped + carry_in
    if net < 0 and shape.owed:
        return Total(gross, carry_in, capped, money_round(net, currency), ZERO)
    if net < 0:
        return Total(gross, carry_in, capped, ZERO, min(ZERO, net - min(ZERO, shape.uncarried)))
    if minimum is not None and net < minimum:
        return Total(gross, carry_in, capped, ZERO, net)
    payable = money_round(net, currency)
    return Total(gross, carry_in, capped, payable, ZERO)
