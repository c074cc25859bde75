"""Django admin for superusers (staff use the trading pages). Credentials are never shown; deals,
positions and balance operations are read-only here: the sync and the services write them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from trading.models import (
    SERVER_SYNC_FIELDS,
    BalanceOperation,
    BrandTradingPolicy,
    Deal,
    PlatformServer,
    Position,
    TradingAccount,
)


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PlatformServer)
class PlatformServerAdmin(SimpleHistoryAdmin):  # type: ignore[misc]  # simple-history ships no types
    list_display = ("name", "brand", "kind", "host", "port", "is_active", "sync_enabled", "last_deal_sync_ok_at",
                    "sync_lag_seconds", "consecutive_failures")
    list_filter = ("kind", "is_active", "brand")
    exclude = ("manager_password_encrypted",)
    readonly_fields = tuple(f for f in SERVER_SYNC_FIELDS if f != "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # servers are created on the trading pages, where the password is encrypted


@admin.register(BrandTradingPolicy)
class BrandTradingPolicyAdmin(SimpleHistoryAdmin):  # type: ignore[misc]  # simple-history ships no types
    list_display = ("brand", "max_leverage_live", "max_leverage_demo")


@admin.register(TradingAccount)
class TradingAccountAdmin(SimpleHistoryAdmin, ReadOnlyAdmin):  # type: ignore[misc]  # simple-history ships no types
    list_display = ("login", "server", "client", "is_demo", "group", "leverage", "access", "balance", "equity",
                    "margin_level", "last_synced_at")
    list_filter = ("server", "is_demo", "access")
    search_fields = ("=login",)
    raw_id_fields = ("client",)


@admin.register(Deal)
class DealAdmin(ReadOnlyAdmin):
    list_display = ("deal_id", "server", "login", "time", "kind", "symbol", "volume", "price", "profit", "deleted_at")
    list_filter = ("server", "kind")
    search_fields = ("=deal_id", "=login")
    show_full_result_count = False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("position_id", "server", "account", "symbol", "side", "volume", "profit", "opened_at")


@admin.register(BalanceOperation)
class BalanceOperationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "account", "kind", "amount", "currency", "state", "platform_ticket", "created_at")
    list_filter = ("state", "kind")
    search_fields = ("=reference",)
