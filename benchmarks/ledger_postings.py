"""Ledger postings per second through wallet.ledger.ledger_post, 8 concurrent workers.

Each worker is a process of its own with its own database connection. Every posting is a balanced
transaction with its own idempotency key, its balance rows locked in account order, the
non-negative check on the wallet under the lock, the legs and the balances, committed on its own
(the deferred balance trigger runs at each commit): one statement (wallet_ledger_post).

Two workloads, each measured twice in the same run, against the same tables:
- spread: transfers of 1.00 USD between two wallets drawn at random from --wallets (1,000;
  --quick 200) funded wallets;
- hot10: deposits from one of 10 provider clearing accounts into a random wallet: every posting
  locks one of 10 hot rows, 8 workers compete for them.
The service's run is compared with the same postings written with plain SQL (psycopg, autocommit,
one statement per posting as the service's is: the transaction row ON CONFLICT DO NOTHING, the
balance rows locked FOR UPDATE in account order, the legs and the balances, in data-modifying WITH
clauses; the non-negative rule left to the database's CHECK constraint, no check in Python).

Figures (one JSON line each):
- ledger_postings.throughput: postings/s, spread; limit: plain SQL's postings/s; ratio = value /
  limit. Goal: ratio >= 0.5.
- ledger_postings.throughput_hot10: the same with the 10 hot accounts. Goal: ratio >= 0.5.
- ledger_postings.p95_ms: per-posting latency (spread, service), informational.
- ledger_postings.invariant_breaks: rows wallet.ledger.ledger_verify lists after all runs. Goal: 0.
- ledger_postings.deadlock_failures: postings that failed with a deadlock, all runs. Goal: 0.

- ledger_postings.vs_hordak / vs_hordak_hot10: our postings/s; limit: django-hordak 2.0's
  postings/s for the same workload (8 workers, locks in id order, the debited wallet's balance
  checked); ratio = value / limit. Goal: ratio >= 3. Hordak 2.0 supports Django 4.2 and 5.0, not
  the CRM's Django 6, so this script builds a virtualenv of its own under var/hordak-venv (Django
  5.0, django-hordak 2.0.0, psycopg, from PyPI, once) and runs benchmarks/ledger_hordak/side.py
  there against a database of its own (<db>_hordak) on the same server. --no-hordak leaves it out;
  if the virtualenv cannot be built (offline), the figures are left out and the reason logged.

Run: python benchmarks/ledger_postings.py [--quick] [--keep] [--workers N] [--postings N] [--wallets N]
     [--no-hordak]
"""

from __future__ import annotations

import json
import multiprocessing
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    REPO_ROOT,
    BenchEnv,
    _admin_connect,
    argument_parser,
    finish,
    log,
    percentile,
    prepare,
    record,
    sized,
    timed,
    url_with_database,
)

GOAL_RATIO = 0.5
GOAL_VS_HORDAK = 3.0
HORDAK_VENV = REPO_ROOT / "var" / "hordak-venv"
HORDAK_REQUIREMENTS = ["Django>=5.0,<5.1", "django-hordak==2.0.0", "psycopg[binary]>=3.1"]
HORDAK_SIDE = Path(__file__).resolve().parent / "ledger_hordak" / "side.py"
HOT_ACCOUNTS = 10

# Posting = (key, [(account_id, amount)]); the service's side also needs the account objects.
Posting = tuple[str, list[tuple[int, Decimal]]]


def _plans(*, kind: str, workers: int, per_worker: int, wallets: list[int], hot: list[int], prefix: str,
           seed: int) -> list[list[Posting]]:
    rng = random.Random(seed)  # noqa: S311 - benchmark data
    plans: list[list[Posting]] = []
    one = Decimal("1.00")
    for w in range(workers):
        plan: list[Posting] = []
        for n in range(per_worker):
            if kind == "spread":
                a, b = rng.sample(wallets, 2)
                legs = [(a, -one), (b, one)]
            else:
                legs = [(rng.choice(hot), -one), (rng.choice(wallets), one)]
            plan.append((f"{prefix}-{w}-{n}", legs))
        plans.append(plan)
    return plans


def _service_worker(plan: list[Posting], barrier: Any, results: Any) -> None:
    from django.db import OperationalError, connection

    from crm.lib.money import Money
    from wallet.ledger import Leg, ledger_post
    from wallet.models import LedgerAccount

    accounts = {a.pk: a for a in LedgerAccount.objects.filter(pk__in={i for _k, legs in plan for i, _a in legs})}
    latencies: list[float] = []
    deadlocks = failures = 0
    barrier.wait()
    for key, legs in plan:
        start = time.perf_counter()
        try:
            ledger_post(key=key, kind="transfer",
                        legs=[Leg(accounts[i], Money(amount, "USD")) for i, amount in legs])
        except OperationalError as error:
            if "deadlock" in str(error):
                deadlocks += 1
            else:
                failures += 1
        latencies.append(time.perf_counter() - start)
    connection.close()
    results.put((latencies, deadlocks, failures))


_RAW_POST = (
    "WITH t AS (INSERT INTO wallet_ledgertransaction (code, idempotency_key, fingerprint, kind, memo, occurred_at, "
    "recorded_at, rate_source, metadata, ref_kind, ref_code) VALUES (gen_random_uuid(), %s, '', 'transfer', "
    "'', now(), now(), '', '{}', '', '') ON CONFLICT DO NOTHING RETURNING id), "
    "b AS (SELECT account_id FROM wallet_ledgerbalance WHERE account_id = ANY(%s) AND EXISTS (SELECT FROM t) "
    "ORDER BY account_id FOR UPDATE), "
    "l AS (INSERT INTO wallet_ledgerleg (transaction_id, account_id, currency, amount, recorded_at) "
    "SELECT t.id, v.id, 'USD', v.d, now() FROM t, (VALUES (%s::bigint, %s::numeric), (%s::bigint, %s::numeric)) v(id, d)) "
    "UPDATE wallet_ledgerbalance x SET balance = x.balance + v.d, updated_at = now() "
    "FROM b JOIN (VALUES (%s::bigint, %s::numeric), (%s::bigint, %s::numeric)) v(id, d) ON v.id = b.account_id "
    "WHERE x.account_id = b.account_id")


def _raw_worker(database_url: str, plan: list[Posting], barrier: Any, results: Any) -> None:
    import psycopg

    latencies: list[float] = []
    deadlocks = failures = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        barrier.wait()
        for key, legs in plan:
            start = time.perf_counter()
            (a, da), (b, db) = legs
            try:
                conn.execute(_RAW_POST, (key, sorted({a, b}), a, da, b, db, a, da, b, db))
            except psycopg.errors.DeadlockDetected:
                deadlocks += 1
            except psycopg.Error:
                failures += 1
            latencies.append(time.perf_counter() - start)
    results.put((latencies, deadlocks, failures))


def _run(label: str, plans: list[list[Posting]], target: Any, extra: tuple[Any, ...] = ()) -> tuple[float, list[float], int, int]:
    """Run one process per plan, released together; postings per second over the wall time."""
    from django.db import connections

    connections.close_all()  # the children must not share the parent's connection
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(plans) + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*extra, plan, barrier, results)) for plan in plans]
    for proc in procs:
        proc.start()
    barrier.wait()
    start = time.perf_counter()
    collected = [results.get(timeout=1800) for _ in procs]
    elapsed = time.perf_counter() - start
    for proc in procs:
        proc.join()
    latencies = [x for lat, _d, _f in collected for x in lat]
    deadlocks = sum(d for _l, d, _f in collected)
    failures = sum(f for _l, _d, f in collected)
    rate = len(latencies) / elapsed
    log(f"{label}: {len(latencies)} postings in {elapsed:.1f} s = {rate:.0f}/s; {deadlocks} deadlocks, "
        f"{failures} other failures")
    return rate, latencies, deadlocks, failures


def _setup(wallet_count: int) -> tuple[list[int], list[int]]:
    from benchmarks.common import insert_series
    from crm.lib.money import Money
    from crm.models import Brand, Client
    from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for

    brand = Brand.objects.create(code="bench-ledger", name="Bench ledger")
    insert_series(Client, wallet_count, {"code": "gen_random_uuid()", "brand_id": str(brand.pk),
                                         "first_name": "'Client ' || g", "created_at": "now()", "updated_at": "now()"})
    wallets = [wallet_account_for(client=c, currency="USD") for c in Client.objects.filter(brand=brand)]
    hot = [clearing_account_for(provider=f"psp{n}", currency="USD", brand=brand) for n in range(HOT_ACCOUNTS)]
    funding = Money("1000000.00", "USD")
    ledger_post(key="bench-funding", kind="deposit",
                legs=[Leg(hot[0], -funding * len(wallets)), *[Leg(w, funding) for w in wallets]])
    return [w.pk for w in wallets], [h.pk for h in hot]


def _hordak_python() -> Path:
    """The interpreter of hordak's own virtualenv, built on first use."""
    python = HORDAK_VENV / "bin" / "python"
    if not python.exists():
        with timed("hordak virtualenv"):
            subprocess.run([sys.executable, "-m", "venv", str(HORDAK_VENV)], check=True)  # noqa: S603
            subprocess.run([str(python), "-m", "pip", "install", "-q", *HORDAK_REQUIREMENTS],  # noqa: S603
                           check=True, timeout=900)
    return python


def _hordak(env: BenchEnv, *, kinds: list[str], workers: int, per_worker: int, wallet_count: int) -> dict[str, Any]:
    """Hordak's postings per second for each workload, or {} (with the reason logged)."""
    try:
        python = _hordak_python()
    except (OSError, subprocess.SubprocessError) as error:
        log(f"hordak comparison left out: its virtualenv could not be built ({error})")
        return {}
    name = f"{env.db_name}_hordak"
    url = url_with_database(env.database_url, name)
    with _admin_connect(env.database_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with timed("hordak setup"):
            accounts = json.loads(subprocess.run(  # noqa: S603 - our own script
                [str(python), str(HORDAK_SIDE), "setup", url, str(wallet_count)],
                check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        figures = {}
        for n, kind in enumerate(kinds):
            out = subprocess.run(  # noqa: S603 - our own script
                [str(python), str(HORDAK_SIDE), "run", url, kind, str(workers), str(per_worker), str(n),
                 json.dumps(accounts["wallets"]), json.dumps(accounts["hot"])],
                check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            figures[kind] = json.loads(out)
            log(f"{kind} hordak: {figures[kind]['rate']:.0f}/s; {figures[kind]['deadlocks']} deadlocks, "
                f"{figures[kind]['failures']} failures")
        return figures
    except subprocess.CalledProcessError as error:
        log(f"hordak comparison left out: its run failed:\n{(error.stderr or '')[-3000:]}")
        return {}
    finally:
        if not env.keep:
            with _admin_connect(env.database_url) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str]) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--postings", type=int, default=None, help="postings per worker per run (1,500; --quick 150)")
    parser.add_argument("--wallets", type=int, default=None, help="funded wallets (1,000; --quick 200)")
    parser.add_argument("--no-hordak", action="store_true", help="leave the django-hordak comparison out")
    args = parser.parse_args(argv)
    env = prepare(args)
    per_worker = args.postings or sized(args, 1500, 150, 5)
    wallet_count = args.wallets or sized(args, 1000, 200, 20)
    if args.tiny:
        args.workers, args.no_hordak = 2, True  # no virtualenv of django-hordak built for a smoke run
    size = f"{args.workers} workers x {per_worker} postings, {wallet_count} wallets"

    with timed("setup"):
        wallets, hot = _setup(wallet_count)
    from benchmarks.common import vacuum_analyze
    from wallet.models import LedgerAccount, LedgerBalance, LedgerLeg, LedgerTransaction

    vacuum_analyze(LedgerAccount, LedgerBalance, LedgerLeg, LedgerTransaction)

    deadlocks = failures = 0
    ours: dict[str, float] = {}
    for n, (kind, name) in enumerate((("spread", "throughput"), ("hot10", "throughput_hot10"))):
        common = {"kind": kind, "workers": args.workers, "per_worker": per_worker, "wallets": wallets, "hot": hot}
        # Warm-up is the first few postings of each run; the raw baseline runs first, then the service.
        # Each starts from a vacuumed balance table: 1,500 updates of each hot row leave as many dead
        # versions of it, which the next run would otherwise wade through (autovacuum does that
        # work in a running system; within a few seconds' run it does not get to it).
        vacuum_analyze(LedgerBalance)
        raw_rate, _lat, d1, f1 = _run(f"{kind} plain SQL", _plans(**common, prefix=f"raw-{kind}", seed=n),
                                      _raw_worker, (env.database_url,))
        vacuum_analyze(LedgerBalance)
        rate, latencies, d2, f2 = _run(f"{kind} ledger_post", _plans(**common, prefix=f"svc-{kind}", seed=n),
                                       _service_worker)
        deadlocks += d1 + d2
        ours[kind] = rate
        failures += f1 + f2
        record(f"ledger_postings.{name}", value=rate, unit="postings/s", limit=raw_rate,
               goal=f"ratio >= {GOAL_RATIO} (share of plain SQL's rate)", size=size + (
                   f", {HOT_ACCOUNTS} hot accounts" if kind == "hot10" else ""))
        if kind == "spread":
            record("ledger_postings.p95_ms", value=percentile(latencies, 95) * 1000, unit="ms", limit=None,
                   goal="informational", size=size)

    if not args.no_hordak:
        hordak = _hordak(env, kinds=list(ours), workers=args.workers, per_worker=per_worker,
                         wallet_count=wallet_count)
        for kind, figure in hordak.items():
            deadlocks += int(figure["deadlocks"])
            record("ledger_postings.vs_hordak" + ("" if kind == "spread" else f"_{kind}"), value=ours[kind],
                   unit="postings/s", limit=figure["rate"], goal=f"ratio >= {GOAL_VS_HORDAK} (times django-hordak 2.0)",
                   size=size + (f", {HOT_ACCOUNTS} hot accounts" if kind == "hot10" else ""))

    from wallet.ledger import ledger_verify

    problems = ledger_verify()
    breaks = sum(len(rows) for rows in problems.values())
    if problems:
        log(f"invariant breaks: {problems}")
    record("ledger_postings.invariant_breaks", value=breaks, unit="rows", limit=None, goal="== 0", size=size)
    record("ledger_postings.deadlock_failures", value=deadlocks, unit="postings", limit=None, goal="== 0", size=size)
    if failures:
        log(f"{failures} postings failed for another reason")
    finish(env)
    return 1 if breaks or deadlocks or failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
