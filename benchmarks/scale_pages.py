"""The staff's busiest pages at the size of a large brokerage: p95 against the plain SQL of each page.

Setup (not measured, but timed and reported): a fresh benchmark database filled by
`manage.py scale_seed` (demo/scale.py: brands, desks, agents, clients across the funnel, trading
accounts, deals, positions, the ledger, timeline and access events, written with COPY). Full size
is 1,000,000 clients, 100,000,000 deals, 10,000,000 events and 10,000,000 ledger transactions (the
reporting hub's size: benchmarks/reports_dashboard.py --reuse measures its dashboard over a kept
database). The seeding alone is meant to take under an hour: run it with `make bench SCALE=1`, or
give smaller sizes; --quick: 5,000 clients, 50,000 deals, 20,000 events, 20,000 ledger transactions. The seeding's own figures are reported too: rows/s and the minutes a brokerage of
1,000,000 clients and 100,000,000 deals would take at that rate (goal: under 60).

Measured, in process through Django's test Client with the whole middleware stack and the garbage
collector settled as in a web worker (plumbing.heap), the wall time of each request (administrator
unless said otherwise):
- list: /clients/ (newest first, the first page) for the administrator and an agent; page 3 of the
  list sorted by name for the administrator;
- profile: /clients/<code>/ and timeline: /clients/<code>/?tab=timeline, rotating over the clients
  with the longest timelines;
- search: the top bar's /search/?q= by a last name, an email's start and a phone's last digits;
- retention: /trading/retention/ for a desk manager (and the administrator, every desk);
- exposure: /trading/exposure/ for a brand's dealer (and the administrator, every brand).

Each figure is the p95 in ms; its `limit` is the p95 of the plain SQL of the same page in the same
run: every SELECT the page ran (captured from one request), replayed in order through a plain
psycopg connection. Goals: list, profile and timeline <= 50 ms; search <= 100 ms; retention and
exposure <= 500 ms.

Run: python benchmarks/scale_pages.py [--quick] [--keep] [--reuse] [--clients N] [--deals N] [--events N]
[--ledger N] [--requests N]. --reuse of a migrated database without clients seeds it first. `python -m benchmarks`
(make bench) runs it only with CRM_BENCH_SCALE=1 (make bench SCALE=1).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    BenchEnv,
    argument_parser,
    finish,
    log,
    logged_in_client,
    percentile,
    prepare,
    raw_connection,
    record,
    sized,
    timed,
    timed_pages,
)

GOALS = {"list": 50.0, "profile": 50.0, "timeline": 50.0, "search": 100.0, "retention": 500.0, "exposure": 500.0}
SEED_GOAL_MINUTES = 60.0


def _page_selects(http: Any, url: str) -> list[str]:
    """The SELECTs one request of `url` runs (as sent), for the plain-SQL baseline."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = http.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
            and "django_session" not in q["sql"]]


def _time_sql(env: BenchEnv, pages: list[list[str]], count: int) -> list[float]:
    samples = []
    with raw_connection(env) as conn, conn.cursor() as cursor:
        for statements in pages[:5]:
            for sql in statements:
                cursor.execute(sql.encode())
                cursor.fetchall()
        for i in range(count):
            statements = pages[i % len(pages)]
            start = time.perf_counter()
            for sql in statements:
                cursor.execute(sql.encode())
                cursor.fetchall()
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def measure(env: BenchEnv, name: str, user: Any, urls: list[str], *, requests: int, size: str) -> None:
    http = logged_in_client(user)
    statements = [_page_selects(http, url) for url in urls[:10]]
    log(f"{name}: {urls[0]} ({len(statements[0])} SELECTs)")
    page_ms = timed_pages(http, urls, requests)
    sql_ms = _time_sql(env, statements, requests)
    goal = GOALS[name.split(".")[0]]
    record(f"scale_pages.{name}.p95", value=percentile(page_ms, 95), unit="ms", limit=percentile(sql_ms, 95),
           goal=f"p95 <= {goal:.0f} ms", size=size)


def _users() -> dict[str, Any]:
    from crm.models import User

    def first(prefix: str) -> Any:
        user = User.objects.filter(email__startswith=prefix).order_by("id").first()
        if user is None:
            raise SystemExit(f"no user {prefix}*: the database holds no scale_seed data set")
        return user

    return {"admin": first("admin@scale"), "agent": first("agent.scale-atlas.1.0@"),
            "manager": first("manager.scale-atlas.1@"), "dealer": first("dealer.scale-atlas@")}


def seed(*, clients: int, deals: int, events: int, ledger: int) -> None:
    from demo.management.commands.scale_seed import extrapolate, report
    from demo.scale import scale_seed

    result = scale_seed(clients=clients, deals=deals, events=events, ledger=ledger, progress=log)
    for line in report(result, clients=clients, deals=deals):
        log(line)
    size = f"{clients} clients, {deals} deals, {events} events, {ledger} ledger transactions"
    record("scale_pages.seed.rows_per_s", value=result.total_rows / result.total_seconds, unit="rows/s", limit=None,
           goal="info", size=size, reason="no baseline: a generator")
    record("scale_pages.seed.deals_per_s", value=result.rows.get("trading_deal", 0) / max(
        result.seconds.get("trading_deal", 0.0), 1e-9), unit="rows/s", limit=None, goal="info", size=size,
        reason="no baseline: a generator")
    record("scale_pages.seed.minutes_at_1m_clients_100m_deals",
           value=extrapolate(result, clients=clients, deals=deals) / 60, unit="min", limit=None,
           goal=f"<= {SEED_GOAL_MINUTES:.0f} min", size=size, reason="extrapolated from this run's rates")


def main() -> None:
    parser = argument_parser(__doc__, reusable=True)
    parser.add_argument("--clients", type=int, default=None, help="clients (default 1,000,000; quick 5,000)")
    parser.add_argument("--deals", type=int, default=None, help="deals (default 100,000,000; quick 50,000)")
    parser.add_argument("--events", type=int, default=None, help="events (default 10,000,000; quick 20,000)")
    parser.add_argument("--ledger", type=int, default=None,
                        help="ledger transactions (default 10,000,000; quick 20,000; at least two per live account)")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per page (default 100; quick 30)")
    args = parser.parse_args()
    clients = args.clients or sized(args, 1_000_000, 5_000, 50)
    deals = args.deals if args.deals is not None else sized(args, 100_000_000, 50_000, 200)
    events = args.events if args.events is not None else sized(args, 10_000_000, 20_000, 200)
    ledger = args.ledger if args.ledger is not None else sized(args, 10_000_000, 20_000, 200)
    requests = args.requests or sized(args, 100, 30, 3)

    env = prepare(args)
    try:
        from crm.models import Client

        # --reuse of a migrated database that has no clients yet (a copy of a migrated template)
        # seeds it: the minutes of migrating are then spent once.
        if not env.reused or not Client.objects.exists():
            with timed("scale_seed"):
                seed(clients=clients, deals=deals, events=events, ledger=ledger)
        measure_all(env, requests=requests)
    finally:
        finish(env)


def measure_all(env: BenchEnv, *, requests: int) -> None:
    from django.db.models import Count
    from django.urls import reverse

    from crm.models import Client, Event
    from trading.models import Deal

    users = _users()
    counts = (Client.objects.count(), Deal.objects.count(), Event.objects.count())
    size = f"{counts[0]} clients, {counts[1]} deals, {counts[2]} events, {requests} requests"
    clients_url = reverse("client_list")
    measure(env, "list.admin", users["admin"], [clients_url], requests=requests, size=size)
    measure(env, "list.agent", users["agent"], [clients_url], requests=requests, size=size)
    measure(env, "list.admin_by_name_page3", users["admin"], [f"{clients_url}?sort=name&page=3"],
            requests=requests, size=size)

    # The longest timelines: found through the events' client index, not by counting every client's.
    busiest = list(Event.objects.filter(client__isnull=False).values("client_id").annotate(n=Count("id"))
                   .order_by("-n")[:20]) if counts[2] <= 2_000_000 else []
    ids = [row["client_id"] for row in busiest] or list(
        Client.objects.filter(id__in=Event.objects.order_by("-id").values("client_id")[:200]).values_list(
            "id", flat=True)[:20])
    codes = list(Client.objects.filter(id__in=ids).values_list("code", flat=True))
    profiles = [reverse("client_detail", args=[code]) for code in codes]
    measure(env, "profile.admin", users["admin"], profiles, requests=requests, size=size)
    measure(env, "timeline.admin", users["admin"], [f"{u}?tab=timeline" for u in profiles], requests=requests,
            size=size)

    sample = Client.objects.order_by("id").exclude(email_hash="").values("last_name", "email", "phone")[:10]
    search = reverse("client_search")
    measure(env, "search.name", users["admin"], [f"{search}?q={c['last_name']}" for c in sample],
            requests=requests, size=size)
    # Emails and phones are encrypted: found whole, by their keyed hashes (any case, any format).
    measure(env, "search.email", users["admin"], [f"{search}?q={quote(c['email'].upper())}" for c in sample],
            requests=requests, size=size)
    measure(env, "search.phone", users["admin"],
            [f"{search}?q={quote(c['phone'][:3] + ' ' + c['phone'][3:])}" for c in sample], requests=requests,
            size=size)
    measure(env, "search.name_agent", users["agent"], [f"{search}?q={c['last_name']}" for c in sample],
            requests=requests, size=size)

    few = max(5, requests // 5)  # the heavy pages: fewer requests
    measure(env, "retention.manager", users["manager"], [reverse("trading_retention")], requests=few, size=size)
    measure(env, "retention.admin", users["admin"], [reverse("trading_retention")], requests=few, size=size)
    measure(env, "exposure.dealer", users["dealer"], [reverse("trading_exposure")], requests=few, size=size)
    measure(env, "exposure.admin", users["admin"], [reverse("trading_exposure")], requests=few, size=size)


if __name__ == "__main__":
    main()
