"""Reconciliation of a settlement file of N lines against the ledger, end to end.

The data set (not measured): N provider movements in the ledger (deposits and payouts on the
provider's clearing account, each with its fee leg and its provider reference, over five days,
written in bulk), and the provider's settlement CSV of the same N movements with a few breaks: one
line in 10,000 with another amount, one in 20,000 with another fee, one in 50,000 unknown to the
ledger, one movement in 50,000 left out of the file, and two duplicated lines.

Measured, end to end, in one process: wallet.reconciliation.settlement_import_start (the file
stored, the import and its job written) and the job as an RQ worker runs it (crm.jobs.job_execute:
the parse, the COPY of the lines, the matching passes, the lines, matches and breaks written, the
progress reports), committed.

The limit, in the same run: the plain SQL a person would write to check the same file against the
ledger by hand, on a plain psycopg connection: COPY the raw CSV into a temporary table, then one join
of its lines with the ledger's movements on the provider's clearing account by reference, counting
the lines whose amount or fee differ. ratio = end to end / plain join.

Figures (one JSON line each):
- reconciliation.end_to_end_s: seconds; limit: the plain SQL join's seconds. Goal: <= 60 s for
  1,000,000 lines.
- reconciliation.breaks_found: the breaks the import reported; limit: the breaks planted. Goal: ratio 1.

Run: python benchmarks/reconciliation.py [--quick] [--keep] [--lines N]
"""

from __future__ import annotations

import datetime as dt
import io
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
    log_phases,
    prepare,
    raw_connection,
    record,
    sized,
    timed,
    vacuum_analyze,
)

GOAL_SECONDS = 60
DAY = dt.date(2026, 3, 2)
DAYS = 5
AMOUNT_EVERY, FEE_EVERY, UNKNOWN_EVERY, LEFT_OUT_EVERY = 10_000, 20_000, 50_000, 50_000
DUPLICATES = 2


def _setup(n: int) -> dict[str, Any]:
    """The ledger's N movements, written in bulk (balanced by construction; the per-row balance
    trigger is paused meanwhile, as for any bulk load by the schema's owner)."""
    from django.db import connection, transaction

    from crm.models import Brand, RoleCode
    from crm.services.client_creation import client_create
    from crm.services.users import user_create
    from wallet.ledger import clearing_account_for, system_account_for, wallet_account_for
    from wallet.models import AccountKind, LedgerTransaction
    from wallet.provider_services import payment_provider_save

    brand = Brand.objects.create(code="bench", name="Bench")
    finance = user_create(actor=None, email="finance@bench.example.com", full_name="Finance", role_code=RoleCode.FINANCE,
                          password=None, desk=None, brands=[brand], all_brands=False)
    client = client_create(actor=None, brand=brand, first_name="Bench", last_name="Client",
                           email="client@bench.example.com")
    provider = payment_provider_save(code="bench-psp", name="Bench PSP", kind="simulator",
                                     base_url="http://127.0.0.1:9", api_key="k", api_secret="s", webhook_secret="w")
    clearing = clearing_account_for(provider=provider.code, currency="USD", brand=brand.pk)
    wallet = wallet_account_for(client=client, currency="USD")
    fees = system_account_for(kind=AccountKind.FEES, currency="USD", brand=brand.pk)
    day = dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE wallet_ledgerleg DISABLE TRIGGER wallet_ledgerleg_balanced")
            cursor.execute("ALTER TABLE wallet_ledgertransaction DISABLE TRIGGER wallet_ledgertransaction_has_legs")
        insert_series(LedgerTransaction, n, {
            "code": "gen_random_uuid()", "idempotency_key": "'bench:' || g", "fingerprint": "md5(g::text)",
            "kind": "CASE WHEN g % 3 = 0 THEN 'withdrawal' ELSE 'deposit' END",
            "occurred_at": "%(day)s::timestamptz + (g % " + str(DAYS) + ") * interval '1 day'",
            "recorded_at": "now()", "metadata": "jsonb_build_object('provider_ref', 'ref_' || g)",
            "ref_kind": "CASE WHEN g % 3 = 0 THEN 'withdrawal' ELSE 'deposit' END",
            "ref_code": "gen_random_uuid()::text", "reverses_id": "NULL::bigint",
        }, {"day": day})
        with connection.cursor() as cursor:
            # g is recovered from the key; its amount as the provider sees it: 10.50 .. 1009.50, payouts
            # (every third) negative; clearing: -amount; fees: +1.00; the wallet the rest.
            cursor.execute("""
                INSERT INTO wallet_ledgerleg (transaction_id, account_id, currency, amount, recorded_at)
                SELECT t.id, a.account_id, 'USD', a.amount, t.recorded_at
                FROM (SELECT id, recorded_at, (10.5 + (g %% 1000)) * (CASE WHEN g %% 3 = 0 THEN -1 ELSE 1 END) AS amount
                      FROM (SELECT id, recorded_at, substr(idempotency_key, 7)::bigint AS g
                            FROM wallet_ledgertransaction WHERE idempotency_key LIKE 'bench:%%') k) t
                CROSS JOIN LATERAL (VALUES
                    (%(clearing)s, -t.amount),
                    (%(fees)s, 1.00),
                    (%(wallet)s, t.amount - 1.00)) AS a(account_id, amount)
            """, {"clearing": clearing.pk, "fees": fees.pk, "wallet": wallet.pk})
    with connection.cursor() as cursor:  # after the commit: no trigger event may be pending
        cursor.execute("ALTER TABLE wallet_ledgerleg ENABLE TRIGGER wallet_ledgerleg_balanced")
        cursor.execute("ALTER TABLE wallet_ledgertransaction ENABLE TRIGGER wallet_ledgertransaction_has_legs")
    from wallet.models import LedgerLeg

    vacuum_analyze(LedgerTransaction, LedgerLeg)
    return {"finance": finance, "provider": provider, "clearing": clearing.pk}


def _file(n: int) -> tuple[bytes, int]:
    """The provider's CSV of the same movements, with the planted breaks; (data, breaks planted)."""
    out = io.StringIO()
    out.write("provider_reference,merchant_reference,type,amount,currency,fee,value_date,batch_id\n")
    planted = 0
    dates = [(DAY + dt.timedelta(days=d)).isoformat() for d in range(DAYS)]
    for g in range(1, n + 1):
        if g % LEFT_OUT_EVERY == 7:
            planted += 1  # missing at the provider
            continue
        amount = 10.5 + (g % 1000)
        kind = "payout" if g % 3 == 0 else "payment"
        sign = -1 if g % 3 == 0 else 1
        fee = "1.00"
        if g % AMOUNT_EVERY == 0:
            amount += 1
            planted += 1
        elif g % FEE_EVERY == 5:
            fee = "1.25"
            planted += 1
        out.write(f"ref_{g},,{kind},{sign * amount:.2f},USD,{fee},{dates[g % DAYS]},\n")
        if g % UNKNOWN_EVERY == 3:
            out.write(f"unknown_{g},,payment,{amount + 0.37:.2f},USD,0.50,{dates[g % DAYS]},\n")
            planted += 1
    for g in range(1, DUPLICATES + 1):
        out.write(f"ref_{g * 11},,{'payout' if g * 11 % 3 == 0 else 'payment'},"
                  f"{(-1 if g * 11 % 3 == 0 else 1) * (10.5 + g * 11 % 1000):.2f},USD,1.00,{dates[g * 11 % DAYS]},\n")
        planted += 1
    return out.getvalue().encode(), planted


def _end_to_end(setup: dict[str, Any], data: bytes) -> tuple[float, dict[str, int]]:
    from django.db import transaction

    from crm.jobs import job_execute
    from wallet.models import SettlementImport
    from wallet.reconciliation import settlement_import_start

    start = time.perf_counter()
    with transaction.atomic():
        imp = settlement_import_start(actor=setup["finance"], provider=setup["provider"], data=data,
                                      file_name="settlement.csv")
    assert imp.job is not None
    outcome = job_execute(imp.job.pk)
    elapsed = time.perf_counter() - start
    imp = SettlementImport.objects.get(pk=imp.pk)
    if outcome != "done":
        raise SystemExit(f"the import ended {outcome}: {imp.error}")
    return elapsed, {"lines": imp.line_count, "matched": imp.matched_count, "breaks": imp.break_count}


def _plain_join(env: BenchEnv, setup: dict[str, Any], data: bytes) -> tuple[float, int]:
    """COPY the raw CSV, join it with the clearing account's movements by reference; the lines
    that differ in amount or fee."""
    with raw_connection(env) as conn:
        start = time.perf_counter()
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE plain_lines (ref text, merchant text, kind text, amount numeric, "
                         "currency text, fee numeric, value_date date, batch text) ON COMMIT DROP")
            with conn.cursor().copy("COPY plain_lines FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                copy.write(data)
            row = conn.execute("""
                SELECT count(*) FILTER (WHERE -g.amount <> l.amount OR f.amount <> l.fee)
                FROM plain_lines l
                JOIN wallet_ledgertransaction t ON t.metadata->>'provider_ref' = l.ref
                JOIN wallet_ledgerleg g ON g.transaction_id = t.id AND g.account_id = %(clearing)s
                LEFT JOIN wallet_ledgerleg f ON f.transaction_id = t.id AND f.account_id <> %(clearing)s
                     AND f.amount = 1.00""", {"clearing": setup["clearing"]}).fetchone()
        elapsed = time.perf_counter() - start
    return elapsed, int(row[0]) if row else 0


def main(argv: list[str]) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--lines", type=int, default=None, help="settlement lines (1,000,000; --quick 20,000)")
    args = parser.parse_args(argv)
    env = prepare(args)
    n = args.lines or sized(args, 1_000_000, 20_000, 200)
    # The import's phases (wallet.reconciliation logs each one's time) go to stderr with the progress.
    log_phases("wallet.reconciliation")
    size = f"{n:,} ledger movements, a file of as many lines"
    with timed("setup"):
        setup = _setup(n)
    with timed("file"):
        data, planted = _file(n)
    log(f"file: {len(data) / 1e6:.1f} MB, {planted} breaks planted")
    plain, plain_differ = _plain_join(env, setup, data)
    log(f"plain SQL join: {plain:.2f} s ({plain_differ} lines differ)")
    ours, counts = _end_to_end(setup, data)
    log(f"end to end: {ours:.2f} s; {counts}")
    record("reconciliation.end_to_end_s", value=ours, unit="s", limit=plain,
           goal=f"value <= {GOAL_SECONDS} s for 1,000,000 lines (limit: plain SQL join of the same lines)", size=size)
    record("reconciliation.breaks_found", value=counts["breaks"], unit="breaks", limit=planted,
           goal="ratio == 1 (every planted break found, nothing else)", size=size)
    finish(env)
    return 0 if counts["breaks"] == planted else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
