"""Access helpers of trading: fetch and authorise in one call. Missing and forbidden look the same.

A trading account is visible to whoever can see its client (crm.permissions scope) and holds
"trading.view_tradingaccount"; a platform server to administrators and to holders of
"trading.view_platformserver" who work for its brand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from crm.exceptions import NotFound
from crm.permissions import client_queryset_for_user, code_or_404, user_can
from trading.models import PlatformServer, TradingAccount

if TYPE_CHECKING:
    from crm.models import Client


def trading_account_queryset_for_user(user: Any) -> QuerySet[TradingAccount]:
    """Accounts of the clients `user` may see (scoped in SQL), if they may see trading accounts."""
    if not user_can(user, "trading.view_tradingaccount"):
        return TradingAccount.objects.none()
    return TradingAccount.objects.filter(client_id__in=client_queryset_for_user(user).order_by().values("pk"))


def trading_account_get_for_user(user: Any, code: Any, *, for_update: bool = False) -> TradingAccount:
    qs = trading_account_queryset_for_user(user).select_related("server", "server__brand", "client",
                                                                "client__brand", "client__owner")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(code=code_or_404(code))
    except TradingAccount.DoesNotExist:
        raise NotFound() from None


def trading_account_for_client(*, client: Client, code: Any, archived: bool = False) -> TradingAccount | None:
    """The client's own account with `code` (its server and brand loaded), or None for anyone else's
    or a malformed code (the trader's room answers 404 for both). Archived ones only with `archived`."""
    try:
        key = code_or_404(code)
    except NotFound:
        return None
    qs = TradingAccount.objects.select_related("server__brand", "client__brand").filter(client=client, code=key)
    if not archived:
        qs = qs.filter(is_archived=False)
    return qs.first()


def platform_server_queryset_for_user(user: Any) -> QuerySet[PlatformServer]:
    qs = PlatformServer.objects.select_related("brand")
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    if not user_can(user, "trading.view_platformserver"):
        return qs.none()
    if user.all_brands:
        return qs
    return qs.filter(brand__in=user.brands.all())


def platform_server_get_for_user(user: Any, code: Any) -> PlatformServer:
    try:
        return platform_server_queryset_for_user(user).get(code=code_or_404(code))
    except PlatformServer.DoesNotExist:
        raise NotFound() from None
