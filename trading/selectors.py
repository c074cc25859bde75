"""Reads of trading for views and other apps: a client's accounts and deals, the dealer's deal list,
servers with their sync health; and the views trading publishes for other apps' set-based SQL
(``PUBLISHED_VIEWS``, at the end)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError

from crm.models import Client
from crm.permissions import client_queryset_for_user
from plumbing.sqlviews import Column, PublishedView
from trading.lease import LeaseInfo
from trading.models import (
    BalanceOperation,
    BalanceState,
    BrandTradingPolicy,
    Deal,
    DealKind,
    LeverageCap,
    PlatformServer,
    Position,
    TradingAccount,
)
from trading.permissions import platform_server_queryset_for_user, trading_account_queryset_for_user
from trading.policy import leverage_limit as leverage_limit  # re-exported: the client's leverage cap
from trading.policy import with_leverage_cap

if TYPE_CHECKING:
    from trading.policy import AccountsWithCap

DEAL_PAGE = 100
TAB_DEALS = 200


@dataclass(frozen=True)
class AccountSummary:
    """A trading account with its recent activity, as the client's trading tab shows it."""

    account: TradingAccount
    positions: list[Position]
    deals: int
    trades: int
    volume: Decimal
    profit: Decimal
    open_operations: list[BalanceOperation]


def accounts_for_client(*, client: Client, days: int = 30) -> list[AccountSummary]:
    """The client's accounts with open positions and the last `days` days' trading totals
    (profit includes commission, swap and fees of trade deals; volume counts lots of both legs).
    Three queries whatever the number of accounts."""
    since = timezone.now() - dt.timedelta(days=days)
    accounts = list(
        TradingAccount.objects.filter(client=client).select_related("server")
        .prefetch_related(
            Prefetch("positions", queryset=Position.objects.order_by("-opened_at")),
            Prefetch("balance_operations", to_attr="open_ops",
                     queryset=BalanceOperation.objects.filter(state__in=[BalanceState.PENDING, BalanceState.UNKNOWN])),
        )
        .order_by("is_archived", "is_demo", "server__name", "login")
    )
    totals: dict[int, Mapping[str, Any]] = {
        row["account_id"]: row
        for row in Deal.objects.filter(account__client=client, time__gte=since, deleted_at__isnull=True)
        .values("account_id").annotate(
            deals=Count("id"), trades=Count("id", filter=Q(kind=DealKind.TRADE)),
            volume=Sum("volume", filter=Q(kind=DealKind.TRADE)),
            profit=Sum("profit", filter=Q(kind=DealKind.TRADE)),
            costs=Sum("commission", filter=Q(kind=DealKind.TRADE)),
            swaps=Sum("swap", filter=Q(kind=DealKind.TRADE)),
            fees=Sum("fee", filter=Q(kind=DealKind.TRADE)),
        )
    }
    out = []
    for account in accounts:
        row = totals.get(account.pk, {})
        profit = sum((row.get(k) or Decimal(0) for k in ("profit", "costs", "swaps", "fees")), Decimal(0))
        out.append(AccountSummary(account=account, positions=list(account.positions.all()),
                                  deals=row.get("deals", 0), trades=row.get("trades", 0),
                                  volume=row.get("volume") or Decimal(0), profit=profit,
                                  open_operations=list(account.open_ops)))
    return out


def recent_deals_for_client(*, client: Client, days: int = 30, limit: int = TAB_DEALS) -> list[Deal]:
    since = timezone.now() - dt.timedelta(days=days)
    return list(Deal.objects.filter(account__client=client, time__gte=since).select_related("account")
                .defer("raw").order_by("-time", "-deal_id")[:limit])


def balance_operation_get(code: Any) -> BalanceOperation | None:
    """The balance operation with `code`, or None."""
    return BalanceOperation.objects.filter(code=code).first()


def balance_operation_unknown(*, client: Client) -> bool:
    """Whether an operation on one of the client's accounts has an outcome nobody knows yet (the
    platform did not answer): until it is looked up, moving more money could count it twice."""
    return BalanceOperation.objects.filter(account__client=client, state=BalanceState.UNKNOWN).exists()


def balance_operations_for_client(*, client: Client, limit: int = 20) -> list[BalanceOperation]:
    return list(BalanceOperation.objects.filter(account__client=client).select_related("account", "requested_by")
                .order_by("-created_at", "-id")[:limit])


def deal_queryset_for_user(*, user: Any) -> QuerySet[Deal]:
    """Deals across the accounts of every client `user` may see, newest first (the dealer's deal
    list narrows them with trading.filters.DealFilter and pages them by (time, id))."""
    return (Deal.objects.filter(account__client_id__in=client_queryset_for_user(user).order_by().values("pk"))
            .select_related("account__client", "server").defer("raw").order_by("-time", "-id"))


LEASE_LONG_SECONDS = 600  # a sync lease held longer than this is shown as a warning: a poll takes seconds


def server_list_for_user(*, user: Any) -> list[PlatformServer]:
    """Servers `user` may see, with their account counts (``account_count``), for the sync health page."""
    return list(platform_server_queryset_for_user(user).annotate(
        account_count=Count("accounts", filter=Q(accounts__is_archived=False))).order_by("brand__name", "name"))


def server_leases_held(servers: Sequence[PlatformServer]) -> dict[int, list[tuple[Any, LeaseInfo]]]:
    """(job label, LeaseInfo) for every sync lease held on each server right now, by server id (empty
    when Redis cannot be asked: the page still shows the rest)."""
    from trading.sync import server_leases

    try:
        leases = server_leases([s.pk for s in servers])
    except RedisError:
        return {}
    labels = {"deals": _("deals"), "states": _("account states")}
    return {pk: [(labels[job], info) for job, info in held.items()] for pk, held in leases.items()}


# --- brand leverage caps ----------------------------------------------------------------------------

ABOVE_CAP_SHOWN = 200


@dataclass(frozen=True)
class BrandPolicyRow:
    """A brand with its policy (None: the defaults, no leverage ceiling), its cap rules, and how many
    of its open accounts are above their caps."""

    brand: Any
    policy: BrandTradingPolicy | None
    above_cap: int
    rules: int = 0


def _above_cap(qs: QuerySet[TradingAccount]) -> AccountsWithCap:
    # Each account's own cap (trading.policy.leverage_limit, in SQL): what the services hold it to.
    return with_leverage_cap(qs.filter(is_archived=False)).filter(leverage_cap__isnull=False,
                                                                 leverage__gt=F("leverage_cap"))


def brand_policies_for_user(*, user: Any, brands: QuerySet[Any]) -> list[BrandPolicyRow]:
    """`brands` (already limited to what `user` works with) with their policies, their numbers of cap
    rules and the number of open accounts, among those `user` may see, whose leverage is above
    their caps. Four queries."""
    brand_list = list(brands.order_by("name"))
    ids = [b.pk for b in brand_list]
    policies = {p.brand_id: p for p in BrandTradingPolicy.objects.filter(brand__in=ids)}
    rules = dict(LeverageCap.objects.filter(brand__in=ids).order_by().values("brand_id").annotate(n=Count("id"))
                 .values_list("brand_id", "n"))
    counts = dict(_above_cap(trading_account_queryset_for_user(user).filter(server__brand__in=ids)).order_by()
                  .values("server__brand_id").annotate(n=Count("id")).values_list("server__brand_id", "n"))
    return [BrandPolicyRow(brand=b, policy=policies.get(b.pk), above_cap=counts.get(b.pk, 0),
                           rules=rules.get(b.pk, 0)) for b in brand_list]


def accounts_above_cap(*, user: Any, brand: Any) -> AccountsWithCap:
    """Open accounts on `brand`'s servers, among those `user` may see, whose leverage is above their
    own cap (``leverage_cap``: the brand's ceiling and the cap rule matching the client), highest
    leverage first. Lowering a cap leaves them as they are until someone lowers them, one by one
    (trading_account_set_leverage) or all at once (services.leverage_lower_start)."""
    return (_above_cap(trading_account_queryset_for_user(user).filter(server__brand=brand))
            .select_related("client", "server").order_by("-leverage", "server__name", "login"))


@dataclass(frozen=True)
class AboveCapGroup:
    """Accounts above the same cap: what one "Lower N accounts to 1:X" offers."""

    is_demo: bool
    cap: int
    count: int


def above_cap_groups(*, user: Any, brand: Any) -> list[AboveCapGroup]:
    """The accounts of accounts_above_cap grouped by kind and cap, lowest cap first. One query."""
    rows = (accounts_above_cap(user=user, brand=brand).order_by().values("is_demo", "leverage_cap")
            .annotate(n=Count("id")).order_by("is_demo", "leverage_cap"))
    return [AboveCapGroup(is_demo=r["is_demo"], cap=r["leverage_cap"], count=r["n"]) for r in rows
            if r["leverage_cap"] is not None]  # always: accounts without a cap are not above it


def leverage_caps_for_brand(*, brand: Any) -> list[LeverageCap]:
    """The brand's cap rules, by country (rules for any country first), then classification."""
    return list(LeverageCap.objects.filter(brand=brand).order_by("country", "classification"))


@dataclass(frozen=True)
class LiveAccountOffer:
    """Where a client's first live account opens: a server of the brand and one of its account types."""

    server: PlatformServer
    account_type: str
    spec: Mapping[str, Any]

    @property
    def currency(self) -> str:
        """The currency an account of this type opens in (trading.services.trading_account_open)."""
        return str(self.spec.get("currency") or self.server.brand.default_currency)


def default_live_offer(*, brand_id: int, client: Client | None = None) -> LiveAccountOffer | None:
    """The brand's default live account: on its active servers (by name), the live account type marked
    "default", else the first live type by key on the first server that has one; with `client`, the
    first such type the client can open (account_offers). None when there is none."""
    offers = account_offers(brand_id=brand_id, demo=False, client=client)
    return offers[0] if offers else None


def live_accounts_for_client(*, client: Client) -> QuerySet[TradingAccount]:
    """The client's live trading accounts, archived ones included."""
    return TradingAccount.objects.filter(client=client, is_demo=False)


def accounts_to_close_for_client(*, client: Client) -> QuerySet[TradingAccount]:
    """The client's accounts, live and demo, not archived and not closed yet (what offboarding closes
    through trading_account_close), their server loaded."""
    return (TradingAccount.objects.filter(client=client, is_archived=False, closed_at__isnull=True)
            .select_related("server", "client").order_by("pk"))


def live_accounts_by_login(*, brand: Any, login: int, limit: int) -> list[TradingAccount]:
    """At most `limit` live accounts with `login` on the brand's servers (their server loaded): one
    when the login names an account, more when several servers of the brand have it."""
    return list(TradingAccount.objects.filter(server__brand=brand, login=login, is_demo=False)
                .select_related("server")[:limit])


def account_logins(ids: Iterable[int]) -> dict[int, int]:
    """The platform login of each trading account in `ids` (by id)."""
    return dict(TradingAccount.objects.filter(pk__in=set(ids)).values_list("pk", "login"))


def has_live_account(*, client: Client) -> bool:
    """Whether the client holds a live trading account (archived ones count: they were opened)."""
    return TradingAccount.objects.filter(client=client, is_demo=False).exists()


def account_offers(*, brand_id: int, demo: bool, client: Client | None = None) -> list[LiveAccountOffer]:
    """Every account type a client of the brand may open (live ones, or demo ones with `demo`): on
    the brand's active servers (by name), the types with a group mapped, by key. A type marked
    "default" comes first among the live ones (default_live_offer's pick).

    With `client`: only the types that offer at least one leverage within the client's cap
    (trading.policy.leverage_limit: the brand's ceiling, the cap rule of the client's country and
    classification, the client's own limit), so that nobody is offered a type they cannot open."""
    out: list[LiveAccountOffer] = []
    servers = PlatformServer.objects.filter(brand_id=brand_id, is_active=True).select_related("brand")
    for server in servers.order_by("name", "id"):
        for key in sorted(server.account_types or {}):
            spec = server.account_types[key]
            if isinstance(spec, dict) and spec.get("group") and bool(spec.get("demo")) == demo:
                out.append(LiveAccountOffer(server=server, account_type=key, spec=spec))
    if client is not None and out:
        limit = leverage_limit(client=client, brand=out[0].server.brand, demo=demo)
        out = [o for o in out if any(isinstance(x, int) and limit.allows(x) for x in o.spec.get("leverages", []))]
    return sorted(out, key=lambda o: o.spec.get("default") is not True)


# --- published views --------------------------------------------------------------------------------
# What other apps' SQL may read of trading (plumbing.sqlviews): created by trading's migrations 0007 and 0021,
# checked by tests/trading/test_published_views.py. Nobody else names trading's tables.

_STAMP = "timestamp with time zone"
_DEAL_MONEY = "numeric(28,8)"
_PRICE = "numeric(24,10)"

DEALS_VIEW = PublishedView(
    name="trading_public_deals",
    purpose="Every platform deal the sync stored, as last read (edited deals in their latest content, "
            "deleted ones kept with deleted_at): what the commission engine and the platform "
            "reconciliation aggregate. One row per deal.",
    columns=(
        Column("id", "bigint", "the deal's row id (stable: what a commission line's source names)"),
        Column("server_id", "bigint", "its platform server (trading_public_servers.id)"),
        Column("account_id", "bigint", "its trading account (trading_public_accounts.id)"),
        Column("position_id", "bigint", "the platform's position id; 0 for deals of no position"),
        Column("time", _STAMP, "when the platform made it, in UTC"),
        Column("kind", "character varying(12)", "trade: a deal of a position; balance: a deposit or "
               "withdrawal on the platform (profit is its amount); the others are credit, bonus and "
               "adjustments", values=("trade", "balance", "credit", "bonus", "commission", "correction",
                                      "other")),
        Column("entry", "character varying(8)", "in opens a position, out and out_by close (part of) one, "
               "inout reverses it; none for non-trade deals", values=("in", "out", "inout", "out_by", "none")),
        Column("side", "character varying(4)", "buy or sell; empty for non-trade deals", values=("buy", "sell", "")),
        Column("symbol", "character varying(32)", "the instrument; empty for non-trade deals"),
        Column("volume", "numeric(20,8)", "lots"),
        Column("profit", _DEAL_MONEY, "in the account's currency (a balance deal: its amount, signed)"),
        Column("commission", _DEAL_MONEY, "charged by the platform, in the account's currency (negative: paid)"),
        Column("swap", _DEAL_MONEY, "in the account's currency"),
        Column("fee", _DEAL_MONEY, "in the account's currency"),
        Column("market_bid", _PRICE, "the market's bid when the deal was made; NULL when unknown"),
        Column("market_ask", _PRICE, "the market's ask when the deal was made; NULL when unknown"),
        Column("first_seen_at", _STAMP, "when the CRM first stored it (what an as-of run reads by)"),
        Column("updated_at", _STAMP, "the last time the sync inserted, edited or deleted it (indexed)"),
        Column("deleted_at", _STAMP, "when reconciliation found it gone from the platform; NULL while it exists"),
        Column("market_spread", _PRICE, "the market's spread (ask - bid, in price units) when the deal was made, "
               "as a source gave it without the bid and ask (a deal report's Spread column); NULL when unknown"),
    ),
)

ACCOUNTS_VIEW = PublishedView(
    name="trading_public_accounts",
    purpose="Every trading account, live and demo, archived or not. One row per account.",
    columns=(
        Column("id", "bigint", "the account's row id (a deal's account_id)"),
        Column("server_id", "bigint", "its platform server (trading_public_servers.id)"),
        Column("client_id", "bigint", "its client (crm_public_clients.id)"),
        Column("account_type", "character varying(40)", "the key of its type on its server; empty when unknown"),
        Column("currency", "character varying(10)", "the account's currency (ISO 4217 or a crypto code)"),
        Column("is_demo", "boolean", "a demo account (no real money)"),
        Column("book", "character varying", "the book of the account's group as the administrator set it "
               "(trading.models.TradingGroup): a (hedged), b (in house), '' not stated", values=("a", "b", "")),
        # trading's migration 0020: what marketing's segments filter on.
        Column("balance", _DEAL_MONEY, "the balance the state sync last read, in the account's currency"),
        Column("equity", _DEAL_MONEY, "the equity the state sync last read, in the account's currency"),
        Column("is_archived", "boolean", "archived (closed on the platform or hidden): no longer traded"),
    ),
)

SERVERS_VIEW = PublishedView(
    name="trading_public_servers",
    purpose="Every platform server, with the brand whose accounts it holds. One row per server.",
    columns=(
        Column("id", "bigint", "the server's row id (a deal's and an account's server_id)"),
        Column("brand_id", "bigint", "its brand (every account and deal on it is the brand's)"),
    ),
)

CLIENT_TRADE_DAYS_VIEW = PublishedView(
    name="trading_public_client_trade_days",
    purpose="Each client's trading per UTC day, for counting segments at scale (trading's migration 0021): "
            "of the deals of kind trade, not deleted, on the client's live (not demo) accounts, the day's last "
            "and the lots and number of those opening a position (entry in). Kept by the database as deals are "
            "stored, edited or deleted and as accounts change client or demo flag, in the writer's own "
            "transaction: exact, never behind the deals. One row per client and day with such a deal.",
    columns=(
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("day", "date", "the UTC date of the deals"),
        Column("last_trade_at", _STAMP, "the time of the day's last such deal"),
        Column("lots_in", "numeric(28,8)", "the lots of the day's deals that open a position"),
        Column("trades_in", "bigint", "how many of the day's deals open a position"),
    ),
)

CLIENT_BALANCES_VIEW = PublishedView(
    name="trading_public_client_balances",
    purpose="Each client's money on its live accounts, for counting segments at scale (trading's migration "
            "0022): per client and currency, its accounts that are neither demo nor archived, and the sums of "
            "the balances and equities the state sync last stored on them. Kept by the database as accounts "
            "are registered, synced, archived, moved or removed, in the writer's own transaction: exact, never "
            "behind the accounts. One row per client and currency with such an account.",
    columns=(
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("currency", "character varying(10)", "the accounts' currency (ISO 4217 or a crypto code)"),
        Column("accounts", "integer", "how many of the client's live accounts are in that currency (at least 1)"),
        Column("balance", _DEAL_MONEY, "the sum of their balances, in that currency"),
        Column("equity", _DEAL_MONEY, "the sum of their equities, in that currency"),
    ),
)

PUBLISHED_VIEWS = (DEALS_VIEW, ACCOUNTS_VIEW, SERVERS_VIEW, CLIENT_TRADE_DAYS_VIEW, CLIENT_BALANCES_VIEW)


# Prop-trading challenges (trading.prop): what the trader's room reads.
from trading.prop import (  # noqa: E402
    challenge_ending as challenge_ending,
)
from trading.prop import (  # noqa: E402
    challenge_equity_curve as challenge_equity_curve,
)
from trading.prop import (  # noqa: E402
    challenge_get_for_client as challenge_get_for_client,
)
from trading.prop import (  # noqa: E402
    challenge_payable as challenge_payable,
)
from trading.prop import (  # noqa: E402
    challenge_product_get_on_sale as challenge_product_get_on_sale,
)
from trading.prop import (  # noqa: E402
    challenge_products_on_sale as challenge_products_on_sale,
)
from trading.prop import (  # noqa: E402
    challenge_progress as challenge_progress,
)
from trading.prop import (  # noqa: E402
    challenges_for_client as challenges_for_client,
)
from trading.prop import (  # noqa: E402
    decision_text as decision_text,
)
from trading.prop import (  # noqa: E402
    equity_curve_svg as equity_curve_svg,
)


def server_list_for_system(*, brand_id: int) -> list[PlatformServer]:
    """The active servers of a brand, for system jobs (demo seeds), not scoped to a user."""
    return list(PlatformServer.objects.filter(brand_id=brand_id, is_active=True).order_by("id"))


# --- for the reporting hub's pages (reports) ------------------------------------------------------------

def server_names(ids: list[int]) -> dict[str, str]:
    """Platform servers' names by their id (as text: the reporting hub keys figures by it)."""
    return {str(pk): name for pk, name in PlatformServer.objects.filter(pk__in=ids).values_list("pk", "name")}


def deals_of_clients(*, client_ids: Any, start: dt.datetime, end: dt.datetime, symbol: str | None = None,
                     server_id: int | None = None, closing_only: bool = False, book: str | None = None,
                     limit: int = 500) -> list[dict[str, Any]]:
    """The live trade deals (not deleted, not of demo accounts) of `client_ids` (a list or a
    subquery of client ids) made in [start, end), newest first, at most `limit`, with the account's
    currency and client: the rows behind a figure of the reporting hub."""
    qs = Deal.objects.filter(kind=DealKind.TRADE, deleted_at__isnull=True, account__is_demo=False,
                             account__client_id__in=client_ids, time__gte=start, time__lt=end)
    if symbol is not None:
        qs = qs.filter(symbol=symbol)
    if server_id is not None:
        qs = qs.filter(server_id=server_id)
    if closing_only:
        qs = qs.filter(entry__in=["out", "inout", "out_by"])
    if book is not None:  # the book of the account's group ('' not stated), as the published view gives it
        qs = qs.annotate(book=_book_of_account()).filter(book=book)
    return [dict(row) for row in qs.order_by("-time", "-id").values(
        "id", "time", "symbol", "side", "entry", "volume", "profit", "commission", "swap", "market_bid", "market_ask",
        "market_spread",
        brand_id=F("server__brand_id"), client_id=F("account__client_id"), currency=F("account__currency"))[:limit]]


def active_client_count(*, brand_id: int, start: dt.datetime, end: dt.datetime) -> int:
    """How many distinct clients of the brand made a live trade deal (not deleted, not on a demo
    account) in [start, end): the "active clients" of a period in the regulator's monthly forms (the
    complaints register's export reads it here, never the deals themselves)."""
    return (Deal.objects.filter(kind=DealKind.TRADE, deleted_at__isnull=True, account__is_demo=False,
                                server__brand_id=brand_id, time__gte=start, time__lt=end)
            .order_by().values("account__client_id").distinct().count())


def _book_of_account() -> Any:
    from django.db.models import OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    from trading.models import TradingGroup

    return Coalesce(Subquery(TradingGroup.objects.filter(server_id=OuterRef("server_id"),
                                                         name=OuterRef("account__group")).values("book")[:1]),
                    Value(""))


def floating_pl_summary(*, brand_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The open positions of live (not demo) accounts as last polled, summed per brand, the
    client's desk (0: none), the account's currency, its group's book ('a', 'b', '': not stated)
    and symbol: floating profit, swap, positions and lots. Amounts in the account's currency,
    never summed across currencies."""
    from django.db.models import Value
    from django.db.models.functions import Coalesce

    qs = Position.objects.filter(account__is_demo=False)
    if brand_ids is not None:
        qs = qs.filter(server__brand_id__in=list(brand_ids))
    rows = (qs.order_by()
            .annotate(r_brand=F("server__brand_id"), r_desk=Coalesce(F("account__client__desk_id"), Value(0)),
                      r_currency=F("account__currency"), r_book=_book_of_account())
            .values("r_brand", "r_desk", "r_currency", "r_book", "symbol")
            .annotate(profit=Sum("profit"), swap=Sum("swap"), positions=Count("id"), lots=Sum("volume")))
    return [{"brand_id": r["r_brand"], "desk_id": r["r_desk"], "currency": r["r_currency"], "book": r["r_book"],
             "symbol": r["symbol"], "profit": r["profit"], "swap": r["swap"], "positions": r["positions"],
             "lots": r["lots"]} for r in rows]


def open_positions_of_clients(*, client_ids: Any, symbol: str | None = None, currency: str | None = None,
                              book: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """The open positions of live accounts of `client_ids` (a list or a subquery), largest
    floating loss or profit first: the rows behind the reporting hub's floating P/L."""
    from django.db.models.functions import Abs

    qs = Position.objects.filter(account__is_demo=False, account__client_id__in=client_ids).annotate(
        book=_book_of_account())
    if symbol is not None:
        qs = qs.filter(symbol=symbol)
    if currency:
        qs = qs.filter(account__currency=currency)
    if book is not None:
        qs = qs.filter(book=book)
    return [dict(row) for row in qs.order_by(Abs("profit").desc(), "id").values(
        "id", "position_id", "opened_at", "symbol", "side", "volume", "profit", "swap", "book",
        client_id=F("account__client_id"), currency=F("account__currency"))[:limit]]


def trading_groups_of_server(server: PlatformServer) -> list[dict[str, Any]]:
    """The groups of `server`'s accounts (and the groups given a book), each with its book ('' not
    stated) and how many accounts it holds."""
    from trading.models import TradingGroup

    counts = dict(TradingAccount.objects.filter(server=server).order_by().values_list("group")
                  .annotate(n=Count("id")).values_list("group", "n"))
    books = dict(TradingGroup.objects.filter(server=server).values_list("name", "book"))
    return [{"name": name, "book": books.get(name, ""), "accounts": counts.get(name, 0)}
            for name in sorted(set(counts) | set(books))]
