"""The dealer's exposure: open positions (as the account state sync last saw them) summed by symbol,
by client and by account, over the live accounts of the clients a user may see.

Volumes are lots, buy minus sell ("net"; positive is long). Floating P/L is profit plus swap in the
account's currency, and is only ever summed within one currency: a total is a {currency: amount}
map, never one number (adding yen to dollars means nothing). Lots of one symbol are summed across
servers and currencies: a lot of EURUSD is the same contract whatever the deposit currency.

Every read is one statement over the positions (its parts each a grouped read of the positions
summed per account and symbol) and one query of the clients it names, whatever the number of
positions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from psycopg import sql

from crm.models import Client
from crm.permissions import client_queryset_for_user, client_scope_brand_wide
from plumbing.sqlfiles import orm_sql, sql_file
from trading.adapters.base import Side
from trading.models import ExposureRow, PlatformServer, Position

TOP_ACCOUNTS = 10
TOP_CLIENTS = 25
CHART_SYMBOLS = 15
ZERO = Decimal(0)


@dataclass
class Exposure:
    """Lots and P/L of a group of positions (a symbol, a client, an account)."""

    positions: int = 0
    buy: Decimal = ZERO
    sell: Decimal = ZERO
    pnl: dict[str, Decimal] = field(default_factory=dict)  # currency -> floating P/L

    @property
    def net(self) -> Decimal:
        return self.buy - self.sell

    @property
    def gross(self) -> Decimal:
        return self.buy + self.sell

    @property
    def pnl_items(self) -> list[tuple[str, Decimal]]:
        return sorted(self.pnl.items())


@dataclass
class SymbolExposure(Exposure):
    symbol: str = ""
    clients: int = 0


@dataclass
class ClientExposure(Exposure):
    client: Client | None = None
    accounts: int = 0
    symbols: list[tuple[str, Decimal]] = field(default_factory=list)  # (symbol, net lots), largest first


@dataclass(frozen=True)
class AccountExposure:
    account_id: int
    login: int
    server: str
    currency: str
    client: Client
    positions: int
    buy: Decimal
    sell: Decimal
    pnl: Decimal

    @property
    def net(self) -> Decimal:
        return self.buy - self.sell

    @property
    def gross(self) -> Decimal:
        return self.buy + self.sell


@dataclass
class ExposureReport:
    symbols: list[SymbolExposure]
    clients: list[ClientExposure]
    client_count: int
    top_by_volume: list[AccountExposure]
    top_by_profit: dict[str, list[AccountExposure]]  # currency -> winners, most profitable first
    total: Exposure
    as_of: dt.datetime | None = None  # read from the read model: the oldest of its brands' polls

    @property
    def currencies(self) -> list[str]:
        return sorted(self.total.pnl)

    def chart_data(self) -> dict[str, Any]:
        """What the page's charts draw: net lots of the symbols with the largest net exposure, and
        per currency the floating P/L of the symbols held in it. Numbers travel as text."""
        biggest = sorted(self.symbols, key=lambda s: (-abs(s.net), s.symbol))[:CHART_SYMBOLS]
        pnl: dict[str, dict[str, list[Any]]] = {}
        for currency in self.currencies:
            held = sorted((s for s in self.symbols if currency in s.pnl), key=lambda s: (-abs(s.pnl[currency]),
                                                                                          s.symbol))
            held = held[:CHART_SYMBOLS]
            pnl[currency] = {"labels": [s.symbol for s in held], "values": [str(s.pnl[currency]) for s in held]}
        return {"net": {"labels": [s.symbol for s in biggest], "values": [str(s.net) for s in biggest]},
                "pnl": pnl}


_BUY = Q(side=Side.BUY.value)
_SELL = Q(side=Side.SELL.value)
_FLOATING = F("profit") + F("swap")


# Lots bought and sold (each query takes its own copy of these).
_BUY_LOTS = Sum("volume", filter=_BUY, default=ZERO)
_SELL_LOTS = Sum("volume", filter=_SELL, default=ZERO)


def position_queryset_for_user(*, user: Any, server: PlatformServer | None = None) -> QuerySet[Position]:
    """Open positions on live accounts of the clients `user` may see (scoped in SQL)."""
    qs = Position.objects.filter(account__is_demo=False,
                                 account__client_id__in=client_queryset_for_user(user).order_by().values("pk"))
    if server is not None:
        qs = qs.filter(server=server)
    return qs


def _statement(positions: QuerySet[Position]) -> tuple[sql.Composed, list[Any]]:
    """trading/sql/exposure/report.sql over `positions` (summed per account and symbol by the ORM,
    its values parameters; the report's columns, in order: part, symbol, currency, client_id,
    account_id, login, server, n, buy, sell, pnl, count)."""
    grouped = positions.order_by().values(
        "account_id", "symbol", g_login=F("account__login"), g_server=F("server__name"),
        g_currency=F("account__currency"), g_client=F("account__client_id"),
    ).annotate(n=Count("id"), buy=_BUY_LOTS, sell=_SELL_LOTS, pnl=Sum(_FLOATING, default=ZERO))
    text, params = grouped.query.sql_with_params()
    report = sql_file("trading", "exposure/report", positions=orm_sql(text), top_clients=sql.Literal(TOP_CLIENTS),
                      top_accounts=sql.Literal(TOP_ACCOUNTS))
    return report, list(params)


def brand_positions(*, brand_id: int, server_id: int | None = None) -> QuerySet[Position]:
    """Open positions on live accounts of the brand's clients (of one server, if given): what the
    read model (ExposureRow) sums per brand."""
    qs = Position.objects.filter(account__is_demo=False, account__client__brand_id=brand_id)
    return qs.filter(server_id=server_id) if server_id is not None else qs


def _summed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows of several brands' reports (ExposureRow) as one report of them all gives them: a
    client belongs to one brand, so counts of clients add up, and the largest of all are among
    the largest of each brand."""
    symbols: dict[str, list[Any]] = {}
    symbol_pnl: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    clients = 0
    top: list[tuple[Any, ...]] = []
    client_parts: list[tuple[Any, ...]] = []
    volume: list[tuple[Any, ...]] = []
    winners: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        part, symbol, currency, _client, _account, _login, _server, n, buy, sell, pnl, count = row
        if part == "symbol":
            if symbol in symbols:
                entry = symbols[symbol]
                entry[7:10] = [entry[7] + n, entry[8] + buy, entry[9] + sell]
                entry[11] += count
            else:
                symbols[symbol] = list(row)
        elif part == "symbol_pnl":
            symbol_pnl[symbol, currency] += pnl
        elif part == "clients":
            clients += count
        elif part == "client":
            top.append(row)
        elif part in ("client_symbol", "client_pnl"):
            client_parts.append(row)
        elif part == "volume":
            volume.append(row)
        else:
            winners[currency].append(row)
    top = sorted(top, key=lambda r: (-(r[8] + r[9]), r[3]))[:TOP_CLIENTS]
    chosen = {r[3] for r in top}
    out = [tuple(entry) for entry in symbols.values()]
    out += [("symbol_pnl", symbol, currency, None, None, None, None, None, None, None, pnl, None)
            for (symbol, currency), pnl in symbol_pnl.items()]
    out.append(("clients", None, None, None, None, None, None, None, None, None, None, clients))
    out += top
    out += [r for r in client_parts if r[3] in chosen]
    out += sorted(volume, key=lambda r: (-(r[8] + r[9]), r[4]))[:TOP_ACCOUNTS]
    for currency in sorted(winners):
        out += sorted(winners[currency], key=lambda r: (-r[10], r[4]))[:TOP_ACCOUNTS]
    return out


def exposure_for_user(*, user: Any, server: PlatformServer | None = None) -> ExposureReport:
    """Net lots and floating P/L by symbol, by client (the `TOP_CLIENTS` largest by lots), the
    accounts with the most lots open and, per currency, those with the largest floating profit.

    A scope of whole brands reads the read model (ExposureRow: the report of each brand as of the
    last poll, merged); a book of clients is summed from its open positions in one statement
    (trading/sql/exposure/report.sql). One more query names the clients.
    """
    scope = client_scope_brand_wide(user)
    if scope is None:
        return exposure_from_positions(user=user, server=server)
    stored = ExposureRow.objects.filter(server_key=server.pk if server is not None else 0)
    if scope.brand_ids is not None:
        stored = stored.filter(brand_id__in=scope.brand_ids)
    rows = list(stored.order_by().values_list(
        "part", "symbol", "currency", "client_id", "account_id", "login", "server_name", "positions", "buy", "sell",
        "pnl", "count", "refreshed_at"))
    report = _report(_summed([row[:12] for row in rows]))
    report.as_of = min((row[12] for row in rows), default=None)
    return report


def exposure_from_positions(*, user: Any, server: PlatformServer | None = None) -> ExposureReport:
    """The report summed from the open positions `user` may see, now (one statement)."""
    report, params = _statement(position_queryset_for_user(user=user, server=server))
    with connection.cursor() as cursor:
        cursor.execute(report.as_string(None), params)
        return _report(cursor.fetchall())


def _report(rows: list[tuple[Any, ...]]) -> ExposureReport:
    total = Exposure()
    symbols: dict[str, SymbolExposure] = {}
    clients: dict[int, ClientExposure] = {}
    nets: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    client_count = 0
    volume: list[tuple[Any, ...]] = []
    winners: list[tuple[Any, ...]] = []
    for part, symbol, currency, client_id, account_id, login, server_name, n, buy, sell, pnl, count in rows:
        if part == "symbol":
            symbols[symbol] = SymbolExposure(symbol=symbol, positions=n, buy=buy, sell=sell, clients=count)
            total.positions += n
            total.buy += buy
            total.sell += sell
        elif part == "symbol_pnl":
            symbols[symbol].pnl[currency] = pnl
            total.pnl[currency] = total.pnl.get(currency, ZERO) + pnl
        elif part == "clients":
            client_count = count
        elif part == "client":
            clients[client_id] = ClientExposure(positions=n, buy=buy, sell=sell, accounts=count)
        elif part == "client_symbol":
            nets[client_id].append((symbol, buy - sell))
        elif part == "client_pnl":
            clients[client_id].pnl[currency] = pnl
        else:
            (volume if part == "volume" else winners).append(
                (account_id, login, server_name, currency, client_id, n, buy, sell, pnl))

    names = Client.objects.select_related("brand").in_bulk({*clients, *(row[4] for row in [*volume, *winners])})
    for pk, entry in clients.items():
        entry.client = names[pk]
        entry.symbols = sorted(nets[pk], key=lambda s: (-abs(s[1]), s[0]))

    def account(row: tuple[Any, ...]) -> AccountExposure:
        account_id, login, server_name, currency, client_id, n, buy, sell, pnl = row
        return AccountExposure(account_id=account_id, login=login, server=server_name, currency=currency,
                               client=names[client_id], positions=n, buy=buy, sell=sell, pnl=pnl)

    top_by_profit: dict[str, list[AccountExposure]] = defaultdict(list)
    for row in winners:
        top_by_profit[row[3]].append(account(row))
    return ExposureReport(
        symbols=sorted(symbols.values(), key=lambda s: (-abs(s.net), -s.gross, s.symbol)),
        clients=list(clients.values()), client_count=client_count,
        top_by_volume=[account(row) for row in volume], top_by_profit=dict(top_by_profit), total=total,
    )
