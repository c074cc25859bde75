"""Management dashboard: page time over the read models beside the plain SQL aggregate of the raw rows.

Setup (not measured): a fresh benchmark database with two brands, two desks each (a manager each),
an administrator; clients, trading accounts, deals over the last 90 days and money events (deposits,
withdrawals paid, first deposits, client arrivals) written with INSERT ... SELECT over
generate_series; then the read models rebuilt (reports.readmodel.rebuild_all, timed: info).
Full size: 1,000,000 clients, 100,000,000 deals, 10,000,000 money events; --quick: 10,000 clients,
200,000 deals, 50,000 money events.

Measured, in process through Django's test Client with the whole middleware stack and the garbage
collector settled as in a web worker (plumbing.heap): the wall time of
GET /reports/dashboard/ (30 days, every brand) for the administrator (TOTP passed) and for a desk
manager (their desks only). `limit` is the plain SQL aggregate of the same figures over the raw
rows (deposits and withdrawals per currency from the events, volume per symbol and closed P/L per
currency from the deals, 30 days), through psycopg: what the page would cost if it read raw rows.
A ratio below 1 means the page is cheaper than even the bare aggregate.

Run: python benchmarks/reports_dashboard.py [--quick] [--keep] [--reuse [--skip-rebuild]] [--clients N] [--deals N]
[--events N] [--requests N] [--raw N]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

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

GOAL_MS = 200.0
PASSWORD = "bench-cedar-lantern-4417"  # noqa: S105 - a throw-away database
DAYS = 90

RAW_SQL = """
SELECT e.data->>'currency', e.name, SUM((e.data->>'amount')::numeric), COUNT(*)
FROM crm_event e WHERE e.name IN ('wallet.deposit_succeeded', 'wallet.withdrawal_paid')
  AND e.occurred_at >= now() - interval '30 days' GROUP BY 1, 2;
"""
RAW_DEALS_SQL = """
SELECT d.symbol, a.currency, a.book, SUM(d.volume), SUM(d.profit) FILTER (WHERE d.entry = 'out'), SUM(d.commission),
       SUM(d.swap), SUM((d.market_ask - d.market_bid) * d.volume) FILTER (WHERE d.entry = 'out'),
       COUNT(DISTINCT a.client_id)
FROM trading_public_deals d JOIN trading_public_accounts a ON a.id = d.account_id
WHERE d.kind = 'trade' AND d.time >= now() - interval '30 days' GROUP BY 1, 2, 3;
"""
RAW_FLOATING_SQL = """
SELECT a.currency, a.book, SUM(p.profit + p.swap), COUNT(*)
FROM trading_position p JOIN trading_public_accounts a ON a.id = p.account_id GROUP BY 1, 2;
"""


def build_world(*, clients: int, deals: int, events: int) -> dict[str, Any]:
    from django.db import connection

    from crm.models import Brand
    from crm.roles import roles_sync
    from crm.services import user_create
    from crm.staff_services import desk_create, desk_update
    from trading.models import PlatformServer

    roles_sync()
    brands = [Brand.objects.create(code=code, name=name) for code, name in (("atlas", "Atlas"), ("nova", "Nova"))]
    admin = user_create(actor=None, email="admin@bench.example", full_name="Bench Admin", role_code="admin",
                        password=PASSWORD, all_brands=True)
    desks, managers = [], []
    for brand in brands:
        for n in (1, 2):
            desk = desk_create(actor=admin, brand=brand, name=f"{brand.name} desk {n}")
            manager = user_create(actor=admin, email=f"manager.{brand.code}{n}@bench.example",
                                  full_name=f"Manager {brand.code} {n}", role_code="desk_manager",
                                  password=PASSWORD, desk=desk, brands=[brand])
            desk_update(actor=admin, desk=desk, manager=manager)
            desks.append(desk)
            managers.append(manager)
    servers = [PlatformServer.objects.create(brand=b, name=f"MT5 {b.code}", host="127.0.0.1", port=1, manager_login=1,
                                             account_types={"standard": {"label": "S", "group": "real",
                                                                         "leverages": [100]}}) for b in brands]
    desk_ids = [d.pk for d in desks]
    brand_of_desk = [d.brand_id for d in desks]
    server_of_desk = [next(s.pk for s in servers if s.brand_id == d.brand_id) for d in desks]
    with connection.cursor() as cursor, timed(f"{clients} clients and accounts"):
        cursor.execute(
            "INSERT INTO crm_client (code, brand_id, desk_id, first_name, last_name, email, phone, country, language, "
            "timezone, source, campaign, utm_source, utm_medium, utm_campaign, utm_term, utm_content, "
            "referrer_code, tags, stage, classification, created_at, updated_at) "
            "SELECT gen_random_uuid(), (%s::bigint[])[1 + g %% 4], (%s::bigint[])[1 + g %% 4], 'C', g::text, "
            "'', '', (ARRAY['DE','GB','AE','ZA','FR'])[1 + g %% 5], '', '', '', "
            "'camp-' || (g %% 7), '', '', '', '', '', '', '{}', 'active', 'retail', "
            "now() - make_interval(days => (g %% 365)::int), now() FROM generate_series(1::bigint, %s::bigint) g",
            [brand_of_desk, desk_ids, clients])
        cursor.execute(
            "INSERT INTO trading_tradingaccount (code, server_id, client_id, login, is_demo, account_type, "
            "\"group\", currency, leverage, access, is_archived, balance, credit, equity, margin, free_margin, "
            "history_synced, created_at, updated_at, closed_reason, close_state, close_attempts, close_error) "
            "SELECT gen_random_uuid(), (%s::bigint[])[1 + (array_position(%s::bigint[], c.desk_id) - 1)], c.id, "
            "100000 + row_number() OVER (ORDER BY c.id), false, 'standard', 'real', "
            "CASE WHEN c.id %% 5 = 0 THEN 'EUR' ELSE 'USD' END, 100, 'full', false, 0, 0, 0, 0, 0, true, now(), now(), "
            "'', '', 0, '' "
            "FROM crm_client c", [server_of_desk, desk_ids])
        cursor.execute("SELECT min(id), count(*) FROM trading_tradingaccount")
        first_account, accounts = cursor.fetchone()
        cursor.execute("SELECT min(id) FROM crm_client")
        first_client = cursor.fetchone()[0]
    from datetime import UTC, datetime, timedelta

    from crm.lib.partitions import month_partitions_span

    # The deal table is partitioned by month: the months the deals fall in, first.
    month_partitions_span("trading_deal", datetime.now(UTC) - timedelta(days=DAYS + 1), datetime.now(UTC))
    with connection.cursor() as cursor, timed(f"{deals} deals"):
        cursor.execute(
            "INSERT INTO trading_deal (server_id, account_id, deal_id, login, time, platform_time_msc, kind, action, "
            "entry, side, position_id, order_id, symbol, volume, price, profit, commission, swap, fee, comment, "
            "reason, content_hash, raw, first_seen_at, updated_at, market_bid, market_ask) "
            "SELECT a.server_id, a.id, g.n, a.login, g.t, (extract(epoch FROM g.t) * 1000)::bigint, 'trade', g.n %% 2, "
            "CASE WHEN g.n %% 2 = 0 THEN 'in' ELSE 'out' END, CASE WHEN g.n %% 2 = 0 THEN 'buy' ELSE 'sell' END, "
            "g.n / 2, g.n, (ARRAY['EURUSD','GBPUSD','USDJPY','XAUUSD','US30'])[1 + (g.n / 2) %% 5], "
            "(1 + (g.n / 2) %% 20) / 10.0, 1.1, CASE WHEN g.n %% 2 = 1 THEN ((g.n / 2) %% 41 - 20)::numeric ELSE 0 END, "
            "-0.7, 0, 0, '', 0, md5(g.n::text), '{}'::jsonb, g.t, g.t, 1.1, 1.10012 "
            "FROM (SELECT n, now() - make_interval(secs => ((n * 7919) %% (%s * 86400))::int) AS t "
            "      FROM generate_series(1::bigint, %s::bigint) n) g "
            "JOIN trading_tradingaccount a ON a.id = %s + ((g.n / 2) * 31 %% %s)",
            [DAYS, deals, first_account, accounts])
    positions = max(1, accounts // 10)
    with connection.cursor() as cursor, timed(f"{positions} open positions"):
        cursor.execute(
            "INSERT INTO trading_position (server_id, account_id, position_id, symbol, side, volume, price_open, "
            "price_current, profit, swap, opened_at, comment, observed_at) "
            "SELECT a.server_id, a.id, 10000000000 + g, (ARRAY['EURUSD','GBPUSD','USDJPY','XAUUSD','US30'])[1 + g %% 5], "
            "'buy', 1, 1.1, 1.1, (g %% 201 - 100)::numeric, -0.5, now() - interval '1 hour', '', now() "
            "FROM generate_series(1::bigint, %s::bigint) g JOIN trading_tradingaccount a ON a.id = %s + (g * 10 %% %s)",
            [positions, first_account, accounts])
    from ib import commissions as cs
    from trading.services import trading_group_book_set

    for n, (brand, server) in enumerate(zip(brands, servers, strict=True)):
        # One brand hedges its accounts' group (A-book), the other keeps it in house (B-book).
        trading_group_book_set(actor=None, server=server, group="real", book="a" if n == 0 else "b")
        fx = cs.instrument_group_save(actor=None, brand=brand, code="fx", units_per_lot="100000")
        for symbol in ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US30"):
            cs.instrument_save(actor=None, brand=brand, symbol=symbol, group=fx, contract_size="100000",
                               markup_per_lot="1")
    with connection.cursor() as cursor, timed(f"{events} money events"):
        _money_events_insert(cursor, first=1, last=events, first_client=first_client, clients=clients)
        cursor.execute("ANALYZE crm_client; ANALYZE trading_tradingaccount; ANALYZE trading_deal; ANALYZE crm_event; "
                       "ANALYZE trading_position")
    _rebuild_timed()
    return {"admin": admin, "manager": managers[0]}


def _money_events_insert(cursor: Any, *, first: int, last: int, first_client: int, clients: int) -> None:
    """Money events number `first`..`last` (in MONEY_EVENTS' mix) over the clients with ids
    first_client..first_client + clients - 1, within the last DAYS days: what a number is depends
    on the number alone, so a run stopped part-way is completed by inserting the rest. The event
    table is partitioned by month: those months are made first."""
    from django.utils import timezone

    from crm.lib.partitions import month_partitions_span

    month_partitions_span("crm_event", timezone.now() - dt.timedelta(days=DAYS + 1), timezone.now())
    cursor.execute(
        "INSERT INTO crm_event (uuid, name, client_id, brand_id, data, occurred_at, created_at, dispatched_at, "
        "request_id) "
        "SELECT gen_random_uuid(), (%s::text[])[1 + g %% 5], c.id, c.brand_id, "
        "jsonb_build_object('amount', (100 + g %% 900)::text, 'fee', '1.50', "
        "'currency', CASE WHEN c.id %% 5 = 0 THEN 'EUR' ELSE 'USD' END, "
        "'provider', (ARRAY['psp-a','psp-b','wire'])[1 + g %% 3], 'method', 'card', 'first', false), "
        "now() - make_interval(secs => ((g * 104729) %% (%s * 86400))::int), now(), now(), '' "
        "FROM generate_series(%s::bigint, %s::bigint) g "
        "JOIN crm_client c ON c.id = %s + (g * 37 %% %s)",
        [list(MONEY_EVENTS), DAYS, first, last, first_client, clients])


def _rebuild_timed() -> None:
    from django.db import connection

    from reports.readmodel import rebuild_all

    started = time.perf_counter()
    rebuilt = rebuild_all()
    record("reports_dashboard.rebuild", value=time.perf_counter() - started, unit="s", limit=None,
           goal="info (nightly)", size=f"{rebuilt} days", reason="no raw baseline: it is the aggregation itself")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reports_dailyfigure; ANALYZE reports_dailytrader; ANALYZE reports_traderbitmap; "
                       "ANALYZE reports_floatingfigure")


def reused_world(*, events: int, rebuild: bool = True) -> dict[str, Any]:
    """--reuse: the users an earlier --keep run made; the read models rebuilt again by this code.
    A database filled by `manage.py scale_seed` (benchmarks/scale_pages.py --keep) is taken too:
    see scale_world."""
    from crm.models import User

    if User.objects.filter(email="admin@scale.example").exists():
        return scale_world(events=events, rebuild=rebuild)
    if rebuild:
        _rebuild_timed()
    return {"admin": User.objects.get(email="admin@bench.example"),
            "manager": User.objects.get(email="manager.atlas1@bench.example")}


# The money events' names, in the mix build_world writes them (two deposits in five).
MONEY_EVENTS = ("wallet.deposit_succeeded", "wallet.deposit_succeeded", "wallet.withdrawal_paid", "wallet.first_deposit",
                "client.created")
SCALE_DAYS = 95  # the dashboard's 30 days, the 30 before them it compares with, and the month to date


def scale_world(*, events: int, rebuild: bool = True) -> dict[str, Any]:
    """The dashboard over scale_seed's brokerage (its clients, desks, accounts and deals over two
    years, and its ledger: `scale_seed --ledger N` writes the deposits, withdrawals and first
    deposits with their events, which the dashboard's money figures read). A database seeded
    without them (an older scale_seed) gets `events` money events over its clients within the last
    90 days instead (as in build_world; up to `events` in all: a second --reuse adds only what is
    missing). Then one platform group per brand said A- or B-book, the instruments priced, the read
    models of the last SCALE_DAYS days rebuilt (timed: the dashboard reads no older day) and the
    administrator and the first desk manager measured."""
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.models import Brand, User
    from demo.scale import PSP
    from ib import commissions as cs
    from reports.models import ReadModelMark
    from reports.readmodel import floating_refresh
    from reports.readmodel import rebuild as rebuild_days
    from trading.models import PlatformServer
    from trading.services import trading_group_book_set

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_event WHERE name = ANY(%s)", [list(MONEY_EVENTS)])
        present = cursor.fetchone()[0]
        cursor.execute("SELECT min(id), max(id) FROM crm_client")
        first_client, last_client = cursor.fetchone()
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM crm_event WHERE name = 'wallet.deposit_succeeded' "
                       "AND data->>'provider' = %s)", [PSP])
        ledger_backed = cursor.fetchone()[0]
    if not ledger_backed and present < events:
        chunk = 1_000_000
        with timed(f"{events - present} money events"):
            # From where an interrupted run stopped: each chunk is its own transaction.
            for start in range(present, events, chunk):
                with transaction.atomic(), connection.cursor() as cursor:
                    _money_events_insert(cursor, first=start + 1, last=min(events, start + chunk),
                                         first_client=first_client, clients=last_client - first_client + 1)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE crm_event")
    # Idempotent: a group's book and an instrument are set, not added.
    for n, server in enumerate(PlatformServer.objects.order_by("id")):
        trading_group_book_set(actor=None, server=server, group="real\\standard", book="a" if n == 0 else "b")
    for brand in Brand.objects.all():
        fx = cs.instrument_group_save(actor=None, brand=brand, code="fx", units_per_lot="100000")
        for symbol in ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US30", "BTCUSD", "AUDUSD", "USDCAD", "NAS100",
                       "GER40", "USOIL", "EURGBP"):
            cs.instrument_save(actor=None, brand=brand, symbol=symbol, group=fx, contract_size="100000",
                               markup_per_lot="1")
    if rebuild:
        now = timezone.now()
        started = time.perf_counter()
        days = rebuild_days(start=now.date() - dt.timedelta(days=SCALE_DAYS - 1), end=now.date())
        floating_refresh(now=now)
        ReadModelMark.objects.update_or_create(name="deals", defaults={"at": now})
        record("reports_dashboard.rebuild", value=time.perf_counter() - started, unit="s", limit=None,
               goal="info (nightly)", size=f"{days} days", reason="no raw baseline: it is the aggregation itself")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE reports_dailyfigure; ANALYZE reports_dailytrader; ANALYZE reports_traderbitmap; "
                           "ANALYZE reports_floatingfigure")
    return {"admin": User.objects.get(email="admin@scale.example"),
            "manager": User.objects.filter(email__startswith="manager.scale-atlas.1@").get()}


def _counts() -> tuple[int, int, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM crm_client), (SELECT count(*) FROM trading_deal), "
                       "(SELECT count(*) FROM crm_event WHERE name LIKE 'wallet.%%' OR name = 'client.created'), "
                       "(SELECT count(*) FROM wallet_ledgertransaction)")
        clients, deals, events, ledger = cursor.fetchone()
    return clients, deals, events, ledger


def _timed_raw(env: BenchEnv, count: int) -> list[float]:
    samples = []
    with raw_connection(env) as conn, conn.cursor() as cursor:
        for i in range(count + 1):  # the first run warms the cache, untimed
            start = time.perf_counter()
            cursor.execute(RAW_SQL)
            cursor.fetchall()
            cursor.execute(RAW_DEALS_SQL)
            cursor.fetchall()
            cursor.execute(RAW_FLOATING_SQL)
            cursor.fetchall()
            if i >= 1:
                samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argument_parser(__doc__, reusable=True)
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--deals", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--raw", type=int, default=None,
                        help="timed runs of the plain SQL aggregate (default: one per 20 requests, at least 3; "
                             "at full size each run takes a minute or two)")
    parser.add_argument("--skip-rebuild", action="store_true",
                        help="with --reuse: the read models as the last run left them (no rebuild, no timing of it)")
    args = parser.parse_args()
    clients = args.clients or sized(args, 1_000_000, 10_000, 50)
    deals = args.deals or sized(args, 100_000_000, 200_000, 200)
    events = args.events or sized(args, 10_000_000, 50_000, 200)
    requests = args.requests or sized(args, 100, 30, 3)
    env = prepare(args)
    try:
        if env.reused:
            users = reused_world(events=events, rebuild=not args.skip_rebuild)
        else:
            users = build_world(clients=clients, deals=deals, events=events)
        clients, deals, events, ledger = _counts()
        size = f"{clients} clients, {deals} deals, {events} money events, {ledger} ledger transactions, {requests} requests"
        raw = _timed_raw(env, args.raw or max(3, requests // 20))
        from django.urls import reverse

        for label, user in users.items():
            page = timed_pages(logged_in_client(user), [reverse("reports_dashboard")], requests)
            record(f"reports_dashboard.{label}.p95", value=percentile(page, 95), unit="ms",
                   limit=percentile(raw, 95), goal=f"p95 <= {GOAL_MS:.0f} ms", size=size)
            record(f"reports_dashboard.{label}.p50", value=percentile(page, 50), unit="ms",
                   limit=percentile(raw, 50), goal="info", size=size)
        log("done")
    finally:
        finish(env)


if __name__ == "__main__":
    main()
