"""`manage.py scale_seed --clients N --deals M --events K`: fill an empty database with a brokerage
of that size (demo/scale.py says what and how), then print rows/s per table and how long a
brokerage of 1,000,000 clients and 100,000,000 deals would take at the rates measured.

Not one of the demo's seed commands (demo.runner.SEED_COMMANDS): it is for measuring pages at
size, on a database made for it, not for `make run`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.scale import ScaleRefused, ScaleResult, scale_seed

TARGET_CLIENTS = 1_000_000
TARGET_DEALS = 100_000_000


class Command(BaseCommand):
    help = "Generate a brokerage of N clients, M deals and K events in an empty database (COPY), and time it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clients", type=int, required=True, help="clients to generate")
        parser.add_argument("--deals", type=int, required=True, help="platform deals over the live accounts")
        parser.add_argument("--events", type=int, required=True, help="timeline events")
        parser.add_argument("--access", type=int, default=None,
                            help="access events (profile views, reveals); default a quarter of --events")
        parser.add_argument("--ledger", type=int, default=None,
                            help="ledger transactions in all (deposits, transfers and withdrawals over the live "
                                 "accounts); default and least: a deposit and a transfer per live account")
        parser.add_argument("--seed", type=int, default=1, help="random seed (the same seed, the same data)")

    def handle(self, *args: Any, clients: int, deals: int, events: int, access: int | None, ledger: int | None,
               seed: int, verbosity: int = 1, **options: Any) -> None:
        def progress(line: str) -> None:
            if verbosity >= 1:
                self.stderr.write(f"scale_seed: {line}")

        try:
            result = scale_seed(clients=clients, deals=deals, events=events, access=access, ledger=ledger, seed=seed,
                                progress=progress)
        except ScaleRefused as refused:
            raise CommandError(str(refused)) from None
        for line in report(result, clients=clients, deals=deals):
            self.stdout.write(line)


def report(result: ScaleResult, *, clients: int, deals: int) -> list[str]:
    """Rows and rows/s per table, the total, and the time a brokerage of TARGET_CLIENTS clients and
    TARGET_DEALS deals would take: each table's time scaled by how many more of its rows there
    would be (deals by the deals, everything else by the clients), plus the fixed costs."""
    lines = []
    for table, rows in sorted(result.rows.items(), key=lambda item: -item[1]):
        seconds = result.seconds.get(table, 0.0)
        rate = rows / seconds if seconds else 0.0
        lines.append(f"{table}: {rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s)")
    for step, seconds in result.seconds.items():
        if step not in result.rows:
            lines.append(f"{step}: {seconds:.1f} s")
    lines.append(f"total: {result.total_rows:,} rows in {result.total_seconds:.1f} s "
                 f"({result.total_rows / max(result.total_seconds, 1e-9):,.0f} rows/s)")
    lines.append(f"at 1,000,000 clients and 100,000,000 deals: about {extrapolate(result, clients=clients, deals=deals) / 60:.0f} "
                 "minutes at these rates")
    return lines


def extrapolate(result: ScaleResult, *, clients: int, deals: int) -> float:
    """Seconds for TARGET_CLIENTS / TARGET_DEALS at the rates of `result` (linear in rows: COPY and
    a sorted index build are; staff, made through the services, a fixed cost)."""
    by_clients = TARGET_CLIENTS / clients
    by_deals = TARGET_DEALS / deals if deals else by_clients
    total = result.seconds.get("staff (services)", 0.0)
    for table, seconds in result.seconds.items():
        if table == "staff (services)":
            continue
        if table == "trading_deal":
            total += seconds * by_deals
        elif table == "indexes":
            # Most of the index build is over the deals (four of the indexes dropped, the most rows).
            share = result.rows.get("trading_deal", 0) / max(1, result.total_rows)
            total += seconds * (share * by_deals + (1 - share) * by_clients)
        else:
            total += seconds * by_clients
    return total
