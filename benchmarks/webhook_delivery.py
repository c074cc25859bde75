"""Outbound webhooks, emit to delivered, through a real Celery worker to a local receiver process.

One brand with a subscriber for `task.completed`, N clients (generated in SQL), and the receiver
`python -m integrations.webhook_receiver` on the loopback address, which verifies every signature. Events
are emitted with crm.events.emit_many (one event per client and round, as a busy brand's stream
looks: many clients, a few events each); nothing but the post-commit kicks moves them: the worker's
event dispatcher queues one delivery each (integrations.handlers -> integrations.services), the sender claims the
head of each (subscriber, client) queue and POSTs them signed over kept-alive connections.

Figures (one JSON line each):
- webhook_delivery.throughput: events per second from the first emit of a burst of N events until
  the receiver has answered 2xx to all of them. limit: the same signed POSTs (the delivered bodies)
  sent to the same receiver straight from a plain loop over one kept-alive connection, no database;
  ratio = value / limit. Goal: >= 1,000 events/s.
- webhook_delivery.delay_p95 / delay_p50: events emitted at a steady 1,000 per second for
  --seconds (default 10; quick 3; tiny 0.02, as many events as its burst): ms from the Event row's
  creation to its delivery being recorded as delivered. limit: the plain loop's p95 time per POST. Goal p95: <= 2,000 ms.

Run: python benchmarks/webhook_delivery.py [--quick] [--keep] [--events N] [--clients N] [--seconds S]
     [--concurrency N]
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    CeleryWorker,
    argument_parser,
    finish,
    insert_series,
    log,
    percentile,
    prepare,
    raw_connection,
    record,
    sized,
)

GOAL_EVENTS_PER_S = 1000.0
GOAL_P95_MS = 2000.0
RATE = 1000  # events per second in the paced phase
EVENT = "task.completed"


def _world(clients: int, port: int) -> tuple[Any, str]:
    from crm.models import Brand, Client
    from crm.roles import roles_sync
    from crm.services import user_create
    from integrations import services as outbound
    from integrations.services import apikey_create

    roles_sync()
    brand = Brand.objects.create(code="atlas", name="Atlas")
    admin = user_create(actor=None, email="admin@bench.example", full_name="Bench Admin", role_code="admin",
                        password="bench-Password-1", all_brands=True)
    key, _raw = apikey_create(actor=admin, brand=brand, name="bench", scopes=["events:read"])
    saved = outbound.subscriber_create(actor=admin, api_key=key, name="bench receiver",
                                       url=f"http://127.0.0.1:{port}/hooks", event_types=[EVENT])
    insert_series(Client, clients, {
        "code": "gen_random_uuid()", "brand_id": str(brand.pk), "stage": "'lead'",
        "first_name": "'Bench'", "last_name": "'Client ' || g", "email": "''", "phone": "''", "country": "'GB'", "language": "'en'", "timezone": "'UTC'",
        "created_at": "now()", "updated_at": "now()", "stage_changed_at": "now()",
    })
    return list(Client.objects.order_by("id")), str(saved.secret)


def _emit(clients: list[Any], count: int, *, start: int) -> None:
    from django.db import transaction

    from crm.events import emit_many

    batch = 500
    done = 0
    while done < count:
        size = min(batch, count - done)
        with transaction.atomic():
            emit_many({"name": EVENT, "client": clients[(start + i) % len(clients)],
                       "data": {"task": f"00000000-0000-4000-8000-{start + i:012d}", "title": "bench"}}
                      for i in range(done, done + size))
        done += size


def _delivered_count(cursor: Any) -> int:
    cursor.execute("SELECT count(*) FROM integrations_webhookdelivery WHERE status = 'delivered'")
    return int(cursor.fetchone()[0])


def _wait_for(cursor: Any, expected: int, *, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while True:
        got = _delivered_count(cursor)
        now = time.perf_counter()
        if got >= expected:
            return now
        if now > deadline:
            cursor.execute("SELECT status, count(*), max(last_error) FROM integrations_webhookdelivery GROUP BY status")
            raise RuntimeError(f"only {got} of {expected} deliveries within {timeout:.0f} s: {cursor.fetchall()}")
        time.sleep(0.01)


def _plain_loop(port: int, secret: str, bodies: list[str]) -> tuple[float, list[float]]:
    """The same signed POSTs from a plain loop over one kept-alive connection: (per s, ms each)."""
    from plumbing.signatures import DELIVERY_HEADER, HEADER, header_value

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    times = []
    start = time.perf_counter()
    for body in bodies:
        raw = body.encode()
        t0 = time.perf_counter()
        conn.request("POST", "/hooks", body=raw, headers={
            "Content-Type": "application/json", HEADER: header_value([secret], raw),
            DELIVERY_HEADER: json.loads(body)["delivery_id"] + "-plain"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"the receiver answered {response.status} to the plain loop")
        times.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - start
    conn.close()
    return len(bodies) / elapsed, times


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--events", type=int, default=None, help="burst size (default 20,000; quick 3,000)")
    parser.add_argument("--clients", type=int, default=None, help="clients (default 5,000; quick 1,000)")
    parser.add_argument("--seconds", type=float, default=None, help="paced phase length (default 10; quick 3)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (celery -c)")
    args = parser.parse_args()
    count = args.events or sized(args, 20_000, 3_000, 20)
    clients_n = args.clients or sized(args, 5_000, 1_000, 10)
    seconds = args.seconds or (0.02 if args.tiny else 3.0 if args.quick else 10.0)
    if args.tiny:
        args.concurrency = 1

    from tests.simulators import simulator_start, simulator_stop

    receiver, info = simulator_start("integrations.webhook_receiver", what="webhook receiver")
    port = int(info["port"])
    env = prepare(args)
    try:
        from django.conf import settings

        settings.CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = True
        clients, secret = _world(clients_n, port)
        req = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        req.request("POST", "/_control/secrets", body=json.dumps([secret]))
        req.getresponse().read()
        req.close()

        worker = CeleryWorker(env, concurrency=args.concurrency,
                              extra_env={"CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK": "1"})
        with worker, raw_connection(env) as conn, conn.cursor() as cursor:
            warmup = min(500, count)
            _emit(clients, warmup, start=0)
            _wait_for(cursor, warmup, timeout=120)

            # Burst: N events at once.
            base = _delivered_count(cursor)
            started = time.perf_counter()
            _emit(clients, count, start=warmup)
            log(f"emitted {count} events in {time.perf_counter() - started:.2f} s; waiting for delivery")
            finished = _wait_for(cursor, base + count, timeout=120 + count / 50)
            burst_rate = count / (finished - started)

            # Paced: RATE events per second, in tenths of a second.
            base = _delivered_count(cursor)
            first_id = int(cursor.execute("SELECT coalesce(max(id), 0) FROM crm_event").fetchone()[0])
            paced = int(RATE * seconds)
            tick = 0.1
            t0 = time.perf_counter()
            sent = 0
            while sent < paced:
                due = min(paced, int((time.perf_counter() - t0) / tick + 1) * int(RATE * tick))
                if due > sent:
                    _emit(clients, due - sent, start=warmup + count + sent)
                    sent = due
                time.sleep(max(0.0, t0 + (sent / RATE) - time.perf_counter()))
            _wait_for(cursor, base + paced, timeout=120 + paced / 50)
            cursor.execute(
                "SELECT extract(epoch FROM d.delivered_at - e.created_at) * 1000 FROM integrations_webhookdelivery d "
                "JOIN crm_event e ON e.id = d.event_id WHERE e.id > %s", (first_id,))
            delays = [float(r[0]) for r in cursor.fetchall()]
            cursor.execute("SELECT body FROM integrations_webhookdelivery ORDER BY id LIMIT %s", (count,))
            bodies = [r[0] for r in cursor.fetchall()]
            cursor.execute("SELECT count(*) FROM integrations_webhookattempt WHERE status_code <> 200 OR status_code IS NULL")
            failed_attempts = int(cursor.fetchone()[0])
        if failed_attempts:
            log(f"warning: {failed_attempts} attempts were not answered 200")
        plain_rate, plain_times = _plain_loop(port, secret, bodies)

        size = f"{count} events over {clients_n} clients, 1 subscriber, worker -c {args.concurrency}"
        record("webhook_delivery.throughput", value=burst_rate, unit="events/s", limit=plain_rate,
               goal=f">= {GOAL_EVENTS_PER_S:.0f} events/s", size=size)
        paced_size = f"{paced} events at {RATE}/s over {clients_n} clients, worker -c {args.concurrency}"
        record("webhook_delivery.delay_p95", value=percentile(delays, 95), unit="ms",
               limit=percentile(plain_times, 95), goal=f"<= {GOAL_P95_MS:.0f} ms", size=paced_size)
        record("webhook_delivery.delay_p50", value=percentile(delays, 50), unit="ms",
               limit=percentile(plain_times, 50), goal="info", size=paced_size)
    finally:
        finish(env)
        simulator_stop(receiver)


if __name__ == "__main__":
    main()
