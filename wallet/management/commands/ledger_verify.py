"""`manage.py ledger_verify`: check the whole ledger against its invariants (balanced legs per
currency, at least two legs, reversals mirroring their original, balances and holds equal to the
sum of what was posted, wallets never negative, the database's immutability triggers in place)
and name the first problem and the rows that break it."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from wallet.ledger import ledger_problem_rows, ledger_verify

# How many rows of one problem are named (the JSON report lists them all).
SHOWN = 5


class Command(BaseCommand):
    help = ("Check the ledger's invariants; exit 1 and name the first broken one and its transactions or "
            "accounts if it does not hold.")
    # Run against a live system by finance or an auditor: it needs only the database.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true",
                            help="Print the result as JSON: ok, and every problem with its rows.")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = ledger_verify()
        if options["json"]:
            self.stdout.write(json.dumps({
                "ok": not problems,
                "problems": [{"problem": name, "rows": ledger_problem_rows(name, rows)}
                             for name, rows in problems.items()],
            }, indent=2))
        elif not problems:
            self.stdout.write("ledger ok: every invariant holds")
        else:
            name, rows = next(iter(problems.items()))
            named = ", ".join(_describe(row) for row in ledger_problem_rows(name, rows[:SHOWN]))
            more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
            others = f" (also: {', '.join(list(problems)[1:])})" if len(problems) > 1 else ""
            self.stderr.write(f"ledger BROKEN: {name}: {named}{more}{others}")
        if problems:
            sys.exit(1)


def _describe(row: dict[str, Any]) -> str:
    if "transaction" in row:
        code = row["transaction"] or "(missing)"
        return f"transaction {code} (id {row['id']}{', ' + row['kind'] if row.get('kind') else ''})"
    if "account" in row:
        code = row["account"] or "(missing)"
        return f"account {code} (id {row['id']}, {row.get('kind', '')} {row.get('currency', '')})".replace(" )", ")")
    (subject, value), = row.items()
    return f"{subject} {value}"
