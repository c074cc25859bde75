"""Reading settlement reports into SettlementLines: any provider's CSV or XLSX by a column mapping
(wallet.models.SettlementMapping holds one per provider, so a real report is read without code),
the PSP simulator's own file by a fixed mapping. Parsing only: matching comes later.

A bad line stops the import with SettlementParseError naming the row and the column, so nothing
of a file is taken half-read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext

from crm.lib.money import Money, MoneyError, amount_read, currency_normalise
from plumbing.tables import TableUnreadable, text_decode, xlsx_rows
from wallet.exceptions import SettlementParseError
from wallet.providers.base import SettlementLine

FIELDS = ("provider_ref", "merchant_ref", "kind", "amount", "currency", "fee", "value_date", "batch_id")
REQUIRED = ("provider_ref", "amount", "currency", "value_date")


@dataclass(frozen=True)
class ColumnMapping:
    """Which column holds each field, and how the file writes numbers, dates and signs.

    ``columns`` maps a field of FIELDS to a column name (with a header row) or a 1-based column
    number as text (without one). ``sign``: "signed" (amounts carry their sign), "by_kind" (amounts
    are positive; kinds in ``negative_kinds`` are money out), "debit_credit" is not needed here.
    ``kinds`` renames the provider's words to ours ("SALE" -> "payment")."""

    columns: Mapping[str, str]
    file_type: str = "csv"  # csv | xlsx
    header_row: int = 1  # 1-based line of the header; 0: no header
    delimiter: str = ","
    date_format: str = "%Y-%m-%d"
    decimal_separator: str = "."
    thousands_separator: str = ""
    sign: str = "signed"  # signed | by_kind
    negative_kinds: Sequence[str] = ("refund", "payout", "chargeback")
    fee_negative: bool = False  # the file writes fees as negative numbers
    kinds: Mapping[str, str] = field(default_factory=dict)
    default_currency: str = ""
    skip_kinds: Sequence[str] = ()  # lines of these kinds (after renaming) are left out (totals ...)


SIMULATOR_MAPPING = ColumnMapping(columns={
    "provider_ref": "provider_reference", "merchant_ref": "merchant_reference", "kind": "type",
    "amount": "amount", "currency": "currency", "fee": "fee", "value_date": "value_date", "batch_id": "batch_id",
})


def parse_settlement(data: bytes, filename: str, mapping: ColumnMapping) -> Iterator[SettlementLine]:
    memo: dict[tuple[str, str], Any] = {}
    for number, cells, index in _records(data, mapping):
        fields = _fields(number, cells, index, mapping, memo)
        if fields is None:
            continue
        provider_ref, merchant_ref, kind, amount, fee, currency, value_date, batch_id = fields
        raw = {name: _cell(cells, index, name) for name in index}
        yield SettlementLine(row=number, provider_ref=provider_ref, merchant_ref=merchant_ref, kind=kind,
                             amount=Money(amount, currency), fee=Money(fee, currency), value_date=value_date,
                             batch_id=batch_id, raw=raw)


Row = tuple[int, str, str, str, Decimal, Decimal, str, dt.date, str]


def settlement_rows(data: bytes, filename: str, mapping: ColumnMapping) -> Iterator[Row]:
    """The lines of parse_settlement as plain tuples (row, provider_ref, merchant_ref, kind, amount,
    fee, currency, value_date, batch_id), read and checked the same way, for bulk imports: no Money
    objects and no raw cells, each distinct currency and date text read once."""
    memo: dict[tuple[str, str], Any] = {}
    for number, cells, index in _records(data, mapping):
        fields = _fields(number, cells, index, mapping, memo)
        if fields is not None:
            yield (number, *fields)


def _records(data: bytes, mapping: ColumnMapping) -> Iterator[tuple[int, list[str], dict[str, int]]]:
    """The data rows with their line numbers and the column of each field."""
    rows = _xlsx_rows(data) if mapping.file_type == "xlsx" else _csv_rows(data, mapping.delimiter)
    header: list[str] | None = None
    index: dict[str, int] = {}
    for number, cells in rows:
        if mapping.header_row and number < mapping.header_row:
            continue
        if mapping.header_row and number == mapping.header_row:
            header = [c.strip() for c in cells]
            index = _resolve(header, mapping, number)
            continue
        if not header and not index:
            index = _resolve(None, mapping, number)
        if not any(c.strip() for c in cells):
            continue
        yield number, cells, index
    if mapping.header_row and header is None:
        raise SettlementParseError(gettext("The file has no header row (row %(row)d).") % {"row": mapping.header_row},
                                   row=mapping.header_row)


def _resolve(header: list[str] | None, mapping: ColumnMapping, row: int) -> dict[str, int]:
    index: dict[str, int] = {}
    for name, column in mapping.columns.items():
        if not column:
            continue
        if header is None:
            try:
                index[name] = int(column) - 1
            except ValueError:
                raise SettlementParseError(
                    gettext("Without a header row, columns are numbers; %(column)s is not.") % {"column": column},
                    row=row, column=column) from None
            continue
        folded = [h.casefold() for h in header]
        if column.casefold() not in folded:
            raise SettlementParseError(
                gettext("Row %(row)d: there is no column \u201c%(column)s\u201d (for %(field)s).")
                % {"row": row, "column": column, "field": name}, row=row, column=column)
        index[name] = folded.index(column.casefold())
    missing = [f for f in REQUIRED if f not in index and not (f == "currency" and mapping.default_currency)]
    if missing:
        raise SettlementParseError(gettext("The mapping names no column for: %(fields)s.")
                                   % {"fields": ", ".join(missing)}, row=row)
    return index


def _cell(cells: list[str], index: Mapping[str, int], name: str) -> str:
    position = index.get(name)
    if position is None or position >= len(cells):
        return ""
    return cells[position].strip()


# Beyond NUMERIC(28, 8)'s 20 integer digits an amount cannot be stored.
AMOUNT_LIMIT = Decimal(10) ** 20


def _fields(number: int, cells: list[str], index: Mapping[str, int], mapping: ColumnMapping,
            memo: dict[tuple[str, str], Any]) -> tuple[str, str, str, Decimal, Decimal, str, dt.date, str] | None:
    """One data row's fields, checked (SettlementParseError naming the row and the column); None
    for a kind left out. `memo` keeps the currencies and dates already read in this file."""
    def cell(name: str) -> str:
        return _cell(cells, index, name)

    def column(name: str) -> str:
        return mapping.columns.get(name, name)

    def fail(name: str, message: str) -> SettlementParseError:
        return SettlementParseError(
            gettext("Row %(row)d, column \u201c%(column)s\u201d: %(problem)s")
            % {"row": number, "column": column(name), "problem": message}, row=number, column=column(name))

    raw_kind = cell("kind")
    kind = mapping.kinds.get(raw_kind, mapping.kinds.get(raw_kind.casefold(), raw_kind.casefold())) or "payment"
    if kind in mapping.skip_kinds:
        return None
    provider_ref = cell("provider_ref")
    if not provider_ref:
        raise fail("provider_ref", gettext("the provider reference is empty."))
    currency_text = cell("currency") or mapping.default_currency
    currency = memo.get(("currency", currency_text))
    if currency is None:
        try:
            currency = currency_normalise(currency_text)
        except (MoneyError, ValueError):
            raise fail("currency", gettext("\u201c%(value)s\u201d is not a known currency.")
                       % {"value": cell("currency")}) from None
        memo[("currency", currency_text)] = currency
    amount = _decimal(cell("amount"), mapping)
    if amount is None or abs(amount) >= AMOUNT_LIMIT:
        raise fail("amount", gettext("\u201c%(value)s\u201d is not an amount.") % {"value": cell("amount")})
    if mapping.sign == "by_kind":
        amount = -abs(amount) if kind in mapping.negative_kinds else abs(amount)
    fee_text = cell("fee")
    fee = _decimal(fee_text, mapping) if fee_text else Decimal(0)
    if fee is None or abs(fee) >= AMOUNT_LIMIT:
        raise fail("fee", gettext("\u201c%(value)s\u201d is not an amount.") % {"value": fee_text})
    if mapping.fee_negative:
        fee = -fee
    date_text = cell("value_date")
    value_date = memo.get(("date", date_text))
    if value_date is None:
        value_date = _date(date_text, mapping.date_format)
        if value_date is None:
            raise fail("value_date", gettext("\u201c%(value)s\u201d is not a date like %(format)s.")
                       % {"value": date_text, "format": mapping.date_format})
        memo[("date", date_text)] = value_date
    return provider_ref, cell("merchant_ref"), kind, amount, fee, currency, value_date, cell("batch_id")


def _decimal(text: str, mapping: ColumnMapping) -> Decimal | None:
    value = text.replace("\u00a0", "").replace(" ", "")
    if mapping.thousands_separator:
        value = value.replace(mapping.thousands_separator, "")
    if mapping.decimal_separator != ".":
        value = value.replace(mapping.decimal_separator, ".")
    negative = value.startswith("(") and value.endswith(")")  # accountants' negatives
    value = value.strip("()")
    try:
        # Past the file's own separators, the one grammar of amounts: no exponent, no other digits.
        number = amount_read(value)
    except MoneyError:
        return None
    return -number if negative else number


def _date(text: str, fmt: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text[:10] if fmt == "%Y-%m-%d" else text, fmt).date()  # noqa: DTZ007 - a date
    except ValueError:
        pass
    try:
        return dt.date.fromisoformat(text[:10])  # an XLSX date cell, whatever the text format
    except ValueError:
        return None


def _csv_rows(data: bytes, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    yield from enumerate(csv.reader(io.StringIO(text_decode(data)), delimiter=delimiter or ","), start=1)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        for number, values in xlsx_rows(data):
            yield number, [_cell_text(v) for v in values]
    except TableUnreadable as exc:
        raise SettlementParseError(gettext("The file is not a readable XLSX workbook.")) from exc


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        # XLSX stores numbers as binary floats; the shortest repr is what the sheet showed, written
        # out in digits (1e-05 as 0.00001) for the one grammar of amounts.
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text and value == value and abs(value) != float("inf") else text
    return str(value)
