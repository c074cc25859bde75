"""Marketing's segment count: the live count a marketer sees while building a segment, at 1,000,000
clients (issue 63).

Setup (not measured, but timed): a fresh benchmark database filled by demo.scale.scale_seed (two
brands, clients across the funnel and countries with their languages, live accounts, deals whose
last is at each account's last trade, a deposit and a transfer per live account in the ledger, more
deposits, transfers and withdrawals up to `--ledger`), written with COPY; then ANALYZE. Full size:
1,000,000 clients (half in each brand), 3,000,000 deals, 3,000,000 ledger transactions; --quick:
100,000 clients, 300,000 deals and transactions; --tiny: a few dozen.

Measured: the wall time of counting each segment below in one brand (the brands in turn), as the
count partial does it: the definition validated (marketing.engine.definition_clean), compiled and
run through Django's connection (definition_count). The segments:

- funded_idle: a first deposit, no trade in the last 14 days, English or Spanish (the issue's);
- net_deposits: net deposits of at least 1,000 USD;
- lots_30d: at least 1 lot opened in the last 30 days;
- new_unfunded: registered in the last 30 days and never deposited;
- any_group: any of (stage dormant, a first deposit in the last 7 days, balance under 50 USD and
  not demo), as nested groups.

Figures per segment: p95 and p50 in ms (goal p95 <= 500 ms). `limit` is the p95 of the same SQL
text with the same parameters run through a plain psycopg connection in the same run, so `ratio`
says what validation, compilation and Django add on top of the database's own work.

Run: python benchmarks/segment_count.py [--quick | --tiny] [--keep] [--reuse] [--clients N] [--requests N]
`python -m benchmarks` (make bench) runs it only with CRM_BENCH_SCALE=1, as scale_pages.py: its seed
takes minutes at full size.
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
    log,
    percentile,
    prepare,
    raw_connection,
    record,
    sized,
    timed,
)

GOAL_MS = 500.0

SEGMENTS: dict[str, dict[str, Any]] = {
    "funded_idle": {
        "match": "all",
        "conditions": [
            {"fact": "first_deposit", "op": "exists"},
            {"fact": "last_trade", "op": "not_within_days", "days": 14},
            {"fact": "language", "op": "in", "value": ["en", "es"]},
        ],
    },
    "net_deposits": {
        "conditions": [{"fact": "net_deposits", "op": "gte", "value": "1000", "currency": "USD"}]
    },
    "lots_30d": {"conditions": [{"fact": "lots", "op": "gte", "value": "1", "days": 30}]},
    "new_unfunded": {
        "conditions": [
            {"fact": "registered", "op": "within_days", "days": 30},
            {"fact": "first_deposit", "op": "not_exists"},
        ]
    },
    "any_group": {
        "match": "any",
        "conditions": [
            {"fact": "stage", "op": "in", "value": ["dormant"]},
            {"fact": "first_deposit", "op": "within_days", "days": 7},
            {
                "match": "all",
                "conditions": [
                    {"fact": "balance", "op": "lt", "value": "50", "currency": "USD"},
                    {"fact": "first_deposit", "op": "exists"},
                ],
            },
        ],
    },
}


def seed(*, clients: int, deals: int, ledger: int) -> None:
    from django.db import connection

    from demo.scale import scale_seed

    scale_seed(clients=clients, deals=deals, events=0, access=0, ledger=ledger, progress=log)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(
    env: BenchEnv, name: str, definition: dict[str, Any], brands: list[Any], *, requests: int, size: str
) -> None:
    from marketing.engine import definition_clean, definition_compile, definition_count

    def count_once(brand: Any) -> int:
        clean = definition_clean(definition, brand=brand)
        return definition_count(clean, brand_id=brand.pk)

    counts = [count_once(b) for b in brands]  # warm, and what the figures are of
    log(f"{name}: {counts} clients match (per brand)")
    samples = []
    for i in range(requests):
        start = time.perf_counter()
        count_once(brands[i % len(brands)])
        samples.append((time.perf_counter() - start) * 1000)
    plain = []
    with raw_connection(env) as conn:
        compiled = [definition_compile(definition_clean(definition, brand=b), brand_id=b.pk) for b in brands]
        texts = [(c.count_text(), c.params) for c in compiled]
        for text, params in texts:
            conn.execute(text, params).fetchone()
        for i in range(requests):
            text, params = texts[i % len(texts)]
            start = time.perf_counter()
            conn.execute(text, params).fetchone()
            plain.append((time.perf_counter() - start) * 1000)
    p95 = percentile(samples, 95)
    record(
        f"segment_count.{name}.p95",
        value=p95,
        unit="ms",
        limit=percentile(plain, 95),
        goal=f"p95 <= {GOAL_MS:.0f} ms",
        size=size,
    )
    record(
        f"segment_count.{name}.p50",
        value=percentile(samples, 50),
        unit="ms",
        limit=percentile(plain, 50),
        goal="info",
        size=size,
    )


def main() -> None:
    parser = argument_parser(__doc__, reusable=True)
    parser.add_argument(
        "--clients", type=int, default=None, help="clients (default 1,000,000; quick 100,000)"
    )
    parser.add_argument("--requests", type=int, default=None, help="timed counts per segment (default 40)")
    args = parser.parse_args()
    clients = args.clients or sized(args, 1_000_000, 100_000, 40)
    deals = clients * 3
    ledger = clients * 3
    requests = args.requests or sized(args, 40, 20, 2)
    env = prepare(args)
    try:
        from crm.models import Brand, Client

        if not env.reused or not Client.objects.exists():
            with timed("scale_seed"):
                seed(clients=clients, deals=deals, ledger=ledger)
        brands = list(Brand.objects.filter(code__startswith="scale-").order_by("code"))
        total = Client.objects.count()
        size = f"{total} clients in {len(brands)} brands (a count is of one brand's), {requests} counts"
        for name, definition in SEGMENTS.items():
            measure(env, name, definition, brands, requests=requests, size=size)
    finally:
        finish(env)


if __name__ == "__main__":
    main()
