"""Client list and client profile: server time with 100,000 clients and 1,000,000 events.

Setup (not measured): a fresh benchmark database with two brands, four desks, forty agents, a desk
manager per desk, an administrator (staff made through crm.services), then 100,000 clients,
1,000,000 events (a tenth of them on the first thousand clients, so that some timelines are
long), a note per client and a task for every other client, written with INSERT ... SELECT over
generate_series. --quick: 10,000 clients and 100,000 events.

Measured, in process through Django's test Client with the whole middleware stack (sessions,
authentication, two-factor, audit context): the wall time of each request, for an agent, a desk
manager and an administrator (who passed TOTP in the session, as privileged users must):

- list: /clients/?stage=S&country=C&sort=name&page=3, with the stage and country that give the
  user the most rows (so page 3 is full); the page counts its rows for the pager, as the UI does.
- profile: /clients/<code>/ (overview tab; records an access event, as every full view does),
  rotating over clients with long timelines that the user may see;
- timeline: /clients/<code>/?tab=timeline.

Figures, per page and role: p95 (goal <= 100 ms) and p50 of the request time in ms. `limit`
is the p95 of the page's main query run as plain SQL through psycopg (the client list page
query for list; the client's timeline query for profile and timeline), so `ratio` = value /
limit says how much the framework, scoping and rendering add on top of the database.

Run: python benchmarks/client_list.py [--quick] [--keep] [--reuse] [--clients N] [--events N] [--requests N]
(--reuse measures again against the database a --keep run left, without seeding it again.)
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
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
PASSWORD = "bench-walnut-harbour-7731"  # noqa: S105 - a throw-away database


def _array(values: list[Any], cast: str) -> str:
    """A SQL array literal of trusted, generated values."""
    items = ", ".join(str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'" for v in values)
    return f"ARRAY[{items}]::{cast}[]"


def _hash(expr: str) -> str:
    """A deterministic, evenly spread, non-negative number from `expr` (64-bit maths: no overflow)."""
    return f"(hashint8(({expr})::bigint) & 2147483647)"


def _pick(values: list[Any], cast: str, salt: int, expr: str = "g") -> str:
    """One element of `values` chosen by a hash of the row number."""
    return f"({_array(values, cast)})[1 + {_hash(f'({expr}) * 7919 + {salt}')} % {len(values)}]"


# Weighted by repetition: the funnel and the markets of a retail brokerage.
STAGES = ["lead"] * 7 + ["registered"] * 4 + ["verified"] * 2 + ["funded"] * 2 + ["active"] * 3 + \
         ["dormant"] + ["closed"]
COUNTRIES = ["GB"] * 4 + ["DE"] * 3 + ["AE"] * 2 + ["SA"] * 2 + ["ZA", "AU", "IT", "ES", "FR", "PL", "NG",
                                                                   "KE", "EG", "BR", "MX", "MY"]
FIRST = ["Oliver", "Amelia", "Mohammed", "Fatima", "Lukas", "Giulia", "Thabo", "Sofia", "James", "Layla",
         "Mateo", "Anna", "Chinedu", "Wei Ling", "Pierre", "Zofia", "Omar", "Emily", "Rafael", "Noura"]
LAST = ["Smith", "Khalil", "Müller", "Rossi", "Nkosi", "García", "Jones", "Haddad", "Dubois", "Nowak",
        "Okafor", "Tan", "Silva", "Taylor", "Al-Harbi", "Schmidt", "Brown", "Costa", "Lim", "Walker"]
SOURCES = ["google", "google", "facebook", "affiliate", "organic", "ib", "referral", "webinar"]
EVENT_NAMES = ["client.stage_changed", "note.added", "task.created", "task.completed", "client.updated",
               "client.assigned"]


def build_world(*, clients: int, events: int) -> dict[str, Any]:
    """Staff through the services, then clients, events, notes and tasks in bulk."""
    from crm.audit import audit_record
    from crm.models import Brand, Client, Event, Note, Task, User
    from crm.roles import roles_sync
    from crm.services import user_create
    from crm.staff_services import desk_create, desk_update

    roles_sync()
    brands = [Brand.objects.create(code=code, name=name) for code, name in (("atlas", "Atlas"), ("nova", "Nova"))]
    audit_record(action="bench.setup", object_type="crm.brand", after={"brands": [b.code for b in brands]})
    admin = user_create(actor=None, email="admin@bench.example", full_name="Bench Admin", role_code="admin",
                        password=PASSWORD, all_brands=True)
    desks, agents, managers = [], [], []
    for brand in brands:
        for n in (1, 2):
            desk = desk_create(actor=admin, brand=brand, name=f"{brand.name} desk {n}")
            manager = user_create(actor=admin, email=f"manager.{brand.code}{n}@bench.example",
                                  full_name=f"Manager {brand.code} {n}", role_code="desk_manager",
                                  password=PASSWORD, desk=desk, brands=[brand])
            desk_update(actor=admin, desk=desk, manager=manager)
            desks.append(desk)
            managers.append(manager)
            for a in range(AGENTS_PER_DESK):
                agents.append(user_create(
                    actor=admin, email=f"agent.{brand.code}{n}.{a}@bench.example",
                    full_name=f"Agent {brand.code}{n} {a}", role_code="sales_agent", password=PASSWORD,
                    desk=desk, brands=[brand],
                ))
    # A year of arrivals; events during the five weeks after each client arrived.
    ago = f"now() - make_interval(secs => ({_hash('g * 17 + 3')} % 31536000)::int)"
    later = f"LEAST(now(), c.created_at + make_interval(secs => ({_hash('g * 3')} % 3000000)::int))"
    owner_ids = [a.pk for a in agents]
    desk_ids = [a.desk_id for a in agents]
    brand_ids = [next(d.brand_id for d in desks if d.pk == a.desk_id) for a in agents]
    owner_pick = f"{_hash('g * 31 + 7')} % {len(agents)} + 1"

    from crm.lib.fieldcrypt import hasher, text_encrypter

    plain = [(f"client{n}@example.com", f"+4477{n:08d}") for n in range(1000)]
    emails = [text_encrypter(purpose="email")(e) for e, _ in plain]
    phones = [text_encrypter(purpose="phone")(p) for _, p in plain]
    email_hashes = [hasher(kind="email")(e) for e, _ in plain]
    phone_hashes = [hasher(kind="phone")(p) for _, p in plain]
    births = [text_encrypter(purpose="date_of_birth")((dt.date(1955, 1, 1) + dt.timedelta(days=n * 18)).isoformat())
              for n in range(1000)]
    with timed(f"{clients} clients"):
        insert_series(Client, clients, {
            "code": "gen_random_uuid()",
            "brand_id": f"({_array(brand_ids, 'bigint')})[{owner_pick}]",
            "desk_id": f"({_array(desk_ids, 'bigint')})[{owner_pick}]",
            "owner_id": f"({_array(owner_ids, 'bigint')})[{owner_pick}]",
            "stage": _pick(STAGES, "varchar", 11),
            "first_name": _pick(FIRST, "varchar", 13),
            "last_name": _pick(LAST, "varchar", 17),
            # Encrypted and hashed as the model's fields would (crm.lib.fieldcrypt): a thousand different
            # contact details, each value opened in Python as a real one would be.
            "email": f"({_array(emails, 'text')})[1 + g % {len(emails)}]",
            "phone": f"({_array(phones, 'text')})[1 + g % {len(phones)}]",
            "email_hash": f"({_array(email_hashes, 'varchar')})[1 + g % {len(emails)}]",
            "phone_hash": f"({_array(phone_hashes, 'varchar')})[1 + g % {len(phones)}]",
            "country": _pick(COUNTRIES, "varchar", 19),
            "language": "'en'",
            "timezone": "'UTC'",
            "date_of_birth": f"({_array(births, 'text')})[1 + {_hash('g * 5 + 1')} % {len(births)}]",
            "source": _pick(SOURCES, "varchar", 23),
            "campaign": "'bench-campaign-' || (g % 12)",
            "tags": "CASE WHEN g % 10 = 0 THEN ARRAY['vip']::varchar(50)[] ELSE '{}'::varchar(50)[] END",
            "created_at": ago,
            "updated_at": ago,
            "stage_changed_at": ago,
        })
    first_id = Client.objects.order_by("id").values_list("id", flat=True).first()
    # A tenth of the events land on the first thousand clients: long timelines exist.
    target = (f"{first_id} + CASE WHEN g % 10 = 0 THEN {_hash('g')} % {min(1000, clients)} "
              f"ELSE {_hash('g')} % {clients} END")
    join = f"JOIN crm_client c ON c.id = {target}"
    from django.utils import timezone

    from crm.lib.partitions import month_partitions_span

    # The events' months: the year of arrivals and the five weeks after.
    month_partitions_span("crm_event", timezone.now() - dt.timedelta(days=366), timezone.now())
    with timed(f"{events} events"):
        insert_series(Event, events, {
            "uuid": "gen_random_uuid()",
            "name": _pick(EVENT_NAMES, "varchar", 29),
            "client_id": "c.id",
            "brand_id": "c.brand_id",
            "actor_id": "c.owner_id",
            "data": "jsonb_build_object('from', 'lead', 'to', 'registered', 'excerpt', "
                    "'Called the client about the platform', 'title', 'Call back', 'n', g)",
            "occurred_at": later,
            "created_at": later,
            "dispatched_at": "now()",
            "request_id": "''",
        }, joins=join)
    with timed("notes and tasks"):
        insert_series(Note, clients, {
            "code": "gen_random_uuid()", "client_id": f"{first_id} + g - 1", "author_id": "c.owner_id",
            "body": "'Spoke to the client about deposit options and the platform.'",
            "created_at": "c.created_at", "updated_at": "c.created_at",
        }, joins=f"JOIN crm_client c ON c.id = {first_id} + g - 1")
        insert_series(Task, clients // 2, {
            "code": "gen_random_uuid()", "client_id": "c.id", "title": "'Call back'", "description": "''",
            "assignee_id": "c.owner_id", "created_by_id": "c.owner_id", "created_at": "c.created_at",
            "due_at": "now() + make_interval(hours => ((g % 400) - 200)::int)",
            "done_at": "CASE WHEN g % 3 = 0 THEN now() ELSE NULL END",
        }, joins=f"JOIN crm_client c ON c.id = {first_id} + 2 * g - 1")
    with timed("vacuum analyze"):
        vacuum_analyze(Client, Event, Note, Task, User)
    return {"admin": admin, "manager": managers[0], "agent": agents[0]}


def load_world() -> dict[str, Any]:
    """The staff build_world made, in a database kept from an earlier run (--reuse)."""
    from crm.models import Client, Event, Note, Task, User

    emails = {"admin": "admin@bench.example", "manager": "manager.atlas1@bench.example",
              "agent": "agent.atlas1.0@bench.example"}
    users = {label: User.objects.filter(email=email).first() for label, email in emails.items()}
    missing = sorted(label for label, user in users.items() if user is None)
    if missing or not Client.objects.exists():
        raise SystemExit("--reuse: the database holds no data set of this benchmark; run once with --keep first")
    with timed("analyze"):
        # Statistics for indexes added by migrations since the data set was built.
        vacuum_analyze(Client, Event, Note, Task, User)
    return users


# --- measuring ------------------------------------------------------------------------------------

def _timed_sql(env: BenchEnv, queries: list[tuple[str, tuple[Any, ...]]], count: int) -> list[float]:
    samples = []
    with raw_connection(env) as conn, conn.cursor() as cursor:
        for sql, params in queries[:10]:
            cursor.execute(sql, params)
            cursor.fetchall()
        for i in range(count):
            sql, params = queries[i % len(queries)]
            start = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def _busiest_filter(user: Any) -> tuple[str, str]:
    from django.db.models import Count

    from crm.permissions import client_queryset_for_user

    row = (client_queryset_for_user(user).values("stage", "country").annotate(n=Count("id"))
           .order_by("-n", "stage", "country").first())
    if row is None:
        raise RuntimeError(f"{user.email} sees no clients")
    return row["stage"], row["country"]


def _profile_clients(user: Any, limit: int = 20) -> list[Any]:
    """Clients the user may see, those with the longest timelines first."""
    from django.db.models import Count

    from crm.permissions import client_queryset_for_user

    return list(client_queryset_for_user(user).annotate(n=Count("events")).order_by("-n", "id")[:limit])


def measure_user(env: BenchEnv, label: str, user: Any, *, requests: int, size: str,
                 emit: Callable[..., Any]) -> None:
    from django.urls import reverse

    from crm.models import Event
    from crm.selectors import client_list
    from crm.views.clients import CLIENT_PAGE_SIZE
    from crm.views.ui.tabs import TIMELINE_PAGE_SIZE

    http = logged_in_client(user)
    stage, country = _busiest_filter(user)
    list_url = f"{reverse('client_list')}?stage={stage}&country={country}&sort=name&page=3"
    page_qs = client_list(user=user, stage=stage, country=country, order="last_name")
    offset = 2 * CLIENT_PAGE_SIZE
    list_sql = page_qs[offset:offset + CLIENT_PAGE_SIZE].query.sql_with_params()
    log(f"{label}: list {list_url} ({page_qs.count()} rows)")
    list_ms = timed_pages(http, [list_url], requests, warm=10)
    list_sql_ms = _timed_sql(env, [list_sql], requests)
    emit(f"client_list.list.{label}", list_ms, list_sql_ms, size)

    clients = _profile_clients(user)
    profile_urls = [reverse("client_detail", args=[c.code]) for c in clients]
    # The query crm.selectors.client_timeline runs for the tab's first page (it returns a list,
    # so the same queryset is built here to get its SQL).
    timeline_sql = [
        Event.objects.filter(client_id=c.pk).select_related("actor").order_by("-occurred_at", "-id")
        [:TIMELINE_PAGE_SIZE + 1].query.sql_with_params()
        for c in clients
    ]
    events = [c.n for c in clients]
    log(f"{label}: profile of {len(clients)} clients with {min(events)}-{max(events)} events")
    timeline_sql_ms = _timed_sql(env, timeline_sql, requests)
    profile_ms = timed_pages(http, profile_urls, requests, warm=10)
    emit(f"client_list.profile.{label}", profile_ms, timeline_sql_ms, size)
    timeline_ms = timed_pages(http, [f"{u}?tab=timeline" for u in profile_urls], requests, warm=10)
    emit(f"client_list.timeline.{label}", timeline_ms, timeline_sql_ms, size)


def main() -> None:
    parser = argument_parser(__doc__, reusable=True)
    parser.add_argument("--clients", type=int, default=None, help="clients (default 100,000; quick 10,000)")
    parser.add_argument("--events", type=int, default=None, help="events (default 1,000,000; quick 100,000)")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per page and user "
                                                                    "(default 200; quick 50)")
    args = parser.parse_args()
    clients = args.clients or sized(args, 100_000, 10_000, 50)
    events = args.events or sized(args, 1_000_000, 100_000, 200)
    requests = args.requests or sized(args, 200, 50, 3)

    env = prepare(args)
    try:
        if env.reused:
            from crm.models import Client, Event

            users = load_world()
            clients, events = Client.objects.count(), Event.objects.count()
        else:
            users = build_world(clients=clients, events=events)
        size = f"{clients} clients, {events} events, {requests} requests"

        def emit(name: str, page_ms: list[float], sql_ms: list[float], size: str) -> None:
            limit = percentile(sql_ms, 95)
            record(f"{name}.p95", value=percentile(page_ms, 95), unit="ms", limit=limit,
                   goal=f"p95 <= {GOAL_MS:.0f} ms", size=size)
            record(f"{name}.p50", value=percentile(page_ms, 50), unit="ms", limit=percentile(sql_ms, 50),
                   goal="info", size=size)

        for label in ("agent", "manager", "admin"):
            measure_user(env, label, users[label], requests=requests, size=size, emit=emit)
    finally:
        finish(env)


if __name__ == "__main__":
    main()
