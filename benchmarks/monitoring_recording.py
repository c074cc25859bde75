"""Agent activity recording: what it adds to the client page, and how fast its batches land.

Setup (not measured): a brand, a desk, its manager and an agent, and the agent's book of clients
(default 300, --quick 100), all through crm.services.

Measured in the same run, through Django's test Client with the whole middleware stack:

- the client page (/clients/<code>/, an agent on clients of their book) with the activity
  recording on (the core's access hook buffering a line in Redis) and off (the hook removed),
  alternating blocks of 20 requests so both see the same machine. Figures: p95 with recording
  (`limit`: p95 without; goal: at most 5 ms more) and the difference of the p95s (goal <= 5 ms).
- the hook alone: the time `access_recorded` takes for one access (its RPUSH), p95 (goal <= 5 ms);
  on a shared machine the page p95s move by more than that between blocks, so this is the figure
  that isolates what recording adds.
- the flush: buffered lines moved into the partitioned activity table by
  monitoring.recording.activity_flush (one INSERT per batch of 5,000), rows per second; `limit`:
  the same rows inserted by plain SQL INSERT ... SELECT from generate_series (ratio = value / limit:
  the share of the raw insert's speed).

Run: python benchmarks/monitoring_recording.py [--quick] [--keep] [--requests N]
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    argument_parser,
    finish,
    log,
    logged_in_client,
    percentile,
    prepare,
    raw_connection,
    record,
    sized,
)

BLOCK = 20
GOAL_ADDED_MS = 5.0


def _build(clients: int) -> Any:
    from crm.models import Brand
    from crm.roles import roles_sync
    from crm.services import client_create, user_create
    from crm.staff_services import desk_create

    roles_sync()
    brand = Brand.objects.create(code="atlas", name="Atlas")
    admin = user_create(actor=None, email="admin@bench.example", full_name="Bench Admin", role_code="admin",
                        all_brands=True)
    desk = desk_create(actor=admin, brand=brand, name="Bench desk")
    agent = user_create(actor=admin, email="agent@bench.example", full_name="Bench Agent", role_code="sales_agent",
                        desk=desk, brands=[brand])
    for n in range(clients):
        client_create(actor=agent, brand=brand, first_name=f"Client{n}", last_name="Bench",
                      email=f"client{n}@example.com", phone=f"+4477{n:08d}", country="GB")
    return agent


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--requests", type=int, default=None, help="timed requests per variant "
                                                                    "(default 600; quick 200)")
    args = parser.parse_args()
    clients = sized(args, 300, 100, 10)
    requests = args.requests or sized(args, 600, 200, 10)
    flush_rows = sized(args, 100_000, 20_000, 200)
    env = prepare(args)
    try:
        from django.urls import reverse

        from crm.services import access as access_module
        from monitoring.recording import BUFFER_KEY, access_recorded, activity_flush, get_redis

        agent = _build(clients)
        http = logged_in_client(agent)
        from crm.models import Client

        urls = [reverse("client_detail", args=[code]) for code in Client.objects.values_list("code", flat=True)]
        size = f"{clients} clients, {requests} requests per variant"
        redis = get_redis()
        redis.delete(BUFFER_KEY)

        def recording(on: bool) -> None:
            if on:
                access_module.access_listener_register("monitoring", access_recorded)
            else:
                access_module._ACCESS_LISTENERS.pop("monitoring", None)

        for url in urls[:10]:  # warm-up
            http.get(url)
        samples: dict[bool, list[float]] = {True: [], False: []}
        i = 0
        while len(samples[True]) < requests:
            for on in (True, False):
                recording(on)
                for _ in range(BLOCK):
                    url = urls[i % len(urls)]
                    i += 1
                    start = time.perf_counter()
                    response = http.get(url)
                    samples[on].append((time.perf_counter() - start) * 1000)
                    if response.status_code != 200:
                        raise RuntimeError(f"GET {url} answered {response.status_code}")
        recording(True)
        with_p95, without_p95 = percentile(samples[True], 95), percentile(samples[False], 95)
        log(f"client page p95: {with_p95:.2f} ms with recording, {without_p95:.2f} ms without")
        record("monitoring_recording.client_page.p95", value=with_p95, unit="ms", limit=without_p95,
               goal=f"<= limit + {GOAL_ADDED_MS:.0f} ms", size=size)
        record("monitoring_recording.client_page.p95_added", value=with_p95 - without_p95, unit="ms", limit=None,
               goal=f"<= {GOAL_ADDED_MS:.0f} ms", size=size)

        # What the hook itself costs a request: one access handed to it (one RPUSH), timed alone.
        from django.utils import timezone

        from crm.models import Client
        from crm.services import Access

        sample_client = Client.objects.order_by("pk").first()
        hook_ms = []
        for _ in range(requests * 5):
            access = Access(kind="view", user=agent, at=timezone.now(), client=sample_client, ip="192.0.2.1",
                            user_agent="bench", ref="access:0")
            start = time.perf_counter()
            access_recorded(access)
            hook_ms.append((time.perf_counter() - start) * 1000)
        record("monitoring_recording.hook.p95", value=percentile(hook_ms, 95), unit="ms", limit=None,
               goal=f"<= {GOAL_ADDED_MS:.0f} ms", size=f"{len(hook_ms)} accesses")

        # The flush: lines as the request path buffers them, into the table in batches.
        from monitoring.recording import ActivityRow

        redis.delete(BUFFER_KEY)
        base = datetime.now(tz=UTC) - timedelta(hours=2)
        pipe = redis.pipeline(transaction=False)
        for n in range(flush_rows):
            pipe.rpush(BUFFER_KEY, ActivityRow(time=base + timedelta(milliseconds=50 * n), agent_id=agent.pk,
                                               kind="client_open", client_id=1 + n % 5000, client_owner_id=agent.pk,
                                               ip="192.0.2.1", device="bench", ref=f"b{n}").to_line())
            if n % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        start = time.perf_counter()
        written = activity_flush(max_batches=10_000)
        flush_s = time.perf_counter() - start
        if written != flush_rows:
            raise RuntimeError(f"flushed {written} of {flush_rows} rows")
        with raw_connection(env) as conn, conn.cursor() as cur:
            start = time.perf_counter()
            cur.execute("""INSERT INTO monitoring_activity (time, agent_id, kind, client_id, client_owner_id,
                                                            client_high_value, ip, device, ref)
                           SELECT %s::timestamptz + g * interval '50 milliseconds', %s, 'client_open',
                                  1 + g %% 5000, %s, false, '192.0.2.1'::inet, 'bench', 'raw' || g
                           FROM generate_series(0, %s - 1) g""", [base, agent.pk, agent.pk, flush_rows])
            conn.commit()
            raw_s = time.perf_counter() - start
        record("monitoring_recording.flush", value=flush_rows / flush_s, unit="rows/s", limit=flush_rows / raw_s,
               goal="info", size=f"{flush_rows} rows, batches of 5000")
    finally:
        finish(env)


if __name__ == "__main__":
    main()
