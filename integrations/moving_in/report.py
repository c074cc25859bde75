"""The reports of a run as CSV: the bad rows (file, line, column, problem) and the reconciliation of
money (per client and currency: the old system's balance, the wallet's, the difference; then the
totals per currency). Cells go through the CSV-safe writer (plumbing.csvsafe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrations.moving_in.importer import ImportReport
from plumbing.csvsafe import SafeCsvWriter

PROBLEM_HEADER = ("file", "line", "column", "problem")
RECONCILIATION_HEADER = ("client_old_id", "client_code", "currency", "old_balance", "wallet_balance", "difference")


def problems_write(report: ImportReport, writer: Any) -> int:
    writer.writerow(PROBLEM_HEADER)
    for problem in report.problems:
        writer.writerow((problem.file, problem.line or "", problem.column, problem.problem))
    return len(report.problems)


def reconciliation_write(report: ImportReport, writer: Any) -> int:
    writer.writerow(RECONCILIATION_HEADER)
    for row in report.reconciliation:
        writer.writerow((row.client_old_id, row.client_code, row.currency, row.old_balance, row.wallet_balance,
                         row.difference))
    for currency, (old, new) in report.totals().items():
        writer.writerow(("TOTAL", "", currency, old, new, new - old))
    return len(report.reconciliation)


def report_files_write(report: ImportReport, directory: Path) -> list[Path]:
    """errors.csv and reconciliation.csv in `directory` (made if missing); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, write in (("errors.csv", problems_write), ("reconciliation.csv", reconciliation_write)):
        path = directory / name
        with path.open("w", encoding="utf-8", newline="") as stream:
            write(report, SafeCsvWriter(stream))
        written.append(path)
    return written
