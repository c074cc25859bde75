"""Prop-trading rules: every active challenge evaluated after an equity update batch.

Setup (not measured): a fresh benchmark database with one brand, one platform server, a two-phase
product (5% daily loss from the day's starting balance, 10% trailing maximum loss, weekend holding
forbidden), --challenges clients (default 10,000; --quick 1,000), each with a trading account and an
active challenge in its first phase, an equity point and an open position on every tenth account.

Measured: the platform reports new money for every account (most move by up to 3%; one in a hundred
breaches the daily loss, one in a hundred passes), as the account-state sync receives it.
- prop_rules.update_to_decisions: seconds from the batch reaching the CRM to every decision being
  written: the sync's store of the states (trading.sync._store_states, in batches of 1,000 as the
  sync polls) and the evaluator (trading.prop.challenges_evaluate: the day roll, the highs, the curve
  points, the rules, a decision row and an event per breach or pass). Goal: <= 5 s.
  `limit`: the same two steps in plain SQL timed in the same run (one UPDATE of the accounts from
  unnest, one SELECT of the rule results over the join), so `ratio` is our cost over the raw one.
- prop_rules.evaluate: the evaluator alone, beside the raw rule SELECT alone.

Run: python benchmarks/prop_rules.py [--quick] [--keep] [--challenges N]
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    argument_parser,
    finish,
    insert_series,
    log,
    prepare,
    raw_connection,
    record,
    sized,
    timed,
    vacuum_analyze,
)

RAW_RULES_SQL = """
SELECT c.id FROM trading_challenge c JOIN trading_tradingaccount a ON a.id = c.account_id
JOIN trading_challengeproduct p ON p.id = c.product_id
WHERE c.state IN ('active', 'funded') AND a.server_id = %(server)s
  AND (c.day_start_balance - a.equity > c.day_start_balance * p.daily_loss_pct / 100
       OR a.equity < GREATEST(c.high_equity, a.equity) - c.start_balance * p.max_loss_pct / 100
       OR a.balance >= c.start_balance * (1 + (p.phases -> c.phase ->> 'profit_target_pct')::numeric / 100))
"""
RAW_STORE_SQL = """
UPDATE trading_tradingaccount t SET balance = u.balance, equity = u.equity, last_synced_at = now()
FROM unnest(%(logins)s::bigint[], %(balances)s::numeric[], %(equities)s::numeric[]) AS u(login, balance, equity)
WHERE t.server_id = %(server)s AND t.login = u.login
"""


def build(count: int) -> tuple[int, int]:
    from django.db import connection
    from django.utils import timezone

    from crm.models import Brand, Client
    from trading.models import PlatformServer, TradingAccount
    from trading.prop import challenge_product_save

    brand = Brand.objects.create(code="bench", name="Bench")
    server = PlatformServer.objects.create(
        brand=brand, name="MT5 bench", host="127.0.0.1", port=1, manager_login=1,
        account_types={"demo": {"label": "Demo", "group": "demo\\prop", "leverages": [100], "demo": True}})
    product = challenge_product_save(
        actor=None, brand=brand, key="bench", name="Bench 10K", server=server, account_type="demo", currency="USD",
        account_size="10000", fee="99", daily_loss_pct="5", daily_loss_basis="balance", max_loss_pct="10",
        max_loss_mode="trailing", weekend_holding_allowed=False, phases=[
            {"name": "Phase 1", "profit_target_pct": "8", "min_trading_days": 0, "time_limit_days": 30},
            {"name": "Phase 2", "profit_target_pct": "5", "min_trading_days": 0, "time_limit_days": 60}])
    started = timezone.now() - dt.timedelta(hours=6)
    # insert_series: a column added to these tables later takes its default, or fails here by name.
    insert_series(Client, count, {
        "code": "gen_random_uuid()", "brand_id": "%(brand)s", "first_name": "'C'", "last_name": "g::text",
        "country": "'DE'", "stage": "'active'", "classification": "'retail'",
        "created_at": "now()", "updated_at": "now()"}, {"brand": brand.pk})
    insert_series(TradingAccount, count, {
        "code": "gen_random_uuid()", "server_id": "%(server)s", "client_id": "c.id", "login": "100000 + g",
        "is_demo": "true", "account_type": "'demo'", "group": "'demo\\prop'", "currency": "'USD'", "leverage": "100",
        "balance": "10000", "equity": "10000", "free_margin": "10000", "history_synced": "true",
        "last_synced_at": "%(started)s", "created_at": "now()", "updated_at": "now()"},
        {"server": server.pk, "brand": brand.pk, "started": started},
        joins="JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM crm_client WHERE brand_id = %(brand)s) c "
              "ON c.n = g")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO trading_challenge (code, client_id, brand_id, product_id, state, phase, account_id, "
            "purchase_ref, currency, start_balance, phase_started_at, platform_started_at, day, day_start_balance, "
            "day_start_equity, high_equity, last_balance, last_equity, trading_days, paid_profit, last_error, "
            "created_at, updated_at) "
            "SELECT gen_random_uuid(), a.client_id, %s, %s, 'active', 0, a.id, '', 'USD', 10000, %s, %s, "
            "(%s AT TIME ZONE 'UTC')::date, 10000, 10000, 10000, 10000, 10000, 1, 0, '', now(), now() "
            "FROM trading_tradingaccount a WHERE a.server_id = %s", [brand.pk, product.pk, started, started, started,
                                                                     server.pk])
        cursor.execute(
            "INSERT INTO trading_position (server_id, account_id, position_id, symbol, side, volume, price_open, "
            "price_current, profit, swap, opened_at, comment, observed_at) "
            "SELECT %s, a.id, a.login, 'EURUSD', 'buy', 1, 1.1, 1.1, 0, 0, %s, '', %s "
            "FROM trading_tradingaccount a WHERE a.server_id = %s AND a.login %% 10 = 0",
            [server.pk, started, started, server.pk])
    from trading.models import Challenge, Position

    vacuum_analyze(TradingAccount, Challenge, Position)
    return brand.pk, server.pk


def states(server_id: int, seed: int) -> list[object]:
    from django.utils import timezone

    from trading.adapters.base import AccountState
    from trading.models import TradingAccount

    rng = random.Random(seed)
    now = timezone.now()
    out = []
    for login in TradingAccount.objects.filter(server_id=server_id).values_list("login", flat=True):
        # Most accounts move a little; one in a hundred loses more than the day allows, one in a
        # hundred reaches the target.
        roll = rng.random()
        move = Decimal(rng.randint(-520, -501) if roll < 0.01 else rng.randint(801, 900) if roll < 0.02
                       else rng.randint(-300, 300))
        equity = Decimal(10000) + move  # a dollar is a basis point of 10,000
        balance = equity if move > 0 else Decimal(10000)
        out.append(AccountState(login=login, balance=balance, credit=Decimal(0), equity=equity,
                                margin=Decimal(0), free_margin=equity, margin_level=None, floating_profit=Decimal(0),
                                leverage=100, margin_call=False, stop_out=False, observed_at=now, raw={}))
    return out


def raw_baseline(env: object, server_id: int, batch: list[object]) -> tuple[float, float]:
    """(store + rules, rules alone) in plain SQL over the same batch."""
    with raw_connection(env) as conn:  # type: ignore[arg-type]
        began = time.perf_counter()
        for start in range(0, len(batch), 1000):
            part = batch[start:start + 1000]
            conn.execute(RAW_STORE_SQL, {"server": server_id, "logins": [s.login for s in part],  # type: ignore[attr-defined]
                                         "balances": [s.balance for s in part],  # type: ignore[attr-defined]
                                         "equities": [s.equity for s in part]})  # type: ignore[attr-defined]
        rules_began = time.perf_counter()
        conn.execute(RAW_RULES_SQL, {"server": server_id}).fetchall()
        ended = time.perf_counter()
    return ended - began, ended - rules_began


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--challenges", type=int, default=None, help="active challenges (default 10,000)")
    args = parser.parse_args()
    count = args.challenges or sized(args, 10_000, 1_000, 20)
    env = prepare(args)
    try:
        from trading import prop, sync
        from trading.models import PlatformServer

        with timed(f"build {count:,} challenges"):
            _brand_id, server_id = build(count)
        server = PlatformServer.objects.get(pk=server_id)
        batch = states(server_id, seed=1)
        raw_total, raw_rules = raw_baseline(env, server_id, states(server_id, seed=2))
        began = time.perf_counter()
        for start in range(0, len(batch), sync.LOGIN_BATCH):
            sync._store_states(server, batch[start:start + sync.LOGIN_BATCH])  # type: ignore[arg-type]
        stored = time.perf_counter()
        result = prop.challenges_evaluate(server_ids=[server_id])
        ended = time.perf_counter()
        log(f"decisions: {result.decisions}, breached {len(result.breached)}, passed {len(result.passed)}")
        size = f"{count:,} active challenges, one equity update each"
        record("prop_rules.update_to_decisions", value=ended - began, unit="s", limit=raw_total, goal="<= 5 s",
               size=size)
        record("prop_rules.evaluate", value=ended - stored, unit="s", limit=raw_rules, goal="<= 5 s", size=size)
    finally:
        finish(env)


if __name__ == "__main__":
    main()
