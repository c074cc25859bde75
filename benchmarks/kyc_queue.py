"""The KYC review queue page: server time with 10,000 submissions waiting for review.

Setup (not measured): a fresh benchmark database with two brands, a compliance officer limited to
one brand and an administrator (staff through crm.services), 20,000 clients, 10,000 submissions
waiting for review (due times spread over three days, some claimed, some with failed checks) and
10,000 decided over the last ninety days (for the page's figures), written with INSERT ... SELECT
over generate_series. --quick: 2,000 waiting and 2,000 decided.

Measured, in process through Django's test Client with the whole middleware stack: the wall time
of GET /kyc/queue/ (the first page, by SLA, with the figures over 30 days) and of its third page,
for the officer (brand-limited) and the administrator (every brand). `limit` is the p95 of the
page's main query (the queue's page of 50 rows, as the selector builds it) run as plain SQL through
psycopg, so `ratio` = value / limit says how much the framework, scoping, the figures and rendering
add on top of the database. Goal: p95 <= 150 ms.

Run: python benchmarks/kyc_queue.py [--quick] [--keep] [--waiting N] [--requests N]
"""

from __future__ import annotations

import sys
import time
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

GOAL_MS = 150.0
PASSWORD = "bench-saffron-quay-2291"  # noqa: S105 - a throw-away database


def build_world(*, waiting: int, decided: int) -> dict[str, Any]:
    from crm.audit import audit_record
    from crm.models import Brand, Client, User
    from crm.roles import roles_sync
    from crm.services import user_create
    from kyc.models import Submission

    roles_sync()
    brands = [Brand.objects.create(code=code, name=name) for code, name in (("atlas", "Atlas"), ("nova", "Nova"))]
    audit_record(action="bench.setup", object_type="crm.brand", after={"brands": [b.code for b in brands]})
    admin = user_create(actor=None, email="admin@bench.example", full_name="Bench Admin", role_code="admin",
                        password=PASSWORD, all_brands=True)
    officer = user_create(actor=admin, email="officer@bench.example", full_name="Bench Officer",
                          role_code="compliance", password=PASSWORD, brands=[brands[0]])
    officer2 = user_create(actor=admin, email="officer2@bench.example", full_name="Second Officer",
                           role_code="compliance", password=PASSWORD, brands=brands)
    clients = waiting + decided
    brand_ids = f"ARRAY[{brands[0].pk}, {brands[1].pk}]::bigint[]"
    with timed(f"{clients} clients"):
        insert_series(Client, clients, {
            "code": "gen_random_uuid()", "brand_id": f"({brand_ids})[1 + g % 2]", "stage": "'registered'",
            "first_name": "'Client'", "last_name": "'Number ' || g", "email": "''",
            "phone": "''", "country": "(ARRAY['GB','DE','AE','ZA','IR'])[1 + g % 5]", "language": "'en'",
            "timezone": "'UTC'", "created_at": "now() - interval '100 days'", "updated_at": "now()",
        })
    first = Client.objects.order_by("id").values_list("id", flat=True).first()
    join = f"JOIN crm_client c ON c.id = {first} + g - 1"
    with timed(f"{waiting} waiting submissions"):
        insert_series(Submission, waiting, {
            "code": "gen_random_uuid()", "client_id": "c.id", "brand_id": "c.brand_id", "status": "'review'",
            "submitted_at": "now() - make_interval(mins => (g % 4320)::int)",
            "due_at": "now() - make_interval(mins => (g % 4320)::int) + interval '24 hours'",
            "high_risk": "c.country = 'IR'", "auto_decision": "'review'",
            "problems": "CASE WHEN g % 3 = 0 THEN ARRAY['name_matches']::varchar(60)[] "
                        "ELSE ARRAY['poa_address_matches', 'duplicate_file']::varchar(60)[] END",
            "claimed_by_id": f"CASE WHEN g % 7 = 0 THEN {officer2.pk} ELSE NULL END",
            "report": "jsonb_build_object('decision', 'review', 'checks', jsonb_build_array())",
            "client_hints": "'[]'::jsonb",
        }, joins=join)
    join2 = f"JOIN crm_client c ON c.id = {first} + {waiting} + g - 1"
    with timed(f"{decided} decided submissions"):
        insert_series(Submission, decided, {
            "code": "gen_random_uuid()", "client_id": "c.id", "brand_id": "c.brand_id",
            "status": "CASE WHEN g % 4 = 0 THEN 'rejected' ELSE 'approved' END",
            "submitted_at": "now() - make_interval(hours => (g % 2160)::int)",
            "due_at": "now() - make_interval(hours => (g % 2160)::int) + interval '24 hours'",
            "decided_at": "now() - make_interval(hours => (g % 2160)::int) + make_interval(mins => (g % 600)::int)",
            "reviewer_id": f"CASE WHEN g % 2 = 0 THEN {officer2.pk} ELSE NULL END",
            "resubmission_of_id": "NULL", "auto_decision": "'approve'", "problems": "'{}'::varchar(60)[]",
            "report": "NULL", "client_hints": "'[]'::jsonb",
        }, joins=join2)
    with timed("vacuum analyze"):
        vacuum_analyze(Client, Submission, User)
    return {"officer": officer, "admin": admin}


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


def measure(env: BenchEnv, label: str, user: Any, *, requests: int, size: str) -> None:
    from django.urls import reverse

    from kyc.permissions import REVIEW, submission_queryset_for_user
    from kyc.selectors import QUEUE_PAGE_SIZE, queue

    http = logged_in_client(user)
    rows = queue(submissions=submission_queryset_for_user(user, perm=REVIEW))
    log(f"{label}: {rows.count()} waiting in scope")
    for page in (1, 3):
        url = f"{reverse('kyc_queue')}?page={page}"
        offset = (page - 1) * QUEUE_PAGE_SIZE
        sql, params = rows[offset:offset + QUEUE_PAGE_SIZE].query.sql_with_params()
        page_ms = timed_pages(http, [url], requests)
        sql_ms = _timed_sql(env, sql, params, requests)
        name = f"kyc_queue.page{page}.{label}"
        record(f"{name}.p95", value=percentile(page_ms, 95), unit="ms", limit=percentile(sql_ms, 95),
               goal=f"p95 <= {GOAL_MS:.0f} ms", size=size)
        record(f"{name}.p50", value=percentile(page_ms, 50), unit="ms", limit=percentile(sql_ms, 50), goal="info",
               size=size)


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--waiting", type=int, default=None, help="submissions waiting (default 10,000; quick 2,000)")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per page (default 200; quick 40)")
    args = parser.parse_args()
    waiting = args.waiting or sized(args, 10_000, 2_000, 20)
    requests = args.requests or sized(args, 200, 40, 3)
    env = prepare(args)
    try:
        users = build_world(waiting=waiting, decided=waiting)
        size = f"{waiting} waiting, {waiting} decided, {requests} requests"
        for label in ("officer", "admin"):
            measure(env, label, users[label], requests=requests, size=size)
    finally:
        finish(env)


if __name__ == "__main__":
    main()
