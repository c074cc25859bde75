"""AML monitoring: the rules over a day of wallet transactions, incrementally, beside the plain SQL aggregate.

Setup (not measured): a fresh benchmark database with one brand, --clients clients (default 100,000; --quick
2,000), each with a USD wallet and one live trading account; the brand's five rules with their default
parameters (compliance.aml.DEFAULT_PARAMETERS); a high-risk jurisdiction holding one client in fifty;
--deals trade deals (default 10,000,000; --quick 200,000) spread over the month before and the day, and
--transactions wallet transactions in the day (default 1,000,000; --quick 20,000), written with
INSERT ... SELECT over generate_series (the ledger's per-row balance trigger paused meanwhile, as for any
bulk load by the schema's owner): 90 % deposits and 10 % withdrawals of 20 to 2,019 USD, one in a thousand
a 15,000 deposit, three in a thousand deposits of 9,500 (grouped by client: structuring) and every
transaction a balanced pair of legs (the client's wallet and the provider's clearing account).

Figures (one JSON line each):
- aml_rules.daily_increment: seconds of `aml_evaluate` over the day's window (every rule of the brand, one
  INSERT ... SELECT each, the alerts announced and audited), beside `limit`: the plain SQL aggregate of the
  same rows (the day's wallet movements per client, kind and currency, and the lots per account of the
  deals of the day) timed in the same run. Goal: <= 60 s for 1,000,000 transactions and 10,000,000 deals.

Run: python benchmarks/aml_rules.py [--quick] [--keep] [--reuse] [--clients N] [--transactions N] [--deals N]
(--reuse measures again against the database a --keep run left: its alerts are deleted, the rules' versions
in force are set to the current DEFAULT_PARAMETERS, nothing is seeded again; its size is read back.)
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
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
    vacuum_analyze,
)

DAY = dt.datetime(2024, 3, 31, tzinfo=dt.UTC)
MONTH = 30 * 86400

LIMIT_SQL = """
SELECT (SELECT count(*) FROM (
          SELECT m.client_id, m.kind, m.currency, count(*), sum(m.amount)
          FROM wallet_public_client_movements m
          WHERE m.recorded_at > %(since)s AND m.recorded_at <= %(until)s
          GROUP BY 1, 2, 3) x),
       (SELECT count(*) FROM (
          SELECT d.account_id, sum(d.volume) FROM trading_public_deals d
          WHERE d.time > %(since)s AND d.time <= %(until)s AND d.kind = 'trade'
          GROUP BY 1) y)
"""


def build(clients: int, transactions: int, deals: int) -> object:
    from django.db import connection, transaction

    from compliance.aml import DEFAULT_PARAMETERS, aml_rule_create
    from compliance.models import Jurisdiction
    from crm.models import Brand, Client
    from trading.models import PlatformServer, TradingAccount
    from wallet.ledger import clearing_account_for, ledger_balance_checks_paused
    from wallet.models import Deposit, LedgerAccount, LedgerLeg, LedgerTransaction, PaymentProvider

    brand = Brand.objects.create(code="bench", name="Bench")
    for kind, parameters in DEFAULT_PARAMETERS.items():
        aml_rule_create(brand=brand, kind=kind, name=kind, parameters=parameters, actor=None,
                        effective_from=DAY - dt.timedelta(days=365))
    Jurisdiction.objects.create(brand=brand, country="NG", status="high_risk", effective_from=dt.date(2020, 1, 1))
    server = PlatformServer.objects.create(
        brand=brand, name="MT5 bench", host="127.0.0.1", port=1, manager_login=1,
        account_types={"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100]}})
    with timed(f"{clients:,} clients, wallets and accounts"):
        insert_series(Client, clients, {
            "code": "gen_random_uuid()", "brand_id": "%(brand)s", "first_name": "'C'", "last_name": "g::text",
            "country": "CASE WHEN g % 50 = 0 THEN 'NG' ELSE 'DE' END",
            "stage": "'active'", "classification": "'retail'",
            "created_at": "%(day)s::timestamptz - interval '400 days'", "updated_at": "now()"},
            {"brand": brand.pk, "day": DAY})
        first_client = Client.objects.filter(brand=brand).order_by("pk").values_list("pk", flat=True).first()
        insert_series(LedgerAccount, clients, {
            "code": "gen_random_uuid()", "kind": "'client_wallet'", "currency": "'USD'",
            "client_id": "%(c0)s + g - 1", "brand_id": "NULL::bigint", "trading_account_id": "NULL::bigint",
            "normal_side": "'credit'", "may_go_negative": "false", "created_at": "now()"}, {"c0": first_client})
        insert_series(TradingAccount, clients, {
            "code": "gen_random_uuid()", "server_id": "%(server)s", "client_id": "%(c0)s + g - 1", "login": "100000 + g",
            "is_demo": "false", "account_type": "'standard'", "group": "'real\\standard'", "currency": "'USD'",
            "leverage": "100", "access": "'full'", "is_archived": "false", "history_synced": "true",
            "created_at": "now()", "updated_at": "now()"}, {"server": server.pk, "c0": first_client})
    clearing = clearing_account_for(provider="bench-psp", currency="USD", brand=brand.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM wallet_ledgeraccount WHERE kind = 'client_wallet'")
        first_wallet = cursor.fetchone()[0]
        cursor.execute("SELECT min(id), min(login) FROM trading_tradingaccount WHERE server_id = %s", [server.pk])
        first_account, first_login = cursor.fetchone()
    # Transaction g (1..N): its client (the three 9,500 deposits of a thousand go to one client), kind, amount.
    client_of = f"(CASE WHEN g % 1000 BETWEEN 1 AND 3 THEN (g / 1000) % {clients} ELSE g % {clients} END)"
    from crm.lib.partitions import month_partitions_span

    # The legs are partitioned by month: the day's month first.
    month_partitions_span("wallet_ledgerleg", DAY, DAY + dt.timedelta(days=1))
    # The per-row balance checks paused for the load, on again once it is committed (ledger_verify
    # makes the same checks over every row).
    with ledger_balance_checks_paused():
        with timed(f"{transactions:,} wallet transactions in the day"), transaction.atomic():
            at = f"%(day)s::timestamptz + make_interval(secs => g * 86400.0 / {transactions})"
            insert_series(LedgerTransaction, transactions, {
                "code": "gen_random_uuid()", "idempotency_key": "'bench:' || g", "fingerprint": "md5(g::text)",
                "kind": "CASE WHEN g % 10 = 9 THEN 'withdrawal' ELSE 'deposit' END", "occurred_at": at, "recorded_at": at,
                "metadata": "jsonb_build_object('method', 'card', 'provider', 'bench-psp')",
                "ref_kind": "CASE WHEN g % 10 = 9 THEN 'withdrawal' ELSE 'deposit' END",
                "ref_code": "gen_random_uuid()::text", "reverses_id": "NULL::bigint"}, {"day": DAY})
            with connection.cursor() as cursor:
                # Each transaction's client (as client_of) and amount: withdrawals (one in ten) negative.
                cursor.execute("""
                    INSERT INTO wallet_ledgerleg (transaction_id, account_id, currency, amount, recorded_at)
                    SELECT t.id, a.account_id, 'USD', a.amount, t.recorded_at
                    FROM (SELECT id, recorded_at,
                                 CASE WHEN g %% 1000 BETWEEN 1 AND 3 THEN (g / 1000) %% %(clients)s
                                      ELSE g %% %(clients)s END AS client,
                                 (CASE WHEN g %% 10 = 9 THEN -1 ELSE 1 END) * (CASE WHEN g %% 1000 = 0 THEN 15000
                                  WHEN g %% 1000 BETWEEN 1 AND 3 THEN 9500 ELSE 20 + (g * 7919) %% 2000 END) AS amount
                          FROM (SELECT id, recorded_at, substr(idempotency_key, 7)::bigint AS g
                                FROM wallet_ledgertransaction WHERE idempotency_key LIKE 'bench:%%') k) t
                    CROSS JOIN LATERAL (VALUES
                        (%(w0)s + t.client, t.amount),
                        (%(clearing)s, -t.amount)) AS a(account_id, amount)
                """, {"w0": first_wallet, "clearing": clearing.pk, "clients": clients})
        # Each deposit's record with its payer and instrument (wallet_public_payment_instruments): the client's
        # own card mostly; one in two hundred paid by someone else, one in a hundred a card of another country,
        # one in five hundred a card of a pool of a hundred that several clients share.
        provider = PaymentProvider.objects.create(code="bench-psp", name="Bench PSP", kind="simulator")
        with timed("deposits' payers and instruments"), transaction.atomic():
            client_index = client_of
            insert_series(Deposit, transactions, {
                "code": "gen_random_uuid()", "client_id": f"%(c0)s + {client_index}", "brand_id": "%(brand)s",
                "provider_id": "%(provider)s", "method": "'card'", "currency": "'USD'",
                "amount": "abs(l.amount)", "status": "'succeeded'", "merchant_ref": "'bench-dep-' || g",
                "credit_transaction_id": "t.id", "created_at": "t.occurred_at", "updated_at": "t.occurred_at",
                "succeeded_at": "t.occurred_at", "is_first": "false",
                "payer_name": "CASE WHEN g % 200 = 0 THEN 'Other Person' ELSE 'C ' || g END",
                "payer_is_client": "g % 200 <> 0",
                "instrument_country": "CASE WHEN g % 100 = 7 THEN 'GB' ELSE 'DE' END",
                "instrument_fingerprint": f"CASE WHEN g % 500 = 11 THEN md5('shared' || (g / 500) % 100) "
                                          f"ELSE md5('card' || {client_index}) END",
                "instrument_last4": "lpad((g % 10000)::text, 4, '0')"},
                {"c0": first_client, "brand": brand.pk, "provider": provider.pk},
                joins="JOIN wallet_ledgertransaction t ON t.idempotency_key = 'bench:' || g "
                      "JOIN wallet_ledgerleg l ON l.transaction_id = t.id AND l.account_id <> " + str(clearing.pk)
                      + " WHERE g % 10 <> 9")
    # The deal table is partitioned by month: the months the deals fall in, first.
    month_partitions_span("trading_deal", DAY - dt.timedelta(seconds=MONTH), DAY + dt.timedelta(days=1))
    with timed(f"{deals:,} deals over the month and the day"), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO trading_deal (server_id, account_id, deal_id, login, time, platform_time_msc, kind, action,
                entry, side, position_id, order_id, symbol, volume, price, profit, commission, swap, fee, comment,
                reason, content_hash, raw, first_seen_at, updated_at)
            SELECT %(server)s, %(acc0)s + (n %% %(accounts)s), n, %(login0)s + (n %% %(accounts)s), t,
                   (extract(epoch FROM t) * 1000)::bigint, 'trade', n %% 2,
                   CASE WHEN n %% 2 = 0 THEN 'in' ELSE 'out' END, 'buy', n / 2, n, 'EURUSD', (1 + n %% 20) / 100.0,
                   1.1, 0, 0, 0, 0, '', 0, md5(n::text), '{}'::jsonb, t, t
            FROM (SELECT n, %(start)s::timestamptz + make_interval(secs => n * %(step)s) AS t
                  FROM generate_series(1, %(count)s) n) g
            """,
            {"server": server.pk, "acc0": first_account, "login0": first_login, "accounts": clients, "count": deals,
             "start": DAY - dt.timedelta(seconds=MONTH), "step": (MONTH + 86400) / deals})
    from trading.models import Deal

    vacuum_analyze(LedgerTransaction, LedgerLeg, LedgerAccount, Client, TradingAccount, Deal, Deposit)
    return brand


def reused() -> tuple[object, int, int, int]:
    """The brand a --keep run left, its rules brought to the current defaults (a new version each where
    they differ, a rule for a kind added since), its alerts gone; and its size, counted."""
    from django.db import connection

    from compliance.aml import DEFAULT_PARAMETERS, aml_parameters_clean, aml_rule_create, aml_rule_version_add
    from compliance.models import AmlAlert, AmlRule
    from crm.models import Brand, Client

    brand = Brand.objects.filter(code="bench").first()
    if brand is None:
        raise SystemExit("--reuse: the database holds no data set of this benchmark; run once with --keep first")
    AmlAlert.objects.all().delete()
    for kind, parameters in DEFAULT_PARAMETERS.items():
        rule = AmlRule.objects.filter(brand=brand, kind=kind).first()
        if rule is None:
            aml_rule_create(brand=brand, kind=kind, name=kind, parameters=parameters, actor=None,
                            effective_from=DAY - dt.timedelta(days=1))
        elif rule.versions.order_by("-number").first().parameters != aml_parameters_clean(  # type: ignore[union-attr]
                kind, parameters):
            aml_rule_version_add(rule=rule, parameters=parameters, actor=None,
                                 effective_from=DAY - dt.timedelta(days=1), note="benchmark")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wallet_ledgertransaction WHERE idempotency_key LIKE 'bench:%%'")
        transactions = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM trading_deal")
        deals = cursor.fetchone()[0]
    return brand, Client.objects.filter(brand=brand).count(), transactions, deals


def main() -> None:
    parser = argument_parser(__doc__, reusable=True)
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--transactions", type=int, default=None)
    parser.add_argument("--deals", type=int, default=None)
    args = parser.parse_args()
    clients = args.clients or sized(args, 100_000, 2_000, 50)
    transactions = args.transactions or sized(args, 1_000_000, 20_000, 200)
    deals = args.deals or sized(args, 10_000_000, 200_000, 400)
    env = prepare(args)
    log_phases("compliance.aml")  # each rule's time
    try:
        from compliance.aml import aml_evaluate
        from compliance.models import AmlAlert

        if env.reused:
            brand, clients, transactions, deals = reused()
        else:
            brand = build(clients, transactions, deals)
        since, until = DAY, DAY + dt.timedelta(days=1)
        with raw_connection(env) as conn:
            began = time.perf_counter()
            conn.execute(LIMIT_SQL, {"since": since, "until": until}).fetchall()
            limit = time.perf_counter() - began
        began = time.perf_counter()
        report = aml_evaluate(since=since, until=until, brand_id=brand.pk)  # type: ignore[attr-defined]
        value = time.perf_counter() - began
        log(f"{len(report.raised):,} alerts by {report.rules} rules")
        for kind in ("large_transaction", "structuring", "rapid_in_out", "high_risk_jurisdiction", "dormant_account",
                     "third_party_funding", "many_instruments", "shared_instruments", "over_declared",
                     "provider_risk"):
            log(f"  {kind}: {AmlAlert.objects.filter(rule__kind=kind).count():,}")
        record("aml_rules.daily_increment", value=value, unit="s", limit=limit, goal="<= 60 s",
               size=f"{transactions:,} wallet transactions in the day, {deals:,} deals, {clients:,} clients, "
                    f"{len(report.raised):,} alerts")
    finally:
        finish(env)


if __name__ == "__main__":
    main()
