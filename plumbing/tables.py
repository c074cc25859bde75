"""Reading the files people import (lead lists, MT5 deal reports, providers' settlement reports):
CSV text in whatever encoding a spreadsheet or a trading platform wrote it, and XLSX workbooks.

One place decides how bytes become text and how a workbook becomes rows; each importer keeps its own
columns, checks and messages.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from typing import Any


class TableUnreadable(ValueError):
    """The bytes are not a readable workbook (a damaged or mislabelled file)."""


def text_decode(data: bytes) -> str:
    """UTF-16 when a byte-order mark says so (MT5's exports often are), else UTF-8 (a BOM dropped),
    else Windows-1252 (Excel's "CSV" on Windows), else Latin-1, which decodes any bytes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def xlsx_rows(data: bytes) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row number from 1, the cells' values as stored) for every row of the first sheet.
    TableUnreadable when the bytes are not a workbook; the workbook is closed when the rows run out."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError) as exc:
        raise TableUnreadable(str(exc)) from exc
    try:
        yield from enumerate(book.worksheets[0].iter_rows(values_only=True), start=1)
    finally:
        book.close()


def cell_date_text(value: Any) -> Any:
    """A date or time cell as ISO text (a datetime keeps its time); anything else as it is."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
