"""Domain events, emit to delivery, through a real Celery worker.

Emits N events (20,000; --quick 2,000) while a real worker (`celery -A crm worker -c 2`, a
subprocess against the benchmark database) delivers them to a trivial handler
(benchmarks/handlers.py) that inserts one row per event. The worker loads that handler through
CRM_EXTRA_HANDLER_MODULES; nothing but the post-commit kick and the worker's own dispatcher moves
the events (no beat: the measured path is commit -> kick -> dispatch_pending).

Two emitting styles are measured, one after the other:
- batch: crm.events.emit_many, --batch events (default 500) per transaction, as imports and
  platform sync emit;
- each: crm.events.emit once per event, --each-batch events (default 100) per transaction, as
  services emit (one event per change).

Figures (one JSON line each):
- event_delivery.throughput: events per second from the first emit until every delivery is
  recorded, batch style. limit: rows per second for the same number of rows inserted with plain
  SQL (psycopg executemany, one transaction) into a table of the same shape; ratio = value /
  limit, the share of raw insert speed the outbox keeps. Goal: >= 1,000 events/s.
- event_delivery.throughput_emit_each: the same with emit() per event (same limit); informational.
- event_delivery.emit_rate / emit_rate_each: events per second of the emitting side alone.
- event_delivery.latency_p50 / latency_p95: per event (batch style), ms from the Event row's
  creation to its handler's row; informational.

Run: python benchmarks/event_delivery.py [--quick] [--keep] [--events N] [--batch N] [--each-batch N]
     [--concurrency N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    BenchEnv,
    CeleryWorker,
    argument_parser,
    finish,
    log,
    percentile,
    prepare,
    raw_connection,
    record,
    sized,
)

GOAL_EVENTS_PER_S = 1000.0


def _emit(count: int, batch: int, *, each: bool, start: int = 0) -> None:
    from django.db import transaction

    from benchmarks.handlers import BENCH_EVENT
    from crm.events import emit, emit_many

    done = 0
    while done < count:
        size = min(batch, count - done)
        numbers = range(start + done, start + done + size)
        with transaction.atomic():
            if each:
                for i in numbers:
                    emit(BENCH_EVENT, data={"i": i})
            else:
                emit_many({"name": BENCH_EVENT, "data": {"i": i}} for i in numbers)
        done += size


def _delivered(cursor: object) -> int:
    cursor.execute("SELECT count(*) FROM bench_delivery")  # type: ignore[attr-defined]
    return int(cursor.fetchone()[0])  # type: ignore[attr-defined]


def _wait_for(cursor: object, expected: int, *, timeout: float) -> float:
    """Poll until `expected` deliveries are recorded; returns the moment (perf_counter) it happened."""
    deadline = time.perf_counter() + timeout
    while True:
        got = _delivered(cursor)
        now = time.perf_counter()
        if got >= expected:
            return now
        if now > deadline:
            raise RuntimeError(f"only {got} of {expected} events were delivered within {timeout:.0f} s")
        time.sleep(0.01)


def _baseline_rows_per_s(env: BenchEnv, count: int) -> float:
    with raw_connection(env) as conn:
        conn.execute("TRUNCATE bench_baseline")
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany("INSERT INTO bench_baseline (event_id) VALUES (%s)",
                               [(i,) for i in range(1, count + 1)])
        return count / (time.perf_counter() - start)


def _measure(cursor: object, count: int, batch: int, *, each: bool) -> tuple[float, float, list[float]]:
    """(events/s end to end, events/s emitted, per-event latencies in ms) for one style."""
    cursor.execute("TRUNCATE bench_delivery")  # type: ignore[attr-defined]
    start = time.perf_counter()
    _emit(count, batch, each=each)
    emitted = time.perf_counter()
    log(f"emitted {count} events ({'emit each' if each else 'emit_many'}) in {emitted - start:.2f} s; "
        "waiting for delivery")
    finished = _wait_for(cursor, count, timeout=120 + count / 50)
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT extract(epoch FROM d.delivered_at - e.created_at) * 1000 "
        "FROM bench_delivery d JOIN crm_event e ON e.id = d.event_id"
    )
    latencies = [float(row[0]) for row in cursor.fetchall()]  # type: ignore[attr-defined]
    return count / (finished - start), count / (emitted - start), latencies


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--events", type=int, default=None, help="events to emit (default 20,000; quick 2,000)")
    parser.add_argument("--batch", type=int, default=500, help="events per emit_many transaction")
    parser.add_argument("--each-batch", type=int, default=100, help="emit() calls per transaction")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (celery -c)")
    args = parser.parse_args()
    count = args.events or sized(args, 20_000, 2_000, 20)
    if args.tiny:
        args.concurrency = 1

    env = prepare(args)
    try:
        from django.db import connection

        from benchmarks.handlers import TABLES_SQL

        with connection.cursor() as cursor:
            for sql in TABLES_SQL:
                cursor.execute(sql)
        baseline = _baseline_rows_per_s(env, count)
        log(f"baseline: {count} rows in one transaction at {baseline:.0f} rows/s")

        worker = CeleryWorker(env, concurrency=args.concurrency,
                              extra_env={"CRM_EXTRA_HANDLER_MODULES": "benchmarks.handlers"})
        with worker, raw_connection(env) as conn, conn.cursor() as cursor:
            # Warm-up: worker processes open their connections and import their code.
            warmup = min(500, count)
            _emit(warmup, args.batch, each=False, start=-warmup)
            _wait_for(cursor, warmup, timeout=120)
            batch_rate, batch_emit, latencies = _measure(cursor, count, args.batch, each=False)
            each_rate, each_emit, _ = _measure(cursor, count, args.each_batch, each=True)

        size = f"{count} events, emit_many x{args.batch}, worker -c {args.concurrency}"
        size_each = f"{count} events, emit() x{args.each_batch} per transaction, worker -c {args.concurrency}"
        record("event_delivery.throughput", value=batch_rate, unit="events/s", limit=baseline,
               goal=f">= {GOAL_EVENTS_PER_S:.0f} events/s", size=size)
        record("event_delivery.throughput_emit_each", value=each_rate, unit="events/s", limit=baseline,
               goal="info", size=size_each)
        record("event_delivery.emit_rate", value=batch_emit, unit="events/s", limit=baseline, goal="info",
               size=size)
        record("event_delivery.emit_rate_each", value=each_emit, unit="events/s", limit=baseline, goal="info",
               size=size_each)
        record("event_delivery.latency_p50", value=percentile(latencies, 50), unit="ms", limit=None,
               goal="info", size=size)
        record("event_delivery.latency_p95", value=percentile(latencies, 95), unit="ms", limit=None,
               goal="info", size=size)
    finally:
        finish(env)


if __name__ == "__main__":
    main()
