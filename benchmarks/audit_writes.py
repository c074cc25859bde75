"""Audited writes per second with 8 concurrent writers: the audit log sealed in batches (crm.audit)
against the one global chain lock it replaced, and against no chain at all.

Each writer runs W transactions (1,000; --quick 100), one after the other, on its own connection.
A transaction is an audited write of the usual shape: the audit row first, then the service's own
change (one UPDATE of a row of the writer's own, so that writers never wait for each other's rows),
then COMMIT.

Figures (one JSON line each):
- audit_writes.sealed_per_s: the CRM's writer (crm.audit.audit_record through Django, no lock)
  while a sealer (crm.audit.audit_seal) runs beside it every 0.5 s, as beat does every few
  seconds; the time runs until the last row is sealed, so sealing is paid for. limit: the same
  rows inserted with plain SQL (psycopg) into a table of the same shape, without any chain;
  ratio = value / limit. Goal: >= 3 x audit_writes.global_lock_per_s.
- audit_writes.global_lock_per_s: the shape before issue 32, reproduced with plain SQL: each write
  takes SELECT ... FOR UPDATE on one head row, reads the previous hash, inserts the row with its
  hash and moves the head, and holds that lock until COMMIT. Same limit; informational.
- audit_writes.raw_per_s: the limit itself, as a figure.

Run: python benchmarks/audit_writes.py [--quick] [--keep] [--writes N] [--writers N]
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import BenchEnv, argument_parser, finish, log, prepare, raw_connection, record, sized  # noqa: E402

SHAPE_TABLES = """
DROP TABLE IF EXISTS bench_audit_rows, bench_audit_head, bench_audit_work;
CREATE TABLE bench_audit_rows (LIKE crm_auditlog INCLUDING ALL);
CREATE TABLE bench_audit_head (id int PRIMARY KEY, hash text NOT NULL);
CREATE TABLE bench_audit_work (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
"""
# A row as the audit log writes one (its object id and after given), without and with its chain.
INSERT_ROW = ("INSERT INTO bench_audit_rows (at, actor_label, action, object_type, object_id, after, reason, user_agent, "
              "request_id, source) VALUES (now(), 'bench', 'bench.write', 'crm.client', %s, %s::jsonb, '', '', '', 'bench')")
INSERT_CHAINED = ("INSERT INTO bench_audit_rows (at, actor_label, action, object_type, object_id, after, reason, "
                  "user_agent, request_id, source, prev_hash, hash) VALUES (now(), 'bench', 'bench.write', "
                  "'crm.client', %s, %s::jsonb, '', '', '', 'bench', %s, %s)")
WORK = "UPDATE bench_audit_work SET n = n + 1 WHERE id = %s"


def _run_writers(writers: int, work: Callable[[int], None]) -> float:
    """Run `work(writer)` in `writers` threads started together; seconds until the last one ends."""
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - began


def _raw(env: BenchEnv, writers: int, writes: int) -> float:
    def work(n: int) -> None:
        with raw_connection(env) as conn:
            for i in range(writes):
                with conn.transaction():
                    conn.execute(INSERT_ROW, (f"{n}-{i}", '{"n": 1}'))
                    conn.execute(WORK, (n,))

    return _run_writers(writers, work)


def _global_lock(env: BenchEnv, writers: int, writes: int) -> float:
    def work(n: int) -> None:
        with raw_connection(env) as conn:
            for i in range(writes):
                with conn.transaction():
                    prev = conn.execute("SELECT hash FROM bench_audit_head WHERE id = 1 FOR UPDATE").fetchone()[0]
                    digest = hashlib.sha256(f"{prev}|{n}-{i}".encode()).hexdigest()
                    conn.execute(INSERT_CHAINED, (f"{n}-{i}", '{"n": 1}', prev, digest))
                    conn.execute("UPDATE bench_audit_head SET hash = %s WHERE id = 1", (digest,))
                    conn.execute(WORK, (n,))

    return _run_writers(writers, work)


def _sealed(writers: int, writes: int) -> tuple[float, int]:
    from django.db import connection, transaction

    from crm.audit import audit_record, audit_seal

    done = threading.Event()
    sealed = [0]

    def sealer() -> None:
        try:
            while not done.wait(0.5):
                sealed[0] += audit_seal()
        finally:
            connection.close()

    def work(n: int) -> None:
        try:
            for i in range(writes):
                with transaction.atomic():
                    audit_record(action="bench.write", object_type="crm.client", object_id=f"{n}-{i}",
                                 after={"n": 1})
                    with connection.cursor() as cursor:
                        cursor.execute(WORK, [n])
        finally:
            connection.close()

    sealing = threading.Thread(target=sealer)
    sealing.start()
    began = time.perf_counter()
    _run_writers(writers, work)
    done.set()
    sealing.join()
    sealed[0] += audit_seal()
    return time.perf_counter() - began, sealed[0]


def _reset(env: BenchEnv, writers: int) -> None:
    with raw_connection(env) as conn:
        conn.execute("TRUNCATE bench_audit_rows")
        conn.execute("INSERT INTO bench_audit_head VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET hash = EXCLUDED.hash",
                     ("0" * 64,))
        conn.execute("INSERT INTO bench_audit_work (id) SELECT generate_series(0, %s) ON CONFLICT DO NOTHING",
                     (writers - 1,))


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--writes", type=int, default=0, help="transactions per writer (default 1000)")
    parser.add_argument("--writers", type=int, default=8)
    args = parser.parse_args()
    writes = args.writes or sized(args, 1000, 100, 5)
    writers = 2 if args.tiny else args.writers
    env = prepare(args)
    with raw_connection(env) as conn:
        conn.execute(SHAPE_TABLES)
    total = writes * writers
    size = f"{writers} writers x {writes} transactions ({total} audited writes)"

    results: dict[str, Any] = {}
    _reset(env, writers)
    _raw(env, max(1, writers // 4), 10)  # warm the tables and the connections' first steps
    for name, run in (("raw", lambda: _raw(env, writers, writes)),
                      ("global_lock", lambda: _global_lock(env, writers, writes))):
        _reset(env, writers)
        seconds = run()
        results[name] = total / seconds
        log(f"{name}: {total} writes in {seconds:.2f} s")
    seconds, sealed = _sealed(writers, writes)
    if sealed != total:
        raise SystemExit(f"the sealer chained {sealed} rows, not {total}")
    from crm.audit import verify_chain

    report = verify_chain()
    if not report.ok or report.checked != total:
        raise SystemExit(f"the chain does not hold after the run: {report.describe() or report.checked}")
    results["sealed"] = total / seconds
    log(f"sealed: {total} writes written and sealed in {seconds:.2f} s; chain verified")

    record("audit_writes.sealed_per_s", value=results["sealed"], unit="writes/s", limit=results["raw"],
           goal=f">= 3 x global lock ({3 * results['global_lock']:.0f})", size=size)
    record("audit_writes.global_lock_per_s", value=results["global_lock"], unit="writes/s", limit=results["raw"],
           goal="", size=size + ", the shape before issue 32")
    record("audit_writes.raw_per_s", value=results["raw"], unit="writes/s", limit=results["raw"], goal="",
           size=size + ", no chain")
    finish(env)


if __name__ == "__main__":
    main()
