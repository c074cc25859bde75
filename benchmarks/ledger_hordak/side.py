"""django-hordak's side of benchmarks/ledger_postings.py, run by the virtualenv that script builds
under var/ (hordak 2.0 supports Django 4.2 and 5.0, not the CRM's Django 6), against a database of
its own on the same PostgreSQL server. Not a benchmark script itself (benchmarks/ runs top-level
files only).

  side.py setup URL WALLETS   migrate, open WALLETS liability accounts and 10 asset accounts, fund
                              the wallets; prints {"wallets": [...], "hot": [...]}
  side.py run URL KIND WORKERS PER_WORKER SEED WALLET_IDS HOT_IDS
                              postings with WORKERS processes; prints {"rate", "deadlocks", "failures"}

Each hordak posting is made as correct as ours: in one transaction, the accounts it touches are
locked (SELECT ... FOR UPDATE, in id order), the debited wallet's balance (hordak sums its legs) is
checked, then Account.transfer_to writes the transaction and its two legs. Hordak has no
idempotency key and keeps no stored balance; those parts of our posting have no counterpart here.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sys
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


def setup_django(url: str) -> None:
    import django
    from django.conf import settings

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "mptt", "hordak"],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.postgresql", "NAME": parts.path.lstrip("/"),
            "USER": unquote(parts.username or ""), "PASSWORD": unquote(parts.password or ""),
            "HOST": query.get("host", [parts.hostname or ""])[0], "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 600,
        }},
        USE_TZ=True, DEFAULT_CURRENCY="USD", CURRENCIES=["USD"], HORDAK_DECIMAL_PLACES=2,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()


def setup(url: str, wallet_count: int) -> dict[str, list[int]]:
    from django.core.management import call_command
    from djmoney.money import Money
    from hordak.models import Account

    call_command("migrate", verbosity=0, interactive=False)
    wallets = [Account.objects.create(name=f"Wallet {n}", type="LI", currencies=["USD"]) for n in range(wallet_count)]
    hot = [Account.objects.create(name=f"Clearing {n}", type="AS", currencies=["USD"]) for n in range(10)]
    for wallet in wallets:
        wallet.transfer_to(hot[0], Money("1000000.00", "USD"))  # liability -> asset: both increase
    return {"wallets": [w.pk for w in wallets], "hot": [h.pk for h in hot]}


def _worker(plan: list[tuple[str, int, int]], barrier: Any, results: Any) -> None:
    from django.db import OperationalError, connection, transaction
    from djmoney.money import Money
    from hordak.models import Account

    amount = Money(Decimal("1.00"), "USD")
    deadlocks = failures = count = 0
    barrier.wait()
    for kind, a, b in plan:
        try:
            with transaction.atomic():
                locked = {acc.pk: acc for acc in Account.objects.select_for_update().filter(pk__in=sorted({a, b}))
                          .order_by("pk")}
                if kind == "spread":
                    source, target = locked[a], locked[b]
                    if source.get_simple_balance().monies()[0] < amount:
                        raise ValueError("insufficient funds")
                    target.transfer_to(source, amount)  # liability -> liability: target up, source down
                else:
                    locked[b].transfer_to(locked[a], amount)  # a deposit: wallet b and clearing a up
        except OperationalError as error:
            if "deadlock" in str(error):
                deadlocks += 1
            else:
                failures += 1
        except ValueError:
            failures += 1
        count += 1
    connection.close()
    results.put((count, deadlocks, failures))


def run(kind: str, workers: int, per_worker: int, seed: int, wallets: list[int], hot: list[int]) -> dict[str, float]:
    from django.db import connections

    rng = random.Random(seed)  # noqa: S311 - benchmark data
    plans = []
    for _w in range(workers):
        plan = []
        for _n in range(per_worker):
            if kind == "spread":
                a, b = rng.sample(wallets, 2)
            else:
                a, b = rng.choice(hot), rng.choice(wallets)
            plan.append((kind, a, b))
        plans.append(plan)
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(plan, barrier, results)) for plan in plans]
    for proc in procs:
        proc.start()
    barrier.wait()
    start = time.perf_counter()
    collected = [results.get(timeout=1800) for _ in procs]
    elapsed = time.perf_counter() - start
    for proc in procs:
        proc.join()
    return {"rate": sum(c for c, _d, _f in collected) / elapsed, "deadlocks": sum(d for _c, d, _f in collected),
            "failures": sum(f for _c, _d, f in collected)}


def main(argv: list[str]) -> int:
    command, url = argv[0], argv[1]
    setup_django(url)
    if command == "setup":
        print(json.dumps(setup(url, int(argv[2]))))
    else:
        kind, workers, per_worker, seed = argv[2], int(argv[3]), int(argv[4]), int(argv[5])
        print(json.dumps(run(kind, workers, per_worker, seed, json.loads(argv[6]), json.loads(argv[7]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
