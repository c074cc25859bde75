"""The trading API: trading accounts and deals to read; open a trading account for a client, change
an account's leverage.

Reads need the `trading:read` scope: an API key sees its brand's accounts and deals; a staff session
what the user sees in the pages (accounts of the clients in scope; deals with the dealer's
trading.view_deal). Deals page by (time, row number), newest first, as the dealer's list does.

Both go through trading.services exactly like the pages: a live account the brand's policy does not
allow yet is **409** `account_opening_refused`, a leverage above the client's cap is **422**
`leverage_above_cap` (the message names the cap and its rule), a platform that refuses is **502**
`platform_failed` in the pages and **400** here. API keys need the `trading:write` scope and act as
the system within their brand; staff sessions act as the user, with the user's permissions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from crm.api import (
    Caller,
    Code,
    IsoDatetime,
    PageIn,
    Text40,
    Text254,
    caller_of,
    client_for,
    paginate,
    requires_scope,
)
from crm.exceptions import NotFound, ValidationFailed
from crm.lib.money import decimal_text
from crm.lib.pagination import Key
from crm.permissions import user_can
from trading import services
from trading.models import Deal, PlatformServer, TradingAccount
from trading.permissions import trading_account_get_for_user, trading_account_queryset_for_user
from trading.selectors import deal_queryset_for_user

router = Router(tags=["trading"])


class AccountOpenIn(Schema):
    server: UUID = Field(..., description="The code of one of the client's brand's platform servers.")
    account_type: Text40 = Field(..., description="A key of the server's account types (e.g. standard, demo).")
    leverage: int | None = Field(None, description="N of 1:N; default: the highest the client's cap allows.")


class LeverageIn(Schema):
    leverage: int = Field(..., description="N of 1:N: one the account type offers, within the client's cap.")
    reason: Text254 = Field("", max_length=200, description="Kept in the audit log.")


class AccountOut(Schema):
    code: UUID
    login: int
    server: UUID
    client: UUID
    account_type: str
    is_demo: bool
    currency: str
    leverage: int
    group: str
    # "" (open), "pending" or "unknown" (closing, not yet confirmed by the platform), "closed".
    close_state: str


def account_out(account: TradingAccount) -> dict[str, Any]:
    return {"code": account.code, "login": account.login, "server": account.server.code,
            "client": account.client.code, "account_type": account.account_type, "is_demo": account.is_demo,
            "currency": account.currency, "leverage": account.leverage, "group": account.group,
            "close_state": account.close_state}


def _server_for(code: UUID, client_brand_id: int) -> PlatformServer:
    # The client is already within the caller's scope; its brand's servers are the ones it may use
    # (as in the page's choice of server and account type).
    server = PlatformServer.objects.select_related("brand").filter(code=code, brand_id=client_brand_id).first()
    if server is None:
        raise NotFound()
    return server


def _account_for(caller: Caller, code: UUID) -> TradingAccount:
    if caller.api_key is None:
        return trading_account_get_for_user(caller.user, code)
    account = (TradingAccount.objects.select_related("server__brand", "client__brand")
               .filter(code=code, server__brand_id=caller.api_key.brand_id).first())
    if account is None:
        raise NotFound()
    return account


@router.post("/clients/{uuid:code}/trading-accounts", response={201: AccountOut},
             url_name="api_trading_account_open", summary="Open a trading account")
@requires_scope("trading:write")
def open_account(request: HttpRequest, code: UUID, payload: AccountOpenIn) -> Status[dict[str, Any]]:
    """Open a live or demo account for the client on one of its brand's servers; the client gets an
    email with a single-use link to see the password. A live account needs what the brand's policy
    asks (**409** `account_opening_refused`, naming the rule); a leverage above the client's cap is
    **422** `leverage_above_cap`. Event `trading.account_opened`."""
    caller = caller_of(request)
    client = client_for(caller, code)
    server = _server_for(payload.server, client.brand_id)
    account = services.trading_account_open(actor=caller.user, client=client, server=server,
                                            account_type=payload.account_type, leverage=payload.leverage)
    return Status(201, account_out(account))


@router.post("/trading-accounts/{uuid:code}/leverage", response=AccountOut, url_name="api_trading_leverage",
             summary="Change an account's leverage")
@requires_scope("trading:write")
def change_leverage(request: HttpRequest, code: UUID, payload: LeverageIn) -> dict[str, Any]:
    """Change the leverage on the platform, then in the CRM. Above the client's cap: **422**
    `leverage_above_cap`. Event `trading.leverage_changed`."""
    caller = caller_of(request)
    account = _account_for(caller, code)
    account = services.trading_account_set_leverage(actor=caller.user, account=account,
                                                    leverage=payload.leverage, reason=payload.reason)
    return account_out(account)


# --- reading accounts and deals -------------------------------------------------------------------

DEALS_NEWEST_FIRST = (Key("time", True, "datetime"), Key("id", True, "int"))


def utc_text(value: dt.datetime | None) -> str | None:
    """An aware datetime as ISO 8601 in UTC (the API's times are all UTC)."""
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


class AccountListOut(AccountOut):
    access: str = Field(..., description="full, close_only, read_only or disabled")
    is_archived: bool
    opened_at: str | None = Field(None, description="The platform's registration time, UTC (ISO 8601)")
    last_trade_at: str | None = Field(None, description="UTC (ISO 8601)")
    created_at: str


class AccountPage(Schema):
    items: list[AccountListOut]
    next_cursor: str | None


class AccountFilters(Schema):
    client: Code | None = Field(None, description="Only this client's accounts (its code).")
    server: Code | None = Field(None, description="Only accounts on this platform server (its code).")
    is_demo: bool | None = Field(None, description="true: demo accounts only; false: live ones only.")


class DealOut(Schema):
    server: UUID = Field(..., description="The platform server; with `deal_id`, the deal's identity.")
    deal_id: int = Field(..., description="The platform's deal number, unique on its server.")
    account: UUID
    login: int
    client: UUID
    time: str = Field(..., description="When the platform executed it, UTC (ISO 8601).")
    kind: str = Field(..., description="trade, balance, credit, bonus, commission, ...")
    entry: str = Field(..., description="in, out, inout, out_by or none")
    side: str = Field(..., description="buy, sell or '' (balance operations)")
    position_id: int
    order_id: int
    symbol: str
    lots: str = Field(..., description="Volume in lots, a decimal string.")
    price: str = Field(..., description="A decimal string.")
    profit: str = Field(..., description="In `currency`, a decimal string.")
    commission: str
    swap: str
    fee: str
    currency: str = Field(..., description="The account's currency: profit, commission, swap and fee are in it.")
    comment: str


class DealPage(Schema):
    items: list[DealOut]
    next_cursor: str | None


class DealFilters(Schema):
    account: Code | None = Field(None, description="Only this trading account's deals (its code).")
    client: Code | None = Field(None, description="Only deals on this client's accounts (its code).")
    symbol: Text40 | None = Field(None, description="Only this symbol (case-insensitive).")
    since: IsoDatetime | None = Field(None, description="Deals at or after this time (ISO 8601 with an offset).")
    until: IsoDatetime | None = Field(None, description="Deals before this time (ISO 8601 with an offset).")


def account_list_out(account: TradingAccount) -> dict[str, Any]:
    return {**account_out(account), "access": account.access, "is_archived": account.is_archived,
            "opened_at": utc_text(account.opened_at), "last_trade_at": utc_text(account.last_trade_at),
            "created_at": utc_text(account.created_at)}


def deal_out(deal: Deal) -> dict[str, Any]:
    account = deal.account
    return {"server": deal.server.code, "deal_id": deal.deal_id, "account": account.code, "login": deal.login,
            "client": account.client.code, "time": utc_text(deal.time), "kind": deal.kind, "entry": deal.entry,
            "side": deal.side, "position_id": deal.position_id, "order_id": deal.order_id, "symbol": deal.symbol,
            "lots": decimal_text(deal.volume), "price": decimal_text(deal.price),
            "profit": decimal_text(deal.profit), "commission": decimal_text(deal.commission),
            "swap": decimal_text(deal.swap), "fee": decimal_text(deal.fee), "currency": account.currency,
            "comment": deal.comment}


def _accounts_of(caller: Caller) -> QuerySet[TradingAccount]:
    """The trading accounts within the caller's scope: the key's brand's, or those the user may see."""
    if caller.api_key is None:
        qs = trading_account_queryset_for_user(caller.user)
    else:
        qs = TradingAccount.objects.filter(server__brand_id=caller.api_key.brand_id)
    return qs.select_related("server", "client")


def _deals_of(caller: Caller) -> QuerySet[Deal]:
    """The deals within the caller's scope, as the dealer's deal list reads them (trading.view_deal)."""
    if caller.api_key is None:
        if not user_can(caller.user, "trading.view_deal"):
            raise NotFound()
        qs = deal_queryset_for_user(user=caller.user)
    else:
        servers = PlatformServer.objects.filter(brand_id=caller.api_key.brand_id).values("pk")
        qs = Deal.objects.filter(server_id__in=servers)
    return qs.filter(deleted_at__isnull=True).select_related("server", "account__client").defer("raw")


def _account_page(qs: QuerySet[TradingAccount], page: PageIn) -> dict[str, Any]:
    result = paginate(qs, page)
    return {"items": [account_list_out(a) for a in result.items], "next_cursor": result.next_cursor}


@router.get("/trading-accounts", response=AccountPage, url_name="api_trading_account_list",
            summary="List trading accounts")
@requires_scope("trading:read")
def account_list(request: HttpRequest, filters: Query[AccountFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Trading accounts of the clients within your scope, newest first; archived ones included
    (`is_archived`)."""
    qs = _accounts_of(caller_of(request))
    if filters.client is not None:
        qs = qs.filter(client__code=filters.client)
    if filters.server is not None:
        qs = qs.filter(server__code=filters.server)
    if filters.is_demo is not None:
        qs = qs.filter(is_demo=filters.is_demo)
    return _account_page(qs, page)


@router.get("/clients/{uuid:code}/trading-accounts", response=AccountPage, url_name="api_client_trading_accounts",
            summary="A client's trading accounts")
@requires_scope("trading:read")
def client_account_list(request: HttpRequest, code: UUID, page: Query[PageIn]) -> dict[str, Any]:
    """The client's trading accounts, newest first. An unknown client, or one outside your scope, is 404."""
    caller = caller_of(request)
    client = client_for(caller, code)
    return _account_page(_accounts_of(caller).filter(client=client), page)


@router.get("/deals", response=DealPage, url_name="api_deal_list", summary="List deals")
@requires_scope("trading:read")
def deal_list(request: HttpRequest, filters: Query[DealFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Platform deals of the accounts within your scope, newest first, ordered by time then by a
    unique row number, so that paging with `next_cursor` neither repeats nor skips a deal, however
    many share a time and however deep the page. Deals the platform deleted are left out. Amounts are
    decimal strings in the account's `currency`; times are UTC. Staff need the dealer's deal list
    (trading.view_deal)."""
    qs = _deals_of(caller_of(request))
    # Accounts are found first (a handful of ids), so that the deals are read by their own indexes.
    if filters.account is not None:
        qs = qs.filter(account_id__in=TradingAccount.objects.filter(code=filters.account).values("pk"))
    if filters.client is not None:
        qs = qs.filter(account_id__in=TradingAccount.objects.filter(client__code=filters.client).values("pk"))
    if filters.symbol:
        qs = qs.filter(symbol__iexact=filters.symbol)
    if filters.since is not None and filters.until is not None and filters.until <= filters.since:
        raise ValidationFailed(fields={"until": [_("Give a time after `since`.")]})
    if filters.since is not None:
        qs = qs.filter(time__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(time__lt=filters.until)
    result = paginate(qs, page, keys=DEALS_NEWEST_FIRST)
    return {"items": [deal_out(d) for d in result.items], "next_cursor": result.next_cursor}
