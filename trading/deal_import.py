"""Reading an MT5 deal report (CSV) into platform deals, for `manage.py trading_import_deals`.

The deals are stored by the sync's own idempotent upsert (trading.sync.deals_store): a deal
already stored with the same content is unchanged, one whose content differs is updated (an
edit, "trading.deal_edited"), a new one is inserted. Every row is checked before anything is
written; a file with a bad row writes nothing and the errors name the row and the column.

Accepted columns (header names are matched ignoring case, spaces, dots and underscores; the
alternatives in brackets are accepted too):

    Time      required  server time: 2024.03.01 12:34:56[.123], 2024-03-01 12:34:56, ISO 8601
    Deal      required  the deal ticket                                   [Ticket, Deal ID]
    Login     required  the trading account                               [Account]
    Type      required  buy, sell, balance, credit, charge, correction, bonus, commission,
                        commission daily/monthly, agent daily/monthly, or the MT5 action number
                                                                          [Action]
    Profit    required                                                    [P/L]
    Direction           in, out, in/out, out by (or 0-3); required for buy and sell  [Entry]
    Order, Position, Symbol, Volume (lots) [Lots], Price, Commission, Swap [Storage], Fee,
    Comment, Reason     optional (0 or empty when absent)

Numbers may use spaces as thousands separators (as MT5 reports do). Times are the server's
wall clock, converted to UTC with the server's time zone (or fixed offset), as the sync does.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from plumbing.tables import text_decode
from trading.adapters.base import Deal, DealEntry, DealKind, ServerClock, Side
from trading.adapters.mt5_web import ACTION_KIND

COLUMNS: dict[str, tuple[str, ...]] = {
    "time": ("time", "date", "datetime", "dealtime", "timeserver"),
    "deal": ("deal", "ticket", "dealid", "deal#", "dealticket"),
    "login": ("login", "account", "accountlogin"),
    "type": ("type", "action", "dealtype"),
    "profit": ("profit", "p/l", "pl"),
    "entry": ("direction", "entry", "dealentry"),
    "order": ("order", "orderid", "order#"),
    "position": ("position", "positionid", "position#"),
    "symbol": ("symbol", "instrument"),
    "volume": ("volume", "lots", "size"),
    "price": ("price",),
    "commission": ("commission", "comm"),
    "swap": ("swap", "storage", "swaps"),
    "fee": ("fee", "fees"),
    "comment": ("comment", "comments"),
    "reason": ("reason",),
}
REQUIRED = ("time", "deal", "login", "type", "profit")
# The labels the files use, for messages: the header as the file wrote it wins.
LABELS = {"time": "Time", "deal": "Deal", "login": "Login", "type": "Type", "profit": "Profit",
          "entry": "Direction", "order": "Order", "position": "Position", "symbol": "Symbol", "volume": "Volume",
          "price": "Price", "commission": "Commission", "swap": "Swap", "fee": "Fee", "comment": "Comment",
          "reason": "Reason"}

TYPES = {
    "buy": 0, "sell": 1, "balance": 2, "credit": 3, "charge": 4, "correction": 5, "bonus": 6,
    "commission": 7, "commissiondaily": 8, "commissionmonthly": 9, "agentdaily": 10, "agentmonthly": 11,
    "interest": 12, "buycanceled": 13, "sellcanceled": 14, "dividend": 15, "dividendfranked": 16, "tax": 17,
    "agent": 18,
}
ENTRIES = {"in": DealEntry.IN, "0": DealEntry.IN, "out": DealEntry.OUT, "1": DealEntry.OUT,
           "inout": DealEntry.INOUT, "in/out": DealEntry.INOUT, "2": DealEntry.INOUT,
           "outby": DealEntry.OUT_BY, "out_by": DealEntry.OUT_BY, "3": DealEntry.OUT_BY}
TIME_FORMATS = ("%Y.%m.%d %H:%M:%S.%f", "%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M", "%Y-%m-%d %H:%M:%S.%f",
                "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
                "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_ROWS = 2_000_000


def _key(header: str) -> str:
    return re.sub(r"[\s._]+", "", header.strip().lower())


@dataclass
class ParsedFile:
    deals: list[Deal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows: int = 0


class ReportUnreadable(Exception):
    """The file is not a deal report this reader understands (encoding, header)."""


def decode(data: bytes) -> str:
    """The report as text: UTF-16 by its byte-order mark (MT5's exports often are), else UTF-8 (plumbing.tables)."""
    return text_decode(data)


def _columns(header: list[str]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Each known column's index and label as the file wrote it; the problems with the header."""
    lookup = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    labels: dict[str, str] = {}
    problems: list[str] = []
    for index, title in enumerate(header):
        name = lookup.get(_key(title))
        if name is None:
            continue
        if name in found:
            problems.append(f"columns {labels[name]!r} and {title.strip()!r} both give {LABELS[name]}")
            continue
        found[name], labels[name] = index, title.strip()
    missing = [LABELS[n] for n in REQUIRED if n not in found]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)} (found: {', '.join(h.strip() for h in header)})")
    return found, labels, problems


def _number(text: str) -> Decimal:
    text = text.replace("\u00a0", "").replace(" ", "").strip()
    if "," in text:
        text = text.replace(",", "") if "." in text else text.replace(",", ".")
    value = Decimal(text or "0")
    if not value.is_finite():
        raise InvalidOperation
    return value


def _integer(text: str) -> int:
    text = text.replace("\u00a0", "").replace(" ", "").strip()
    if not re.fullmatch(r"\d{1,19}", text):
        raise ValueError
    return int(text)


def _time(text: str) -> dt.datetime:
    text = text.strip()
    for fmt in TIME_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)  # the server's wall clock, read as-is
        except ValueError:
            continue
    raise ValueError


def parse(text: str, *, clock: ServerClock) -> ParsedFile:
    """The report's deals, or the problems of each bad row ("row 7, column Volume: ...")."""
    result = ParsedFile()
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if not header:
        raise ReportUnreadable("The file is empty.")
    found, labels, problems = _columns(header)
    if problems:
        raise ReportUnreadable("; ".join(problems))
    seen: dict[int, tuple[int, Deal]] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        result.rows += 1
        if result.rows > MAX_ROWS:
            raise ReportUnreadable(f"More than {MAX_ROWS} rows: split the file.")
        deal, errors = _row(row, line, found, labels, header, clock)
        result.errors += errors
        if deal is None:
            continue
        earlier = seen.get(deal.deal_id)
        if earlier is not None and earlier[1] != deal:
            result.errors.append(f"row {line}, column {labels['deal']}: deal {deal.deal_id} is also on row "
                                 f"{earlier[0]} with other values")
            continue
        seen[deal.deal_id] = (line, deal)
    result.deals = [deal for _line, deal in seen.values()]
    return result


class _Cells:
    """One row of the file, read by column name; its problems collected in `errors`."""

    def __init__(self, row: list[str], line: int, found: dict[str, int], labels: dict[str, str]) -> None:
        self.row, self.line, self.found, self.labels = row, line, found, labels
        self.errors: list[str] = []

    def cell(self, name: str) -> str:
        index = self.found.get(name)
        return self.row[index].strip() if index is not None and index < len(self.row) else ""

    def bad(self, name: str, why: str) -> None:
        self.errors.append(f"row {self.line}, column {self.labels.get(name, LABELS[name])}: {why}")


def _row(row: list[str], line: int, found: dict[str, int], labels: dict[str, str], header: list[str],
         clock: ServerClock) -> tuple[Deal | None, list[str]]:
    cells = _Cells(row, line, found, labels)
    cell = cells.cell
    for name in REQUIRED:
        if name != "profit" and not cell(name):
            cells.bad(name, "empty")
    values = _row_numbers(cells)
    server_time = _row_time(cells)
    action = _row_action(cells)
    kind = ACTION_KIND.get(action, DealKind.OTHER) if action is not None else None
    entry = _row_entry(cells) if kind is DealKind.TRADE else DealEntry.NONE
    _row_limits(cells, values)
    if cells.errors or server_time is None or action is None or kind is None:
        return None, cells.errors
    platform_msc = int((server_time - EPOCH).total_seconds() * 1000)
    raw = {header[i].strip(): (row[i] if i < len(row) else "") for i in range(len(header)) if header[i].strip()}
    raw["_source"] = "csv_import"
    return Deal(
        deal_id=values["deal"], login=values["login"], time=clock.to_utc_msc(platform_msc),
        platform_time_msc=platform_msc, kind=kind, action=action, entry=entry,
        side=Side.BUY if action == 0 else Side.SELL if action == 1 else None,
        position_id=values["position"], order_id=values["order"], symbol=cell("symbol"),
        volume=values["volume"], price=values["price"], profit=values["profit"], commission=values["commission"],
        swap=values["swap"], fee=values["fee"], comment=cell("comment"), reason=values["reason"],
        market_bid=None, market_ask=None, raw=raw,
    ), []


def _row_numbers(cells: _Cells) -> dict[str, Any]:
    """The row's whole numbers (an empty one is 0) and amounts, by column name."""
    values: dict[str, Any] = {}
    for name in ("deal", "login", "order", "position", "reason"):
        text = cells.cell(name)
        if not text:
            values[name] = 0
            continue
        try:
            values[name] = _integer(text)
        except ValueError:
            cells.bad(name, f"{text!r} is not a whole number")
    for name in ("volume", "price", "profit", "commission", "swap", "fee"):
        try:
            values[name] = _number(cells.cell(name))
        except (InvalidOperation, ValueError):
            cells.bad(name, f"{cells.cell(name)!r} is not a number")
    return values


def _row_time(cells: _Cells) -> dt.datetime | None:
    if not cells.cell("time"):
        return None
    try:
        return _time(cells.cell("time"))
    except ValueError:
        cells.bad("time", f"{cells.cell('time')!r} is not a date and time (e.g. 2024.03.01 12:34:56)")
        return None


def _row_action(cells: _Cells) -> int | None:
    """The deal's type as the platform numbers it (by number or by name)."""
    type_text = cells.cell("type")
    if not type_text:
        return None
    key = _key(type_text)
    action = int(key) if key.isdigit() else TYPES.get(key)
    if action is None:
        cells.bad("type", f"{type_text!r} is not a deal type (buy, sell, balance, credit, ...)")
    return action


def _row_entry(cells: _Cells) -> DealEntry:
    """A trade's direction, which a buy or sell deal must give."""
    entry_text = _key(cells.cell("entry")) if cells.cell("entry") else ""
    if not entry_text:
        cells.bad("entry", "empty: a buy or sell deal needs its direction (in, out, in/out, out by)")
    elif entry_text not in ENTRIES:
        cells.bad("entry", f"{cells.cell('entry')!r} is not a direction (in, out, in/out, out by)")
    else:
        return ENTRIES[entry_text]
    return DealEntry.NONE


def _row_limits(cells: _Cells, values: dict[str, Any]) -> None:
    """What the deals table cannot hold, or a ticket or login of 0."""
    if values.get("volume", Decimal(0)) < 0:
        cells.bad("volume", "negative")
    if values.get("deal") == 0 and cells.cell("deal"):
        cells.bad("deal", "0 is not a deal ticket")
    if len(cells.cell("symbol")) > 32:
        cells.bad("symbol", "longer than 32 characters")
    if len(cells.cell("comment")) > 64:
        cells.bad("comment", "longer than 64 characters")
    if values.get("reason", 0) > 32767:
        cells.bad("reason", "too large")
    if values.get("login") == 0 and cells.cell("login"):
        cells.bad("login", "0 is not a login")


def known_logins(server_id: int, logins: Iterable[int]) -> set[int]:
    from trading.models import TradingAccount

    return set(TradingAccount.objects.filter(server_id=server_id, login__in=set(logins))
               .values_list("login", flat=True))


def deals_known_since_own_time(server_id: int, deal_ids: Iterable[int]) -> int:
    """A migration's history: the imported deals count as known since their own time (not since the
    import), so that a commission run as of a past moment reads what the old system knew then. Only
    moves first_seen_at earlier; how many deals it moved."""
    from django.db.models import F

    from trading.models import Deal as DealRow

    return (DealRow.objects.filter(server_id=server_id, deal_id__in=set(deal_ids), first_seen_at__gt=F("time"))
            .update(first_seen_at=F("time")))
