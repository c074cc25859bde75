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
    Market Bid [Bid], Market Ask [Ask]
                        optional: the market's bid and ask when the deal was made (MT5's
                        IMTDeal::MarketBid and MarketAsk, the columns of its deal exports); both
                        or neither on a row, the ask not below the bid
    Spread              optional: the market's spread (ask - bid) at the deal in price units
                        (0.00012 on EURUSD at 1.08500), below the deal's price
    Spread Points       optional instead of Spread: the spread in points [Spread (points)],
                        with the symbol's Digits column (5 on EURUSD: 12 points = 0.00012)

A row's spread (Spread, Spread Points, or Market Ask - Market Bid; when both are given they must
agree) is what the commission engine's spread basis reads for the deal (ask - bid x volume x
contract size); a deal without one falls back to the symbol's markup per lot. Re-importing a file
with these columns over deals imported without them fills them in (the deals' content is
otherwise unchanged); a file without them never clears them.

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
    "bid": ("marketbid", "bid"),
    "ask": ("marketask", "ask"),
    "spread": ("spread", "marketspread"),
    "spread_points": ("spreadpoints", "spread(points)", "spreadinpoints", "spreadpts"),
    "digits": ("digits",),
}
REQUIRED = ("time", "deal", "login", "type", "profit")
# The labels the files use, for messages: the header as the file wrote it wins.
LABELS = {"time": "Time", "deal": "Deal", "login": "Login", "type": "Type", "profit": "Profit",
          "entry": "Direction", "order": "Order", "position": "Position", "symbol": "Symbol", "volume": "Volume",
          "price": "Price", "commission": "Commission", "swap": "Swap", "fee": "Fee", "comment": "Comment",
          "reason": "Reason", "bid": "Market Bid", "ask": "Market Ask", "spread": "Spread",
          "spread_points": "Spread Points", "digits": "Digits"}

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
PRICE_DECIMALS = 10  # trading_deal's prices: NUMERIC(24, 10)
PRICE_LIMIT = Decimal(10) ** 14
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_DECIMALS)


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
    if "spread" in found and "spread_points" in found:
        problems.append(f"columns {labels['spread']!r} and {labels['spread_points']!r} both give the spread: "
                        "keep one")
    if "spread_points" in found and "digits" not in found:
        problems.append(f"column {labels['spread_points']!r} is in points: the file needs a Digits column (the "
                        "symbol's decimals) to read it as a price")
    if ("bid" in found) != ("ask" in found):
        given, other = ("bid", "ask") if "bid" in found else ("ask", "bid")
        problems.append(f"column {labels[given]!r} needs its {LABELS[other]} column too")
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
    bid, ask, spread = _row_market(cells, values.get("price"))
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
        market_bid=bid, market_ask=ask, raw=raw, market_spread=spread,
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


def _price(cells: _Cells, name: str) -> Decimal | None:
    """A price cell (None when empty): a number the deals table holds, not negative."""
    text = cells.cell(name)
    if not text:
        return None
    try:
        value = _number(text)
    except (InvalidOperation, ValueError):
        cells.bad(name, f"{text!r} is not a number")
        return None
    if value < 0:
        cells.bad(name, f"{text!r} is negative")
    elif value >= PRICE_LIMIT:
        cells.bad(name, f"{text!r} is too large")
    elif value != value.quantize(PRICE_QUANTUM):
        cells.bad(name, f"{text!r} has more than {PRICE_DECIMALS} decimals")
    else:
        return value
    return None


def _row_market(cells: _Cells, price: Decimal | None) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """The row's market bid, ask and spread (price units). A bid and ask of 0 both are unknown (as
    MT5 reports them on balance deals); the spread is kept only when the bid and ask are not given
    (they say it); given both ways, they must agree."""
    if bool(cells.cell("bid")) != bool(cells.cell("ask")):
        given, other = ("bid", "ask") if cells.cell("bid") else ("ask", "bid")
        cells.bad(other, f"empty while {cells.labels[given]} is given: give both or neither")
        return None, None, None
    bid, ask = _price(cells, "bid"), _price(cells, "ask")
    if bid == 0 and ask == 0:
        bid = ask = None
    if bid is not None and ask is not None:
        if bid == 0 or ask == 0:
            cells.bad("bid" if bid == 0 else "ask", "0 beside a market price that is not 0")
        elif ask < bid:
            cells.bad("ask", f"{cells.cell('ask')!r} is below the bid {cells.cell('bid')!r}")
    spread = _row_spread(cells, price)
    if spread is not None and bid is not None and ask is not None and spread != ask - bid:
        name = "spread" if "spread" in cells.found else "spread_points"
        cells.bad(name, f"{cells.cell(name)!r} is not the ask minus the bid ({format(ask - bid, 'f')})")
    if bid is not None and ask is not None:
        return bid, ask, None
    return None, None, spread


def _row_spread(cells: _Cells, price: Decimal | None) -> Decimal | None:
    """The row's spread in price units, from Spread, or from Spread Points and Digits."""
    if "spread_points" in cells.found:
        points = _price(cells, "spread_points")
        if points is None:
            return None
        digits_text = cells.cell("digits")
        if not re.fullmatch(r"\d{1,2}", digits_text) or int(digits_text) > PRICE_DECIMALS:
            why = (f"{digits_text!r} is not the symbol's decimals (0 to {PRICE_DECIMALS})" if digits_text
                   else "empty")
            cells.bad("digits", f"{why}: the spread in points needs the symbol's decimals")
            return None
        in_price = points.scaleb(-int(digits_text))
        if in_price != in_price.quantize(PRICE_QUANTUM):
            cells.bad("spread_points", f"{cells.cell('spread_points')!r} points of {digits_text} digits have more "
                      f"than {PRICE_DECIMALS} decimals")
            return None
        return in_price
    spread = _price(cells, "spread")
    if spread is not None and price is not None and price > 0 and spread >= price:
        cells.bad("spread", f"{cells.cell('spread')!r} is not below the deal's price {cells.cell('price')!r}: the "
                  "Spread column is in price units (a spread in points goes in a Spread Points column, with Digits)")
        return None
    return spread


def market_prices_fill(server_id: int, deals: Iterable[Deal]) -> int:
    """The file's market bid, ask and spread on its deals already stored with the same content
    (the content hash leaves them out, as a platform never edits them): a report giving them for
    deals imported before without them fills them in. Only deals the file gives them for; how many
    deals changed (their updated_at moves, so the commission engine's increments recompute them)."""
    from django.db import connection

    from plumbing.sqlfiles import sql_text

    given = [d for d in deals if d.market_bid is not None or d.market_spread is not None]
    if not given:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(sql_text("trading", "deal_import/market_fill"), {
            "server_id": server_id, "deal_id": [d.deal_id for d in given], "time": [d.time for d in given],
            "market_bid": [_text(d.market_bid) for d in given], "market_ask": [_text(d.market_ask) for d in given],
            "market_spread": [_text(d.market_spread) for d in given]})
        return int(cursor.rowcount)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


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
