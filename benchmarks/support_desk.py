"""The support desk's queue page: server time with 1,000,000 tickets (issue 62).

Setup (not measured): a fresh benchmark database with two brands, two sales desks per brand (a desk
manager and ten sales agents each), a support desk per brand (managed by the brand's first desk
manager) with SLA policies for every priority, an administrator (staff and desks through the
services), then clients (one per five tickets, in the agents' books) and the tickets, written with
INSERT ... SELECT over generate_series: over a year, most resolved or closed and a fifth still being
worked (new, open, waiting for the client, on hold), priorities low 20 %, normal 55 %, high 20 %,
urgent 5 %, dues from the priority, the first response given on most, some SLAs breached, a tenth
without a client (an unknown sender's mail), assigned to the client's owner, the brand's support
agent or nobody. ANALYZE after. --quick: 100,000 tickets; --tiny: a few hundred.

Measured, in process through Django's test Client with the whole middleware stack: the wall time of
GET /support/ (the queue: tickets in scope, soonest SLA due first, 50 a page, no count) as a sales
agent (their book's tickets and those given to them) and as a desk manager (their desk's clients'
tickets and, as the support desk's manager, the brand's tickets without a client), for three views:

- default: the tickets being worked;
- urgent: `?priority=urgent` (being worked, urgent only);
- breached: `?breached=on&assignee=none` (missed SLA, nobody assigned).

Figures per view and role: p95 (goal <= 100 ms) and p50 in ms. `limit` is the p95 of the page's
main query (the selector's queryset for the page, 51 rows) run as plain SQL through psycopg in the
same run, so `ratio` = value / limit says how much the framework, scoping and rendering add on top
of the database (as in client_list.py and kyc_queue.py).

Run: python benchmarks/support_desk.py [--quick | --tiny] [--keep] [--reuse] [--tickets N] [--requests N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    BenchEnv,
    argument_parser,
    finish,
    insert_series,
    log,
    logged_in_client,
    percentile,
    prepare,
    raw_connection,
    record,
    sized,
    timed,
    timed_pages,
    vacuum_analyze,
)

GOAL_MS = 100.0
AGENTS_PER_DESK = 10
TICKETS_PER_CLIENT = 5
PASSWORD = "bench-lantern-quay-4417"  # noqa: S105 - a throw-away database
# (first response, resolution) in minutes per priority: the dues of the generated tickets.
POLICIES = {"urgent": (15, 240), "high": (60, 480), "normal": (240, 1440), "low": (480, 2880)}
VIEWS = {"default": "", "urgent": "priority=urgent", "breached": "breached=on&assignee=none"}
VIEW_FILTERS: dict[str, dict[str, Any]] = {"default": {}, "urgent": {"priority": "urgent"},
                                           "breached": {"breached": True, "assignee": "none"}}


def _array(values: list[Any], cast: str) -> str:
    """A SQL array literal of trusted, generated values."""
    items = ", ".join(str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'" for v in values)
    return f"ARRAY[{items}]::{cast}[]"


def _hash(expr: str) -> str:
    """A deterministic, evenly spread, non-negative number from `expr` (64-bit maths: no overflow)."""
    return f"(hashint8(({expr})::bigint) & 2147483647)"


def _pick(values: list[Any], cast: str, salt: int, expr: str = "g") -> str:
    """One element of `values` chosen by a hash of the row number (weights by repetition)."""
    return f"({_array(values, cast)})[1 + {_hash(f'({expr}) * 7919 + {salt}')} % {len(values)}]"


# Weighted by repetition: a fifth being worked, the rest done.
STATUSES = (["new"] * 4 + ["open"] * 8 + ["pending_client"] * 5 + ["on_hold"] * 3 + ["resolved"] * 30
            + ["closed"] * 49 + ["merged"] * 1)
PRIORITIES = ["low"] * 4 + ["normal"] * 11 + ["high"] * 4 + ["urgent"]
CATEGORIES = ["withdrawal"] * 3 + ["deposit"] * 3 + ["account"] * 2 + ["documents"] * 2 + \
             ["platform", "trading", "technical", "other", "partnership", "complaint"]
CHANNELS = ["portal"] * 5 + ["email"] * 4 + ["staff"]
SUBJECTS = ["My withdrawal has not arrived", "Card deposit declined", "Cannot log in to MT5",
            "Which proof of address do you accept?", "Swap charged on a swap-free account",
            "Change my email address", "Spread widened at the news", "Bonus not credited"]


def build_world(*, tickets: int) -> dict[str, Any]:
    """Staff and desks through the services, then clients and tickets in bulk."""
    from crm.audit import audit_record
    from crm.models import Brand, Client, User
    from crm.roles import roles_sync
    from crm.services import user_create
    from crm.staff_services import desk_create, desk_update
    from support import services as support_services
    from support.models import Ticket

    roles_sync()
    brands = [Brand.objects.create(code=code, name=name) for code, name in (("atlas", "Atlas"), ("nova", "Nova"))]
    audit_record(action="bench.setup", object_type="crm.brand", after={"brands": [b.code for b in brands]})
    admin = user_create(actor=None, email="admin@bench.example", full_name="Bench Admin", role_code="admin",
                        password=PASSWORD, all_brands=True)
    agents, managers, support_desks, support_agents = [], [], {}, {}
    for brand in brands:
        for n in (1, 2):
            desk = desk_create(actor=admin, brand=brand, name=f"{brand.name} desk {n}")
            manager = user_create(actor=admin, email=f"manager.{brand.code}{n}@bench.example",
                                  full_name=f"Manager {brand.code} {n}", role_code="desk_manager",
                                  password=PASSWORD, desk=desk, brands=[brand])
            desk_update(actor=admin, desk=desk, manager=manager)
            managers.append(manager)
            for a in range(AGENTS_PER_DESK):
                agents.append(user_create(
                    actor=admin, email=f"agent.{brand.code}{n}.{a}@bench.example",
                    full_name=f"Agent {brand.code}{n} {a}", role_code="sales_agent", password=PASSWORD,
                    desk=desk, brands=[brand]))
        support_agents[brand.pk] = user_create(
            actor=admin, email=f"support.{brand.code}@bench.example", full_name=f"Support {brand.code}",
            role_code="support_agent", password=PASSWORD, brands=[brand])
        brand_manager = next(m for m in managers if m.brands.filter(pk=brand.pk).exists())
        support_desk = support_services.desk_save(
            actor=admin, brand=brand, name=f"{brand.name} Support", code="support", time_zone="Asia/Nicosia",
            business_hours={day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
            manager=brand_manager, support_address=f"support@{brand.code}.bench.example")
        for priority, (first, resolution) in POLICIES.items():
            support_services.sla_policy_save(actor=admin, desk=support_desk, priority=priority,
                                             first_response_minutes=first, resolution_minutes=resolution)
        support_desks[brand.pk] = support_desk

    clients = max(tickets // TICKETS_PER_CLIENT, 10)
    owner_pick = f"{_hash('g * 31 + 7')} % {len(agents)} + 1"
    ago = f"now() - make_interval(secs => ({_hash('g * 17 + 3')} % 31536000)::int)"
    with timed(f"{clients} clients"):
        insert_series(Client, clients, {
            "code": "gen_random_uuid()",
            "brand_id": f"({_array([a.brands.get().pk for a in agents], 'bigint')})[{owner_pick}]",
            "desk_id": f"({_array([a.desk_id for a in agents], 'bigint')})[{owner_pick}]",
            "owner_id": f"({_array([a.pk for a in agents], 'bigint')})[{owner_pick}]",
            "stage": "'active'", "first_name": "'Client'", "last_name": "'Number ' || g", "email": "''",
            "phone": "''", "country": "'GB'", "language": "'en'", "timezone": "'UTC'",
            "created_at": ago, "updated_at": ago, "stage_changed_at": ago,
        })
    first_client = Client.objects.order_by("id").values_list("id", flat=True).first()
    brand_ids = [b.pk for b in brands]
    desk_of_brand = _array([support_desks[b].pk for b in brand_ids], "bigint")
    support_of_brand = _array([support_agents[b].pk for b in brand_ids], "bigint")
    brand_index = f"array_position({_array(brand_ids, 'bigint')}, c.brand_id)"
    # Ticket g: its client (a tenth have none: brand by g), opened within the last year; being
    # worked ones are recent (the last 30 days), done ones older.
    status = _pick(STATUSES, "varchar", 41)
    active = f"({status}) IN ('new', 'open', 'pending_client', 'on_hold')"
    opened = (f"now() - make_interval(secs => (CASE WHEN {active} THEN {_hash('g * 13 + 5')} % 2592000 "
              f"ELSE {_hash('g * 13 + 5')} % 31536000 END)::int)")
    priority = _pick(PRIORITIES, "varchar", 43)
    first_minutes = f"CASE {priority} " + " ".join(
        f"WHEN '{p}' THEN {f}" for p, (f, _r) in POLICIES.items()) + " END"
    resolution_minutes = f"CASE {priority} " + " ".join(
        f"WHEN '{p}' THEN {r}" for p, (_f, r) in POLICIES.items()) + " END"
    # Business minutes stretch over nights and weekends: about three times the calendar's.
    first_due = f"t.opened + make_interval(mins => 3 * ({first_minutes}))"
    resolution_due = f"t.opened + make_interval(mins => 3 * ({resolution_minutes}))"
    # Answered (first response given) unless new; a twentieth of the answers came late.
    answered = "t.status <> 'new'"
    answer_at = (f"CASE WHEN {answered} THEN t.opened + make_interval(mins => "
                 f"CASE WHEN g % 20 = 0 THEN 4 ELSE 1 END * ({first_minutes}) * ({_hash('g * 19')} % 100) / 60) END")
    no_client = "g % 10 = 0"
    client = f"{first_client} + {_hash('g * 23 + 1')} % {clients}"
    assignee = (f"CASE WHEN g % 4 = 0 THEN NULL WHEN g % 4 = 1 AND NOT ({no_client}) THEN c.owner_id "
                f"ELSE ({support_of_brand})[t.b] END")
    from django.db import connection

    with timed(f"{tickets} tickets"):
        insert_series(Ticket, tickets, {
            "reference": "'T' || lpad(g::text, 7, '0')",
            "brand_id": f"({_array(brand_ids, 'bigint')})[t.b]",
            "desk_id": f"({desk_of_brand})[t.b]",
            "category": _pick(CATEGORIES, "varchar", 47),
            "subject": _pick(SUBJECTS, "varchar", 53),
            "status": "t.status",
            "priority": "t.priority",
            "channel": f"CASE WHEN {no_client} THEN 'email' ELSE {_pick(CHANNELS, 'varchar', 59)} END",
            "client_id": f"CASE WHEN {no_client} THEN NULL ELSE c.id END",
            "requester_email": "'client' || g || '@mail.example'",
            "requester_name": "'Requester ' || g",
            "assignee_id": assignee,
            "created_at": "t.opened",
            "last_message_at": "t.opened",
            "first_response_due": first_due,
            "resolution_due": resolution_due,
            "first_response_at": answer_at,
            "resolved_at": "CASE WHEN t.status IN ('resolved', 'closed', 'merged') THEN t.opened + interval '2 days' END",
            "closed_at": "CASE WHEN t.status = 'closed' THEN t.opened + interval '9 days' END",
            "first_response_breached_at": (f"CASE WHEN ({answered} AND g % 20 = 0) OR (NOT {answered} AND "
                                           f"{first_due} < now()) THEN {first_due} END"),
            "resolution_breached_at": (f"CASE WHEN t.status IN ('new', 'open', 'on_hold') AND {resolution_due} "
                                       f"< now() THEN {resolution_due} END"),
            "paused_at": "CASE WHEN t.status = 'pending_client' THEN t.opened + interval '1 hour' END",
            "merged_into_id": "NULL",
            "idempotency_key": "NULL",
        }, joins=(f"JOIN crm_client c ON c.id = {client} "
                  f"CROSS JOIN LATERAL (SELECT CASE WHEN {no_client} THEN 1 + g % 2 ELSE {brand_index} END AS b, "
                  f"({opened}) AS opened, {priority} AS priority, "
                  f"CASE WHEN {status} = 'merged' THEN 'closed' ELSE {status} END AS status) t"))
        with connection.cursor() as cursor:
            # Tickets opened through the services from now on take the numbers after these.
            cursor.execute("SELECT setval('support_ticket_reference', %s)", [tickets + 1])
    with timed("vacuum analyze"):
        vacuum_analyze(Client, Ticket, User)
    agent = next(a for a in agents if Client.objects.filter(owner=a).exists())
    return {"agent": agent, "manager": managers[0]}


def load_world() -> dict[str, Any]:
    """The staff build_world made, in a database kept from an earlier run (--reuse)."""
    from crm.models import User
    from support.models import Ticket

    users = {"agent": User.objects.filter(email="agent.atlas1.0@bench.example").first(),
             "manager": User.objects.filter(email="manager.atlas1@bench.example").first()}
    if any(u is None for u in users.values()) or not Ticket.objects.exists():
        raise SystemExit("--reuse: the database holds no data set of this benchmark; run once with --keep first")
    with timed("analyze"):
        vacuum_analyze(Ticket)
    return users


# --- measuring ------------------------------------------------------------------------------------

def _timed_sql(env: BenchEnv, sql: str, params: tuple[Any, ...], count: int) -> list[float]:
    samples = []
    with raw_connection(env) as conn, conn.cursor() as cursor:
        for _ in range(5):
            cursor.execute(sql, params)
            cursor.fetchall()
        for _ in range(count):
            start = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def measure(env: BenchEnv, label: str, user: Any, *, requests: int, size: str, explain: bool) -> None:
    from django.db import connection
    from django.urls import reverse
    from django.utils import timezone
    from psycopg import sql as psql

    from support.desk_selectors import QUEUE_PAGE_SIZE, ticket_queue

    http = logged_in_client(user)
    for view, query in VIEWS.items():
        url = f"{reverse('support_queue')}{'?' + query if query else ''}"
        qs = ticket_queue(user=user, now=timezone.now(), **VIEW_FILTERS[view])
        sql, params = qs[:QUEUE_PAGE_SIZE + 1].query.sql_with_params()
        if explain:
            with connection.cursor() as cursor:
                cursor.execute(psql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(psql.SQL(sql)).as_string(None), params)
                log(f"{label} {view}:\n" + "\n".join(row[0] for row in cursor.fetchall()))
        page_ms = timed_pages(http, [url], requests)
        sql_ms = _timed_sql(env, sql, params, requests)
        name = f"support_desk.queue.{view}.{label}"
        record(f"{name}.p95", value=percentile(page_ms, 95), unit="ms", limit=percentile(sql_ms, 95),
               goal=f"p95 <= {GOAL_MS:.0f} ms", size=size)
        record(f"{name}.p50", value=percentile(page_ms, 50), unit="ms", limit=percentile(sql_ms, 50), goal="info",
               size=size)


def main() -> None:
    parser = argument_parser(__doc__, reusable=True)
    parser.add_argument("--tickets", type=int, default=None, help="tickets (default 1,000,000; quick 100,000)")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per view and user "
                                                                    "(default 200; quick 50)")
    parser.add_argument("--explain", action="store_true", help="log each view's query plan (EXPLAIN ANALYZE)")
    args = parser.parse_args()
    tickets = args.tickets or sized(args, 1_000_000, 100_000, 300)
    requests = args.requests or sized(args, 200, 50, 3)
    env = prepare(args)
    try:
        if env.reused:
            from support.models import Ticket

            users = load_world()
            tickets = Ticket.objects.count()
        else:
            users = build_world(tickets=tickets)
        size = f"{tickets} tickets, {requests} requests"
        for label in ("agent", "manager"):
            measure(env, label, users[label], requests=requests, size=size, explain=args.explain)
    finally:
        finish(env)


if __name__ == "__main__":
    main()
