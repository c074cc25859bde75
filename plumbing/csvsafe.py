"""CSV cells that spreadsheet programs will not run: the one rule for every CSV (and XLSX) the CRM
writes.

Excel, LibreOffice and Google Sheets treat a cell starting with `=`, `+`, `-` or `@` as a formula
(CSV injection: `=HYPERLINK(...)` in a lead's name becomes a link, or worse, in the spreadsheet of
whoever opens the export). A leading tab or carriage return is refused too: some programs strip
it and then read the formula behind it. Such a cell gets a leading apostrophe, which spreadsheets
show as text and hide. A negative number is a number, not text, and is written as it is.

An XLSX sheet (`SafeXlsxWriter`) takes the same rule for its text cells, so a name reads the same
in both files and a sheet saved again as CSV stays harmless; numbers stay numbers and times become
real date cells (in UTC: a sheet has no time zones).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any, Protocol

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


def sheet_cell(value: Any) -> Any:
    """`value` as an XLSX cell: text through csv_cell (never a formula, no character XML refuses),
    numbers and dates as they are, aware times as UTC (a sheet cannot hold a time zone)."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    if isinstance(value, date):
        return value
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", csv_cell(value))


class SafeXlsxWriter:
    """One sheet of an .xlsx file written row by row, every cell through sheet_cell. openpyxl's
    write-only mode keeps the rows in a temporary file, not in memory; `save` writes the file."""

    def __init__(self, sheet: str = "Sheet") -> None:
        from openpyxl import Workbook

        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title=sheet[:31] or "Sheet")

    def writerow(self, row: Iterable[Any]) -> None:
        self._sheet.append([sheet_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)

    def save(self, stream: IO[bytes]) -> None:
        self._book.save(stream)
