"""The dealer's exposure: open positions (as the account state sync last saw them) summed by symbol,
by client and by account, over the live accounts of the clients a user may see.

Volumes are lots, buy minus sell ("net"; positive is long). Floating P/L is profit plus swap in the
account's currency, and is only ever summed within one currency: a total is a {currency: amount}
map, never one number (adding yen to dollars means nothing). Lots of one symbol are summed across
servers and currencies: a lot of EURUSD is the same contract whatever the deposit currency.

Every read is one grouped query (a row per account and symbol) and one of the clients it names,
whatever the number of positions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum

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
    accounts with the most lots open and, per currency, those with the largest floating profit.

    One grouped query (a row per account and symbol) feeds every figure: each further grouped
    query would find the user's scope and join the positions again, which on a large brokerage
    costs far more than summing those rows here. The clients named are read in one more query.
    """
    rows = list(position_queryset_for_user(user=user, server=server).order_by().values(
        "account_id", "account__login", "server__name", "account__currency", "account__client_id", "symbol",
    ).annotate(n=Count("id"), buy=_BUY_LOTS, sell=_SELL_LOTS, pnl=Sum(_FLOATING, default=ZERO)))

    total = Exposure()
    symbols: dict[str, SymbolExposure] = {}
    symbol_clients: dict[str, set[int]] = defaultdict(set)
    by_client: dict[int, Exposure] = {}
    client_accounts: dict[int, set[int]] = defaultdict(set)
    client_nets: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    accounts: dict[int, dict[str, Any]] = {}
    for row in rows:
        symbol, currency, client_id, account_id = (row["symbol"], row["account__currency"],
                                                   row["account__client_id"], row["account_id"])
        n, buy, sell, pnl = row["n"], row["buy"], row["sell"], row["pnl"]
        if symbol not in symbols:
            symbols[symbol] = SymbolExposure(symbol=symbol)
        if client_id not in by_client:
            by_client[client_id] = Exposure()
        for entry in (total, symbols[symbol], by_client[client_id]):
            entry.positions += n
            entry.buy += buy
            entry.sell += sell
            entry.pnl[currency] = entry.pnl.get(currency, ZERO) + pnl
        symbol_clients[symbol].add(client_id)
        client_accounts[client_id].add(account_id)
        client_nets[client_id][symbol] += buy - sell
        account = accounts.get(account_id)
        if account is None:
            account = accounts[account_id] = {"login": row["account__login"], "server": row["server__name"],
                                              "currency": currency, "client_id": client_id, "n": 0, "buy": ZERO,
                                              "sell": ZERO, "pnl": ZERO}
        account["n"] += n
        account["buy"] += buy
        account["sell"] += sell
        account["pnl"] += pnl
    for symbol, entry in symbols.items():
        entry.clients = len(symbol_clients[symbol])

    top_clients = sorted(by_client, key=lambda pk: (-by_client[pk].gross, pk))[:TOP_CLIENTS]
    top_volume = sorted(accounts, key=lambda pk: (-(accounts[pk]["buy"] + accounts[pk]["sell"]), pk))[:TOP_ACCOUNTS]
    winners: dict[str, list[int]] = defaultdict(list)
    for pk in sorted((pk for pk in accounts if accounts[pk]["pnl"] > 0), key=lambda pk: (-accounts[pk]["pnl"], pk)):
        if len(winners[accounts[pk]["currency"]]) < TOP_ACCOUNTS:
            winners[accounts[pk]["currency"]].append(pk)
    named = set(top_clients) | {accounts[pk]["client_id"] for pk in [*top_volume, *(p for w in winners.values()
                                                                                     for p in w)]}
    names = Client.objects.select_related("brand").in_bulk(named)

    def account_exposure(pk: int) -> AccountExposure:
        a = accounts[pk]
        return AccountExposure(account_id=pk, login=a["login"], server=a["server"], currency=a["currency"],
                               client=names[a["client_id"]], positions=a["n"], buy=a["buy"], sell=a["sell"],
                               pnl=a["pnl"])

    clients = [ClientExposure(
        client=names[pk], positions=by_client[pk].positions, buy=by_client[pk].buy, sell=by_client[pk].sell,
        pnl=by_client[pk].pnl, accounts=len(client_accounts[pk]),
        symbols=sorted(client_nets[pk].items(), key=lambda s: (-abs(s[1]), s[0]))) for pk in top_clients]
    return ExposureReport(
        symbols=sorted(symbols.values(), key=lambda s: (-abs(s.net), -s.gross, s.symbol)),
        clients=clients, client_count=len(by_client),
        top_by_volume=[account_exposure(pk) for pk in top_volume],
        top_by_profit={currency: [account_exposure(pk) for pk in pks] for currency, pks in sorted(winners.items())},
        total=total,
    )
