"""The commission engine: a month of deals across 200 partners in a five-level tree.

Setup (not measured): a fresh benchmark database with one brand, one platform server, 200 partners
in a five-level tree (1 master, 4 under it, 15 under those, 60, 120), 20,000 clients each with one
trading account attributed to a partner, a plan (per-lot rebate on forex split over five levels
with its own minimum holding time of 60 s, a commission share on two levels, a spread share from
the symbols' markup per lot with a cap, a net-loss share without carry-over or swaps, hedged legs
paid on the volume not offset) assigned to every partner, and
--deals trade deals (default 10,000,000; --quick 200,000; --tiny 400 over 20 accounts and 6 partners)
written with INSERT ... SELECT over
generate_series: half opening, half closing deals of positions held between 10 s and 15 min, so
some are scalps; the last day's deals are held back for the incremental run.

Figures (one JSON line each):
- ib_engine.full_month: seconds of `commission_run` over the month (every line written, totals,
  rounding; at this size split over two database connections, as in production: see ib.engine,
  IB_ENGINE_PARALLEL_DEALS), beside `limit`: the plain SQL aggregate over the same deals (volume per partner: a
  join of deals to accounts and attributions and a GROUP BY) timed in the same run. Goal: at most 8
  times that aggregate (ratio <= 8), and <= 60 s.
- ib_engine.daily_increment: seconds of `commission_run_increment` after the last day's deals
  arrived, beside the same plain aggregate over that day's deals. Goal: <= 5 s.

With --reuse, the database a --keep run left is measured again as it is: the full run covers every
deal of the month, the increments' days a --keep run left included, and another day is added.

Run: python benchmarks/ib_engine.py [--quick | --tiny] [--keep] [--reuse] [--deals N]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    argument_parser,
    finish,
    insert_series,
    log,
    log_phases,
    prepare,
    raw_connection,
    record,
    sized,
    timed,
)

PERIOD = dt.date(2024, 3, 1)
START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
MONTH_SECONDS = 31 * 86400
LAST_DAY = START + dt.timedelta(days=30)
ACCOUNTS = 20_000
LEVELS = (1, 4, 15, 60, 120)  # 200 partners, five levels
TINY_ACCOUNTS, TINY_LEVELS = 20, (1, 1, 1, 1, 2)  # --tiny: every plan shape still paid over five levels


def build(deals: int, *, accounts: int, levels: tuple[int, ...]) -> tuple[object, object]:
    from django.db import connection

    from crm.models import Brand, Client
    from ib import commissions as cs
    from ib import services
    from ib.models import Partner
    from trading.models import PlatformServer, TradingAccount

    brand = Brand.objects.create(code="bench", name="Bench")
    server = PlatformServer.objects.create(
        brand=brand, name="MT5 bench", host="127.0.0.1", port=1, manager_login=1,
        account_types={"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100]}})
    partners: list[list[Partner]] = []
    for depth, count in enumerate(levels):
        row = []
        for i in range(count):
            parent = partners[depth - 1][i % len(partners[depth - 1])] if depth else None
            row.append(services.partner_create(actor=None, brand=brand, display_name=f"P{depth}-{i}",
                                               email=f"p{depth}-{i}@bench.example", parent=parent))
        partners.append(row)
    fx = cs.instrument_group_save(actor=None, brand=brand, code="fx")
    for symbol in ("EURUSD", "GBPUSD", "USDJPY"):
        # A markup per lot: the deals carry no bid and ask (as an MT5 deal report), the spread share reads it.
        cs.instrument_save(actor=None, brand=brand, symbol=symbol, group=fx, contract_size="100000",
                           markup_per_lot="0.8")
    plan = cs.plan_create(actor=None, brand=brand, name="Bench plan")
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    # The plan shapes in use: hedged legs paid on the volume not offset, the rebate's own minimum
    # hold, a spread share from the symbols' markup, a revenue share without carry-over and
    # without swaps, a cap per rule.
    cs.plan_version_record(actor=None, plan=plan, effective_from=at, recorded_at=at, min_hold_seconds=30,
                           hedge_mode="net", rules=[
        {"code": "fx", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1", "0.5", "0.25"],
         "min_hold_seconds": 60},
        {"code": "comm", "kind": "revshare", "basis": "commission", "level_rates": ["10", "5"]},
        {"code": "spread", "kind": "revshare", "basis": "spread", "level_rates": ["20", "5"], "period_cap": "100000"},
        {"code": "net", "kind": "revshare", "basis": "net_loss", "level_rates": ["15"], "carry_negative": False,
         "net_with_swap": False}])
    all_partners = [p for row in partners for p in row]
    for partner in all_partners:
        cs.plan_assign(actor=None, plan=plan, partner=partner, effective_from=at)
    ids = [p.pk for p in all_partners]
    # Written with insert_series: a column added to these tables later takes its default, or, when
    # it has none, makes this fail by name instead of with a NOT NULL violation halfway through.
    insert_series(Client, accounts, {
        "code": "gen_random_uuid()", "brand_id": "%(brand)s", "first_name": "'C'", "last_name": "g::text",
        "country": "'DE'", "stage": "'active'", "classification": "'retail'",
        "created_at": "now()", "updated_at": "now()"}, {"brand": brand.pk})
    insert_series(TradingAccount, accounts, {
        "code": "gen_random_uuid()", "server_id": "%(server)s", "client_id": "c.id", "login": "100000 + g",
        "account_type": "'standard'", "group": "'real\\standard'", "currency": "'USD'", "leverage": "100",
        "history_synced": "true", "created_at": "now()", "updated_at": "now()"}, {"server": server.pk, "brand": brand.pk},
        joins="JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM crm_client WHERE brand_id = %(brand)s) c "
              "ON c.n = g")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ib_clientattribution (client_id, partner_id, source, touched_at, effective_from, reason, "
            "created_at) SELECT c.id, (%s::bigint[])[1 + c.id %% %s], 'import', %s, %s, '', now() "
            "FROM crm_client c WHERE c.brand_id = %s", [ids, len(ids), at, at, brand.pk])
    with timed(f"insert {deals:,} deals"):
        deals_insert(server.pk, 0, deals, accounts=accounts)
    return brand, server


def deals_insert(server_id: int, first: int, count: int, *, accounts: int, day_start: dt.datetime | None = None,
                 seconds: int = MONTH_SECONDS - 86400, synced_now: bool = False) -> None:
    """`count` deals from number `first`: pairs (in, out) of positions spread over `seconds` from
    `day_start` (the month's start), on accounts in turn, held 10 s to 15 min. Each was synced a
    few seconds after its time (first_seen_at, updated_at), or, with `synced_now`, just now (the
    day an increment picks up)."""
    from django.db import connection

    from crm.lib.partitions import month_partitions_span

    start = day_start or START
    # The deal table is partitioned by month: the months the deals fall in, first.
    month_partitions_span("trading_deal", start, start + dt.timedelta(seconds=seconds + 900))
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), min(login) FROM trading_tradingaccount WHERE server_id = %s", [server_id])
        first_account, first_login = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO trading_deal (server_id, account_id, deal_id, login, time, platform_time_msc, kind, action,
                entry, side, position_id, order_id, symbol, volume, price, profit, commission, swap, fee, comment,
                reason, content_hash, raw, first_seen_at, updated_at)
            SELECT %(server)s, %(acc0)s + (p %% %(accounts)s), n, %(login0)s + (p %% %(accounts)s), t,
                   (extract(epoch FROM t) * 1000)::bigint, 'trade', n %% 2,
                   CASE WHEN n %% 2 = 0 THEN 'in' ELSE 'out' END,
                   CASE WHEN (n %% 2 = 0) = (p %% 3 = 0) THEN 'buy' ELSE 'sell' END,
                   p, n, (ARRAY['EURUSD', 'GBPUSD', 'USDJPY'])[1 + p %% 3], (1 + p %% 20) / 10.0, 1.1,
                   CASE WHEN n %% 2 = 1 THEN (p %% 41 - 20)::numeric ELSE 0 END, -0.7, 0, 0, '', 0,
                   md5(n::text), '{}'::jsonb, COALESCE(%(synced)s::timestamptz, t + interval '5 seconds'),
                   COALESCE(%(synced)s::timestamptz, t + interval '5 seconds')
            FROM (SELECT n, n / 2 AS p,
                         %(start)s::timestamptz + make_interval(secs => ((n - %(first)s) / 2) * %(step)s
                             + (n %% 2) * (10 + (n / 2) %% 890)) AS t
                  FROM generate_series(%(first)s, %(first)s + %(count)s - 1) n) g
            """,
            {"server": server_id, "acc0": first_account, "login0": first_login, "accounts": accounts,
             "first": first, "count": count, "start": start, "step": seconds / max(count / 2, 1),
             "synced": "now" if synced_now else None})
        cursor.execute("ANALYZE trading_deal")


def _next_deal_number(server_id: int) -> int:
    """An even deal number past every stored one (deals come in pairs from an even number)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(deal_id), 0) FROM trading_deal WHERE server_id = %s", [server_id])
        return (int(cursor.fetchone()[0]) + 12) // 2 * 2


def _deals_in_month(server_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM trading_deal WHERE server_id = %s AND time >= %s AND time < %s",
                       [server_id, START, START + dt.timedelta(days=31)])
        return int(cursor.fetchone()[0])


def baseline(env: object, start: dt.datetime, end: dt.datetime) -> float:
    from plumbing.sqlfiles import sql_file

    with raw_connection(env) as conn:  # type: ignore[arg-type]
        began = time.perf_counter()
        conn.execute(sql_file("ib", "engine/bench_baseline"), {"start": start, "end": end}).fetchall()
        return time.perf_counter() - began


def main() -> None:
    parser = argument_parser(__doc__, reusable=True)
    parser.add_argument("--deals", type=int, default=None, help="deals in the month (default 10,000,000; quick 200,000)")
    args = parser.parse_args()
    deals = args.deals or sized(args, 10_000_000, 200_000, 400)
    accounts = TINY_ACCOUNTS if args.tiny else ACCOUNTS
    levels = TINY_LEVELS if args.tiny else LEVELS
    env = prepare(args)
    log_phases("ib.engine")  # each step's time
    try:
        from ib import commissions as cs

        if env.reused:
            from crm.models import Brand
            from trading.models import PlatformServer, TradingAccount

            brand = Brand.objects.get(code="bench")
            server = PlatformServer.objects.get(brand=brand)
            deals = _deals_in_month(server.pk)
            accounts = TradingAccount.objects.filter(server=server).count()
            levels = LEVELS
        else:
            brand, server = build(deals, accounts=accounts, levels=levels)
        size = f"{deals:,} deals, {sum(levels)} partners in {len(levels)} levels, {accounts:,} accounts"
        end = START + dt.timedelta(days=31)
        limit = baseline(env, START, end)
        began = time.perf_counter()
        run = cs.commission_run(actor=None, brand=brand, period=PERIOD)  # type: ignore[arg-type]
        full = time.perf_counter() - began
        log(f"full run: {run.stats}")
        record("ib_engine.full_month", value=full, unit="s", limit=limit,
               goal="ratio <= 8 (times the plain aggregate over the same deals); <= 60 s", size=size)

        day = deals // 31 // 2 * 2
        deals_insert(server.pk, _next_deal_number(server.pk), day, accounts=accounts,  # type: ignore[attr-defined]
                     day_start=LAST_DAY, seconds=86400, synced_now=True)
        limit = baseline(env, LAST_DAY, end)
        began = time.perf_counter()
        run = cs.commission_run_increment(brand=brand, period=PERIOD)  # type: ignore[arg-type]
        inc = time.perf_counter() - began
        log(f"increment: {run.stats.get('last_increment')}")
        record("ib_engine.daily_increment", value=inc, unit="s", limit=limit, goal="<= 5 s",
               size=f"{day:,} new deals on a month of {deals:,}")
    finally:
        finish(env)


if __name__ == "__main__":
    main()
