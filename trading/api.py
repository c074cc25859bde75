"""The trading API: open a trading account for a client, change an account's leverage.

Both go through trading.services exactly like the pages: a live account the brand's policy does not
allow yet is **409** `account_opening_refused`, a leverage above the client's cap is **422**
`leverage_above_cap` (the message names the cap and its rule), a platform that refuses is **502**
`platform_failed` in the pages and **400** here. API keys need the `trading:write` scope and act as
the system within their brand; staff sessions act as the user, with the user's permissions.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from crm.api import Caller, caller_of, requires_scope
from crm.api_routers.clients import client_for
from crm.api_routers.schemas import Text40, Text254
from crm.exceptions import NotFound
from trading import services
from trading.models import PlatformServer, TradingAccount
from trading.permissions import trading_account_get_for_user

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
