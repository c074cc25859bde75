"""Django admin for superusers; staff configure leads in the app's own settings pages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from leads.models import (
    AgentAvailability,
    Campaign,
    ClientMerge,
    DeskSla,
    LeadImport,
    LeadTouch,
    RoutingRule,
    ScoringRule,
)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin[Campaign]):
    list_display = ("name", "code", "brand", "source", "is_active")
    list_filter = ("brand", "is_active")
    search_fields = ("name", "code")


@admin.register(ScoringRule)
class ScoringRuleAdmin(admin.ModelAdmin[ScoringRule]):
    list_display = ("name", "brand", "kind", "points", "is_active", "order")
    list_filter = ("brand", "kind", "is_active")


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin[RoutingRule]):
    list_display = ("name", "brand", "order", "is_fallback", "target_kind", "strategy", "is_active")
    list_filter = ("brand", "is_active")
    raw_id_fields = ("target_agent", "target_desk")


@admin.register(DeskSla)
class DeskSlaAdmin(admin.ModelAdmin[DeskSla]):
    list_display = ("desk", "minutes_to_first_contact", "escalate_to", "auto_reassign", "is_active")
    raw_id_fields = ("desk", "escalate_to")


@admin.register(AgentAvailability)
class AgentAvailabilityAdmin(admin.ModelAdmin[AgentAvailability]):
    list_display = ("user", "status", "shift_start", "shift_end")
    list_filter = ("status",)
    raw_id_fields = ("user", "updated_by")


@admin.register(LeadTouch)
class LeadTouchAdmin(admin.ModelAdmin[LeadTouch]):
    list_display = ("created_at", "brand", "channel", "source", "campaign_code", "is_repeat")
    list_filter = ("brand", "channel", "is_repeat")
    raw_id_fields = ("client", "campaign", "api_key", "lead_import")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a touch is a record of what arrived


@admin.register(ClientMerge)
class ClientMergeAdmin(admin.ModelAdmin[ClientMerge]):
    list_display = ("created_at", "kept_code", "merged_code", "actor")
    raw_id_fields = ("kept", "merged", "actor")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LeadImport)
class LeadImportAdmin(admin.ModelAdmin[LeadImport]):
    list_display = ("filename", "brand", "status", "total", "created", "duplicates", "failed", "created_at")
    list_filter = ("status", "brand")
    exclude = ("content",)
    raw_id_fields = ("created_by", "job")
