"""The dealer's exposure: open positions (as the account state sync last saw them) summed by symbol,
by client and by account, over the live accounts of the clients a user may see.

Volumes are lots, buy minus sell ("net"; positive is long). Floating P/L is profit plus swap in the
account's currency, and is only ever summed within one currency: a total is a {currency: amount}
map, never one number (adding yen to dollars means nothing). Lots of one symbol are summed across
servers and currencies: a lot of EURUSD is the same contract whatever the deposit currency.

Every read is a fixed number of grouped queries, whatever the number of positions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber

from crm.models import Client
from crm.permissions import client_queryset_for_user
from trading.adapters.base import Side
from trading.models import PlatformServer, Position

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


def exposure_for_user(*, user: Any, server: PlatformServer | None = None) -> ExposureReport:
    """Net lots and floating P/L by symbol, by client (the `TOP_CLIENTS` largest by lots), the
    accounts with the most lots open and, per currency, those with the largest floating profit."""
    qs = position_queryset_for_user(user=user, server=server).order_by()
    total = Exposure()

    symbols: dict[str, SymbolExposure] = {}
    for row in qs.values("symbol").annotate(n=Count("id"), buy=_BUY_LOTS, sell=_SELL_LOTS,
                                            clients=Count("account__client_id", distinct=True)):
        symbols[row["symbol"]] = SymbolExposure(symbol=row["symbol"], positions=row["n"], buy=row["buy"],
                                                sell=row["sell"], clients=row["clients"])
        total.positions += row["n"]
        total.buy += row["buy"]
        total.sell += row["sell"]
    for pnl_row in qs.values("symbol", "account__currency").annotate(pnl=Sum(_FLOATING)):
        currency = pnl_row["account__currency"]
        symbols[pnl_row["symbol"]].pnl[currency] = pnl_row["pnl"]
        total.pnl[currency] = total.pnl.get(currency, ZERO) + pnl_row["pnl"]

    by_client = list(qs.values("account__client_id").annotate(n=Count("id"), buy=_BUY_LOTS, sell=_SELL_LOTS,
                                                             accounts=Count("account_id", distinct=True))
                     .order_by((F("buy") + F("sell")).desc(), "account__client_id")[:TOP_CLIENTS])
    client_count = qs.values("account__client_id").distinct().count() if len(by_client) == TOP_CLIENTS \
        else len(by_client)
    ids = [row["account__client_id"] for row in by_client]
    names = Client.objects.select_related("brand").in_bulk(ids)
    clients = {row["account__client_id"]: ClientExposure(
        client=names[row["account__client_id"]], positions=row["n"], buy=row["buy"], sell=row["sell"],
        accounts=row["accounts"]) for row in by_client}
    nets: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    for net_row in qs.filter(account__client_id__in=ids).values("account__client_id", "symbol").annotate(
            n=Count("id"), buy=_BUY_LOTS, sell=_SELL_LOTS):
        nets[net_row["account__client_id"]].append((net_row["symbol"], net_row["buy"] - net_row["sell"]))
    for client_pnl in qs.filter(account__client_id__in=ids).values("account__client_id", "account__currency").annotate(
            pnl=Sum(_FLOATING)):
        clients[client_pnl["account__client_id"]].pnl[client_pnl["account__currency"]] = client_pnl["pnl"]
    for pk, entry in clients.items():
        entry.symbols = sorted(nets[pk], key=lambda s: (-abs(s[1]), s[0]))

    return ExposureReport(
        symbols=sorted(symbols.values(), key=lambda s: (-abs(s.net), -s.gross, s.symbol)),
        clients=list(clients.values()), client_count=client_count,
        top_by_volume=_top_by_volume(qs), top_by_profit=_top_winners(qs), total=total,
    )


def _account_rows(qs: QuerySet[Position]) -> QuerySet[Any]:
    return qs.values("account_id", "account__login", "server__name", "account__currency",
                     "account__client_id").annotate(n=Count("id"), buy=_BUY_LOTS, sell=_SELL_LOTS, pnl=Sum(_FLOATING))


def _accounts(rows: list[dict[str, Any]]) -> list[AccountExposure]:
    clients = Client.objects.in_bulk({row["account__client_id"] for row in rows})
    return [AccountExposure(account_id=row["account_id"], login=row["account__login"], server=row["server__name"],
                            currency=row["account__currency"], client=clients[row["account__client_id"]],
                            positions=row["n"], buy=row["buy"], sell=row["sell"], pnl=row["pnl"]) for row in rows]


def _top_by_volume(qs: QuerySet[Position]) -> list[AccountExposure]:
    """The accounts with the most lots open (buy and sell together)."""
    rows = list(_account_rows(qs).order_by((F("buy") + F("sell")).desc(), "account_id")[:TOP_ACCOUNTS])
    return _accounts(rows)


def _top_winners(qs: QuerySet[Position]) -> dict[str, list[AccountExposure]]:
    """Per currency, the accounts with the largest floating profit (only those in profit)."""
    ranked = _account_rows(qs).filter(pnl__gt=0).annotate(
        rank=Window(RowNumber(), partition_by=F("account__currency"), order_by=[F("pnl").desc(), F("account_id")]),
    ).filter(rank__lte=TOP_ACCOUNTS).order_by("account__currency", "rank")
    out: dict[str, list[AccountExposure]] = defaultdict(list)
    for entry in _accounts(list(ranked)):
        out[entry.currency].append(entry)
    return dict(out)
