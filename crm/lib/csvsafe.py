"""CSV cells that spreadsheet programs will not run: the one rule for every CSV the CRM writes.

Excel, LibreOffice and Google Sheets treat a cell starting with `=`, `+`, `-` or `@` as a formula
(CSV injection: `=HYPERLINK(...)` in a lead's name becomes a link, or worse, in the spreadsheet of
whoever opens the export). A leading tab or carriage return is refused too: some programs strip
it and then read the formula behind it. Such a cell gets a leading apostrophe, which spreadsheets
show as text and hide. A negative number is a number, not text, and is written as it is.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """`value` as a CSV cell no spreadsheet will evaluate ("" for None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return str(value)  # -5 is a number to a spreadsheet, not a formula
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


class SafeCsvWriter:
    """csv.writer whose every cell goes through csv_cell."""

    def __init__(self, stream: _Writable, **fmtparams: Any) -> None:
        self._writer = csv.writer(stream, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
