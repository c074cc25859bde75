"""Deal ingestion: the sync's bulk upsert against a plain unnest-upsert, replays, and end to end.

Set-up (not measured): the MT5 Web API simulator is started as a subprocess (``python -m
trading.simulator``, fresh state in a temporary directory), seeded with --accounts scalper
accounts and advanced until it holds at least N deals (200,000; --quick 20,000). The CRM gets a
platform server pointing at it and one trading account per simulator login, and the deals are read
once through the MT5 adapter, so every figure below works on the same real rows (about 45 fields
each, kept whole as the raw record).

Figures (one JSON line each; each timing is the best of --repeat runs on an emptied deal table):

- deal_ingest.upsert: deals/s of ``trading.sync.deals_store``, from the adapter's Deal objects to
  committed rows: column building, content hashes, raw JSON, one INSERT ... SELECT FROM unnest ...
  ON CONFLICT ... WHERE hash differs ... RETURNING statement per 5,000 deals (one transaction
  each), and what the new rows teach (first-trade events). limit: deals/s of a plain
  ``INSERT ... SELECT FROM unnest(...) ON CONFLICT (server_id, deal_id, time) DO UPDATE SET ...`` of the
  same rows, its arrays prepared beforehand (only the database work is timed), same chunks and
  transactions and commit setting, same table. Goal: ratio >= 0.5.
- deal_ingest.replay: deals/s when every deal is already stored unchanged (a poll re-reading its
  overlap window), on a settled table (VACUUM ANALYZE first, as autovacuum leaves a live one). limit: deal_ingest.upsert's rate for new rows; ratio > 1 means a replay costs
  less than new rows. Goal: ratio > 1.
- deal_ingest.end_to_end: deals/s of one real ``trading.sync.deals_sync`` of an empty CRM from the
  simulator's HTTP API: HTTPS requests (the adapter splits logins into chunks of 100), JSON
  parsing, conversion, the upsert, first-trade events. No limit. Goal: >= 20,000 deals/s.
- deal_ingest.end_to_end_replay: the next poll of the same window (everything already stored); info.
- deal_ingest.<platform>.upsert for each of ``--platforms`` other than mt5 (ctrader, matchtrader, sirix, mt4bridge):
  the same simulator engine behind that platform's face, its deals read through that platform's
  adapter (lots from cents of units, UTC times ...), then stored by ``deals_store``. limit: the
  plain unnest-upsert of the same rows in the same run. Goal: ratio >= 0.5.
- deal_ingest.<platform>.end_to_end: one ``deals_sync`` of an empty CRM from that face; info.

Run: python benchmarks/deal_ingest.py [--quick] [--keep] [--deals N] [--accounts N] [--repeat N]
     [--platforms mt5,ctrader,matchtrader,sirix,mt4bridge]
"""

from __future__ import annotations

import datetime as dt
import gc
import http.client
import json
import os
import queue
import secrets
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from psycopg import sql as psql
from psycopg.adapt import PyFormat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    BenchEnv,
    argument_parser,
    die_with_parent,
    finish,
    log,
    prepare,
    raw_connection,
    record,
    sized,
    vacuum_analyze,
)

GOAL_RATIO = 0.5
GOAL_E2E = 20_000.0
SIM_START = "2026-01-05T00:00:00Z"
SIM_TZ_MINUTES = 120
CHUNK = 5_000


class Sim:
    """The simulator subprocess and its control API."""

    def __init__(self, state_dir: Path, face: str = "mt5") -> None:
        self.face = face
        tz = str(SIM_TZ_MINUTES) if face in ("mt5", "mt4bridge") else "0"  # MT4 keeps server time too
        self.password = "Bench" + secrets.token_hex(4) + "A1"
        self.token = secrets.token_urlsafe(16)
        repo = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "trading.simulator", "--port", "0", "--state-dir", str(state_dir), "--seed", "11",
             "--start-time", SIM_START, "--server-tz-offset", tz, "--manager-login", "1000", "--face", face,
             "--manager-password", self.password, "--control-token", self.token],
            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only
        )
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
        first = lines.get(timeout=30)
        if not first:
            raise RuntimeError("the simulator did not start")
        info = json.loads(first)
        self.port, self.ca_file = int(info["port"]), str(info["ca_file"])

    def control(self, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=600,
                                           context=ssl.create_default_context(cafile=self.ca_file))
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request("POST" if payload is not None else "GET", path, body=payload,
                         headers={"X-Sim-Token": self.token, "Content-Type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read())
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {data}")
        return data

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _fill(sim: Sim, accounts: int, deals: int) -> list[int]:
    logins = sim.control("/_sim/seed", {"accounts": [{"persona": "scalper", "balance": "100000", "leverage": 200}
                                                     for _ in range(accounts)]})["logins"]
    total = sim.control("/_sim/status")["deals"]
    while total < deals:
        sim.control("/_sim/advance", {"seconds": 3600})
        total = sim.control("/_sim/status")["deals"]
        log(f"simulator: {total} deals")
    return logins


def _crm_side(sim: Sim, logins: list[int]) -> Any:
    from crm.models import Brand, Client
    from trading.models import PlatformServer, TradingAccount
    from trading.services import platform_server_save

    brand = Brand.objects.create(code=f"bench-{sim.face}", name=f"Bench {sim.face}")
    kind = {"mt5": "mt5_web", "ctrader": "ctrader", "matchtrader": "matchtrader", "sirix": "sirix",
            "mt4bridge": "mt4bridge"}[sim.face]
    server = platform_server_save(
        actor=None, manager_password=sim.password, brand=brand, name=f"Bench {sim.face}", kind=kind,
        host="127.0.0.1", port=sim.port, manager_login=1000, ca_file=sim.ca_file, verify_tls=True,
        timeout_seconds=60, server_tz_offset_minutes=SIM_TZ_MINUTES if sim.face == "mt5" else 0, inactivity_days=0,
        account_types={"standard": {"group": "real\\standard", "leverages": [200]}},
    )
    clients = Client.objects.bulk_create([Client(brand=brand, first_name=f"Trader {i}") for i in range(len(logins))])
    opened = dt.datetime.fromisoformat(SIM_START.replace("Z", "+00:00"))
    TradingAccount.objects.bulk_create([
        TradingAccount(server=server, client=c, login=login, group="real\\standard", leverage=200,
                       opened_at=opened, history_synced=True)
        for c, login in zip(clients, logins, strict=True)
    ])
    return PlatformServer.objects.get(pk=server.pk)


def _checkpoint(cursor: Any) -> None:
    """Start each timing from a checkpointed database, so that no run pays for another's dirty pages."""
    import psycopg

    try:
        cursor.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        log("CHECKPOINT not allowed for this database user; timings include checkpoint noise")


def _settle() -> None:
    """Before a replay: the stored deals as a settled database has them (autovacuum has set the
    visibility map, so the replay's hash probes are index-only), and a checkpoint."""
    from django.db import connection

    from trading.models import Deal

    vacuum_analyze(Deal)
    with connection.cursor() as cursor:
        _checkpoint(cursor.cursor)


def _reset(server: Any, opened: dt.datetime) -> None:
    from django.db import connection

    from trading.models import PlatformServer, TradingAccount

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE trading_deal")
        _checkpoint(cursor.cursor)
    TradingAccount.objects.filter(server=server).update(first_trade_at=None, last_trade_at=None, inactive_since=None)
    PlatformServer.objects.filter(pk=server.pk).update(deal_watermark=opened, last_deal_sync_ok_at=None,
                                                       backoff_until=None)


def _baseline(env: BenchEnv, server_id: int, columns: dict[str, list[Any]], account_ids: list[int]) -> float:
    from trading.sync import DEAL_COLUMNS

    names = [name for name, _kind in DEAL_COLUMNS] + ["content_hash"]
    columns_q = psql.SQL(", ").join(map(psql.Identifier, names))
    args = psql.SQL(", ").join(  # binary, as the sync
        psql.SQL("{}::{}[]").format(psql.Placeholder(n, PyFormat.BINARY), psql.SQL(k))
        for n, k in [*DEAL_COLUMNS, ("content_hash", "text")])
    selects = psql.SQL(", ").join(psql.SQL("u.raw::jsonb") if n == "raw" else psql.Identifier("u", n) for n in names)
    updates = psql.SQL(", ").join(psql.SQL("{0} = EXCLUDED.{0}").format(psql.Identifier(n))
                                  for n in names if n != "deal_id")
    sql = psql.SQL(
        "INSERT INTO trading_deal (server_id, account_id, {columns}) "
        "SELECT %(server_id)s, u.account_id, {selects} FROM unnest(%(account_id)b::bigint[], {args}) "
        "AS u(account_id, {columns}) "
        "ON CONFLICT (server_id, deal_id, time) DO UPDATE SET account_id = EXCLUDED.account_id, {updates}"
    ).format(columns=columns_q, selects=selects, args=args, updates=updates)
    total = len(account_ids)
    chunks = []
    for start in range(0, total, CHUNK):
        params = {n: v[start:start + CHUNK] for n, v in columns.items()}
        params["account_id"] = account_ids[start:start + CHUNK]
        params["server_id"] = server_id
        chunks.append(params)
    from crm.lib.partitions import month_partitions_cover

    month_partitions_cover("trading_deal", columns["time"])  # the table is partitioned by month
    with raw_connection(env) as conn:
        conn.execute("TRUNCATE trading_deal")
        _checkpoint(conn.cursor())
        began = time.perf_counter()
        with conn.cursor() as cursor:
            for params in chunks:  # one transaction per chunk, committed as the sync commits them
                with conn.transaction():
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    cursor.execute(sql, params)
        return total / (time.perf_counter() - began)


def _ours(server: Any, deals: list[Any]) -> tuple[float, int]:
    from trading.sync import deals_store

    began = time.perf_counter()
    result = deals_store(server, deals)
    return len(deals) / (time.perf_counter() - began), result.inserted + result.edited


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--deals", type=int, default=None, help="deals (default 200,000; quick 20,000)")
    parser.add_argument("--accounts", type=int, default=None, help="simulator accounts (default 1,000; quick 300)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing; the best counts")
    parser.add_argument("--platforms", default="mt5,ctrader,matchtrader,sirix,mt4bridge",
                        help="simulator faces to ingest from (comma-separated)")
    args = parser.parse_args()
    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]
    wanted = args.deals or sized(args, 200_000, 20_000, 100)
    accounts = args.accounts or sized(args, 1_000, 300, 5)
    if args.tiny:
        args.repeat = 1

    env = prepare(args)
    state = Path(tempfile.mkdtemp(prefix="crm-bench-mt5sim-"))
    try:
        for face in platforms:
            sim = Sim(state / face, face)
            try:
                if face == "mt5":
                    _mt5(env, args, sim, wanted, accounts)
                else:
                    _face(env, args, sim, wanted, accounts)
            finally:
                sim.stop()
    finally:
        finish(env)


def _face(env: BenchEnv, args: Any, sim: Sim, wanted: int, accounts: int) -> None:
    from trading.adapters.base import deal_content_hash
    from trading.registry import adapter_discard, adapter_for
    from trading.sync import deal_columns, deals_sync

    logins = _fill(sim, accounts, wanted)
    server = _crm_side(sim, logins)
    opened = dt.datetime.fromisoformat(SIM_START.replace("Z", "+00:00"))
    far = opened + dt.timedelta(days=30)
    began = time.perf_counter()
    deals = adapter_for(server).deals(start=opened - dt.timedelta(hours=1), end=far, logins=logins)
    read_rate = len(deals) / (time.perf_counter() - began)
    count = len(deals)
    log(f"{sim.face}: read {count} deals of {len(logins)} accounts through the adapter ({read_rate:.0f}/s)")
    account_of = dict(server.accounts.values_list("login", "pk"))
    columns = deal_columns(deals)
    columns["content_hash"] = [deal_content_hash(d) for d in deals]
    account_ids = [account_of[login] for login in columns["login"]]
    size = f"{count} deals, {len(logins)} accounts, chunks of {CHUNK}, {sim.face} face"
    baseline = max(_baseline(env, server.pk, columns, account_ids) for _ in range(args.repeat))
    best = 0.0
    for _ in range(args.repeat):
        _reset(server, opened)
        new, written = _ours(server, deals)
        assert written == count, (written, count)
        best = max(best, new)
    record(f"deal_ingest.{sim.face}.upsert", value=best, unit="deals/s", limit=baseline,
           goal=f"ratio >= {GOAL_RATIO}", size=size)
    _reset(server, opened)
    adapter_discard(server)
    began = time.perf_counter()
    result = deals_sync(server.pk, force=True)
    elapsed = time.perf_counter() - began
    assert result.status == "ok" and result.inserted == count, (result.status, result.inserted, result.error)
    record(f"deal_ingest.{sim.face}.end_to_end", value=result.fetched / elapsed, unit="deals/s", limit=None,
           goal="info", size=size + ", HTTPS from the simulator")
    from trading.models import Deal

    Deal.objects.filter(server=server).delete()


def _mt5(env: BenchEnv, args: Any, sim: Sim, wanted: int, accounts: int) -> None:
    from trading.adapters.base import deal_content_hash
    from trading.registry import adapter_discard, adapter_for
    from trading.sync import deal_columns, deals_sync

    logins = _fill(sim, accounts, wanted)
    server = _crm_side(sim, logins)
    opened = dt.datetime.fromisoformat(SIM_START.replace("Z", "+00:00"))
    far = opened + dt.timedelta(days=365)
    deals = adapter_for(server).deals(start=opened - dt.timedelta(hours=1), end=far, logins=logins)
    count = len(deals)
    log(f"read {count} deals of {len(logins)} accounts through the adapter")
    # This reference copy of every deal lives as long as the run; out of the garbage collector's
    # sight, it does not slow the timed code (the sync itself holds one login chunk at a time).
    gc.collect()
    gc.freeze()
    account_of = dict(server.accounts.values_list("login", "pk"))
    columns = deal_columns(deals)
    columns["content_hash"] = [deal_content_hash(d) for d in deals]  # the baseline inserts ready hashes
    account_ids = [account_of[login] for login in columns["login"]]
    size = f"{count} deals, {len(logins)} accounts, chunks of {CHUNK}"

    baseline = max(_baseline(env, server.pk, columns, account_ids) for _ in range(args.repeat))
    log(f"plain unnest-upsert: {baseline:.0f} deals/s")
    best_new = best_replay = 0.0
    for _ in range(args.repeat):
        _reset(server, opened)
        new, written = _ours(server, deals)
        assert written == count, (written, count)
        _settle()
        replay, rewritten = _ours(server, deals)
        assert rewritten == 0, rewritten
        best_new, best_replay = max(best_new, new), max(best_replay, replay)
    record("deal_ingest.upsert", value=best_new, unit="deals/s", limit=baseline,
           goal=f"ratio >= {GOAL_RATIO}", size=size)
    record("deal_ingest.replay", value=best_replay, unit="deals/s", limit=best_new,
           goal="ratio > 1 (a replay costs less than new rows)", size=size)

    best_e2e = best_e2e_replay = 0.0
    for _ in range(args.repeat):
        _reset(server, opened)
        adapter_discard(server)
        began = time.perf_counter()
        result = deals_sync(server.pk, force=True)
        elapsed = time.perf_counter() - began
        assert result.status == "ok" and result.inserted == count, (result.status, result.inserted, result.error)
        best_e2e = max(best_e2e, result.fetched / elapsed)
        _settle()
        began = time.perf_counter()
        again = deals_sync(server.pk, force=True)
        assert again.status == "ok" and again.inserted == 0
        best_e2e_replay = max(best_e2e_replay, again.fetched / (time.perf_counter() - began))
    record("deal_ingest.end_to_end", value=best_e2e, unit="deals/s", limit=None,
           goal=f">= {GOAL_E2E:.0f} deals/s", size=size + ", HTTPS from the simulator")
    record("deal_ingest.end_to_end_replay", value=best_e2e_replay, unit="deals/s", limit=None, goal="info",
           size=size + ", HTTPS from the simulator")


if __name__ == "__main__":
    main()
