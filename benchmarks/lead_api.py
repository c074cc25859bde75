"""The lead API under gunicorn: POST /api/v1/leads with scoring, routing, audit and events.

The real application runs under gunicorn (a subprocess bound to 127.0.0.1, benchmark settings,
the benchmark database) with a brand set up as in production: a desk of agents open around the
clock, a round-robin fallback rule and a conditional rule, scoring rules and a first-contact SLA.

Phases, each beside a plain INSERT of the same rows measured in the same run:

- lead_api.single_throughput: leads/s with --clients (8) threads each posting one lead per request
  on a kept-alive connection, one API key per thread (one per "vendor"). Goal >= 150 leads/s.
  limit: rows/s for the same rows INSERTed one per statement (autocommit) by as many threads,
  each on its own psycopg connection, into a table of the lead's columns.
- lead_api.single_p95: p95 latency of those requests in ms. Goal <= 200 ms. limit: p95 of the
  plain INSERTs; ratio = value / limit.
- lead_api.batch_throughput: leads/s posting batches of 1,000 leads, one request at a time.
  Goal >= 2,500 leads/s. limit: rows/s for the same rows INSERTed with executemany, one
  transaction per 1,000 rows, on one connection.
- lead_api.batch_throughput_parallel: the same with --batch-clients (2) clients posting at once
  (two vendors, or one vendor with two connections); same goal and limit.

After a warm-up of 16 leads per client and a batch of 1,000 the intake's tables are ANALYZEd,
as autovacuum keeps them on a live system (on a database created a moment before, the planner
would think the brand has two clients). Each phase checks afterwards that every lead became one
client with a touch, a score and an owner. Run: python benchmarks/lead_api.py [--quick] [--keep] [--leads N] [--batches N] [--clients N]
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from psycopg import sql as psql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    REPO_ROOT,
    BenchEnv,
    argument_parser,
    die_with_parent,
    finish,
    log,
    percentile,
    prepare,
    raw_connection,
    record,
    sized,
)

BATCH = 1000
GOAL_SINGLE = 150.0
GOAL_P95_MS = 200.0
GOAL_BATCH = 2500.0
COLUMNS = ("first_name", "last_name", "email", "phone", "country", "utm_source", "utm_campaign", "experience",
           "deposit_intent")
BASELINE_TABLE = "bench_lead_rows"


def lead(n: int) -> dict[str, Any]:
    return {
        "first_name": f"Lead{n}", "last_name": f"Person{n}", "email": f"lead{n}@bench.example",
        "phone": f"+44207{n:07d}", "country": "GB", "utm_source": ("google", "facebook", "affiliates")[n % 3],
        "utm_campaign": ("spring", "gold", "")[n % 3], "experience": ("none", "some", "experienced")[n % 3],
        "deposit_intent": str((n % 5) * 1000),
    }


# --- set-up ---------------------------------------------------------------------------------------

def build_world(clients: int) -> tuple[list[str], str]:
    """A brand with its rules and agents; returns the raw API keys (one per client thread) and one more."""
    from datetime import time as dtime

    from crm.models import RoleCode
    from integrations.services import apikey_create
    from leads.models import RoutingStrategy, RoutingTarget, ScoringKind
    from leads.services import desk_sla_save, routing_rule_save, scoring_rule_save
    from tests.factories import make_brand, make_desk, make_user

    brand = make_brand(code="bench", name="Bench Markets")
    admin = make_user(role_code=RoleCode.ADMIN, email="admin@bench.example")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    open_all_day = {"work_start": dtime(0, 0), "work_end": dtime(23, 59, 59, 999999), "work_days": [1, 2, 3, 4, 5, 6, 7]}
    desk = make_desk(brand=brand, name="Sales", manager=manager, **open_all_day)
    vip_desk = make_desk(brand=brand, name="VIP", manager=manager, **open_all_day)
    for _ in range(10):
        make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    for _ in range(3):
        make_user(role_code=RoleCode.SALES_AGENT, desk=vip_desk)
    routing_rule_save(actor=admin, brand=brand, name="Hot leads", target_kind=RoutingTarget.DESK, target_desk=vip_desk,
                      strategy=RoutingStrategy.LEAST_LOADED, score_min=60)
    routing_rule_save(actor=admin, brand=brand, name="Everyone", target_kind=RoutingTarget.DESK, target_desk=desk,
                      strategy=RoutingStrategy.ROUND_ROBIN, is_fallback=True)
    for name, kind, params, points in (
        ("UK", ScoringKind.COUNTRY_TIER, {"countries": ["GB", "DE"]}, 20),
        ("Experience", ScoringKind.DECLARED_EXPERIENCE, {"levels": ["experienced", "professional"]}, 20),
        ("Deposit", ScoringKind.DEPOSIT_INTENT, {"min": "3000"}, 25),
        ("Google", ScoringKind.SOURCE_QUALITY, {"sources": ["google"]}, 10),
        ("Complete", ScoringKind.COMPLETENESS, {"fields": ["phone", "experience", "deposit_intent"]}, 15),
    ):
        scoring_rule_save(actor=admin, brand=brand, name=name, kind=kind, params=params, points=points)
    desk_sla_save(actor=admin, desk=desk, minutes_to_first_contact=15)
    keys = [apikey_create(actor=admin, brand=brand, name=f"Vendor {i}", scopes=["leads:write"])[1]
            for i in range(clients + 1)]
    return keys[:-1], keys[-1]


class Gunicorn:
    """The application under gunicorn, in its own process group, against the benchmark database."""

    def __init__(self, env: BenchEnv, *, workers: int, threads: int) -> None:
        self.env = env
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.workers, self.threads = workers, threads
        self.log_file = tempfile.NamedTemporaryFile(prefix="crm-bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        env = self.env.worker_env(HOST="127.0.0.1", PORT=str(self.port), WEB_CONCURRENCY=str(self.workers),
                                  WEB_THREADS=str(self.threads), LOG_LEVEL="warning")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [sys.executable, "-m", "gunicorn", "-c", "python:deploy.gunicorn_conf", "crm.wsgi:application"],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.output()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/f/bench/lead/")
                if conn.getresponse().status == 200:
                    log(f"gunicorn up on port {self.port} ({self.workers} workers x {self.threads} threads)")
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not come up:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log_file.name).read_text(errors="replace")[-4000:]

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log_file.close()
        os.unlink(self.log_file.name)


# --- clients --------------------------------------------------------------------------------------

def post(conn: http.client.HTTPConnection, key: str, body: Any) -> tuple[int, dict[str, Any]]:
    """(status, JSON answer); an answer that is not JSON (a server error page) comes back as its text."""
    conn.request("POST", "/api/v1/leads", body=json.dumps(body),
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = conn.getresponse()
    raw = response.read()
    try:
        return response.status, json.loads(raw or b"{}")
    except ValueError:
        return response.status, {"text": raw[:300].decode(errors="replace")}


def run_single(port: int, keys: list[str], numbers: list[int]) -> tuple[float, list[float]]:
    """Post one lead per request from len(keys) threads; returns (wall seconds, latencies in ms)."""
    shares = [numbers[i::len(keys)] for i in range(len(keys))]
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(keys) + 1)

    def worker(key: str, share: list[int]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        barrier.wait()
        for n in share:
            start = time.perf_counter()
            try:
                status, body = post(conn, key, lead(n))
            except OSError as exc:  # a dropped connection is a failed request, not a lost thread
                failures.append(f"lead {n}: {exc!r}")
                conn.close()
                continue
            mine.append((time.perf_counter() - start) * 1000)
            if status != 201:
                failures.append(f"{status} {body}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(k, s)) for k, s in zip(keys, shares, strict=True)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[:3]}")
    return elapsed, latencies


def run_batches(port: int, keys: list[str], first: int, batches: int) -> float:
    """Post `batches` batches of BATCH leads from len(keys) clients, each on its own connection."""
    failures: list[str] = []
    plan = [[b for b in range(batches) if b % len(keys) == i] for i in range(len(keys))]

    def worker(key: str, mine: list[int]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for b in mine:
            numbers = range(first + b * BATCH, first + (b + 1) * BATCH)
            try:
                status, body = post(conn, key, {"leads": [lead(n) for n in numbers]})
            except OSError as exc:
                failures.append(f"batch {b}: {exc!r}")
                conn.close()
                continue
            if status != 200 or body.get("created") != BATCH:
                failures.append(f"batch {b}: {status} {str(body)[:300]}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(k, m)) for k, m in zip(keys, plan, strict=True)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError("; ".join(failures[:3]))
    return time.perf_counter() - start


# --- baselines --------------------------------------------------------------------------------------

def baseline_table(env: BenchEnv) -> None:
    with raw_connection(env) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        conn.execute(f"CREATE TABLE {BASELINE_TABLE} (id bigserial PRIMARY KEY, "
                     + ", ".join(f"{c} varchar(254) NOT NULL" for c in COLUMNS)
                     + ", created_at timestamptz NOT NULL DEFAULT now())")


_INSERT = psql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
    psql.Identifier(BASELINE_TABLE), psql.SQL(", ").join(map(psql.Identifier, COLUMNS)),
    psql.SQL(", ").join(psql.Placeholder() for _ in COLUMNS))


def _row(n: int) -> tuple[str, ...]:
    data = lead(n)
    return tuple(str(data[c]) for c in COLUMNS)


def baseline_single(env: BenchEnv, numbers: list[int], threads: int) -> tuple[float, list[float]]:
    """The same rows, one INSERT per statement in autocommit, from `threads` connections."""
    shares = [numbers[i::threads] for i in range(threads)]
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def worker(share: list[int]) -> None:
        with raw_connection(env) as conn:
            mine = []
            barrier.wait()
            for n in share:
                start = time.perf_counter()
                conn.execute(_INSERT, _row(n))
                mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=worker, args=(s,)) for s in shares]
    for t in workers:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in workers:
        t.join()
    return time.perf_counter() - start, latencies


def baseline_batches(env: BenchEnv, first: int, batches: int) -> float:
    with raw_connection(env) as conn:
        start = time.perf_counter()
        for b in range(batches):
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(_INSERT, [_row(n) for n in range(first + b * BATCH, first + (b + 1) * BATCH)])
        return time.perf_counter() - start


def analyze(env: BenchEnv) -> None:
    """Statistics for the tables the intake reads, as autovacuum keeps them on a live system. A
    database created a moment ago has none worth the name (autovacuum looks once a minute), and
    the planner, told the brand has two clients, would scan all of them on every lookup. Taken
    once the brand has a thousand clients: a plan made while a table held a page or two (a
    sequential scan, the cheapest way to find one row among a hundred) is kept by each connection
    until the table's statistics next change, which on a live system is minutes, not the whole
    run."""
    with raw_connection(env) as conn:
        conn.execute("ANALYZE crm_client, leads_contactkey, crm_user, crm_desk, leads_agentavailability")
    log("analysed the intake's tables")


def check(expected: int) -> None:
    from django.db import connection

    from crm.models import Client
    from leads.models import LeadScore, LeadTouch

    connection.close()
    clients = Client.objects.filter(brand__code="bench")
    counts = (clients.count(), clients.filter(owner__isnull=False).count(), LeadTouch.objects.count(),
              LeadScore.objects.count())
    if counts != (expected,) * 4:
        raise RuntimeError(f"expected {expected} clients, owners, touches and scores; got {counts}")
    log(f"checked: {expected} clients, each with an owner, a touch and a score")


def main() -> None:
    global BATCH  # noqa: PLW0603 - --tiny posts batches of a few leads
    parser = argument_parser(__doc__)
    parser.add_argument("--leads", type=int, default=None, help="single-lead requests (default 3,000; quick 400)")
    parser.add_argument("--batches", type=int, default=None, help="batches of 1,000 per batch phase (default 20; quick 2)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads for single leads")
    parser.add_argument("--batch-clients", type=int, default=2,
                        help="concurrent clients for the parallel batch figure")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))
    args = parser.parse_args()
    singles = args.leads or sized(args, 3000, 400, 10)
    batches = args.batches or sized(args, 20, 2, 1)
    if args.tiny:
        args.workers, args.threads, args.clients, args.batch_clients = 1, 2, 2, 1
        BATCH = 10
    warmup = (2 if args.tiny else 16) * args.clients

    env = prepare(args)
    try:
        keys, _spare = build_world(max(args.clients, args.batch_clients))
        baseline_table(env)
        with Gunicorn(env, workers=args.workers, threads=args.threads) as server:
            run_single(server.port, keys, list(range(1, warmup + 1)))  # connections, imports, caches
            # A brand that has clients already, as a live one does (see analyze).
            run_batches(server.port, keys[:1], warmup + 1, 1)
            analyze(env)
            warmup += BATCH
            first = warmup + 1
            numbers = list(range(first, first + singles))
            elapsed, latencies = run_single(server.port, keys, numbers)
            base_elapsed, base_latencies = baseline_single(env, numbers, args.clients)
            size = f"{singles} leads, {args.clients} clients"
            record("lead_api.single_throughput", value=singles / elapsed, unit="leads/s",
                   limit=singles / base_elapsed, goal=f">= {GOAL_SINGLE:.0f} leads/s", size=size)
            record("lead_api.single_p95", value=percentile(latencies, 95), unit="ms",
                   limit=percentile(base_latencies, 95), goal=f"<= {GOAL_P95_MS:.0f} ms", size=size)
            check(warmup + singles)

            first = first + singles
            run_batches(server.port, keys[:1], first, 1)  # warm-up batch
            first += BATCH
            expected = warmup + singles + BATCH
            for name, clients in (("lead_api.batch_throughput", 1),
                                  ("lead_api.batch_throughput_parallel", args.batch_clients)):
                elapsed = run_batches(server.port, keys[:clients], first, batches)
                base_elapsed = baseline_batches(env, first, batches)
                total = batches * BATCH
                record(name, value=total / elapsed, unit="leads/s", limit=total / base_elapsed,
                       goal=f">= {GOAL_BATCH:.0f} leads/s",
                       size=f"{batches} batches of {BATCH}, {clients} client{'s' if clients > 1 else ''}")
                first += total
                expected += total
                check(expected)
    finally:
        finish(env)


if __name__ == "__main__":
    main()
