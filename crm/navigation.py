"""Navigation by role: which top-level pages a user sees. Later apps add entries to NAV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    key: str
    label: Any
    url_name: str
    icon: str = ""
    roles: frozenset[str] | None = None  # None: every role
    admin_only: bool = False


NAV: list[NavItem] = [
    NavItem("home", _("Dashboard"), "home", "home"),
    NavItem("clients", _("Clients"), "client_list", "users"),
    NavItem("tasks", _("My tasks"), "task_list", "check"),
    NavItem("notifications", _("Notifications"), "notification_list", "bell"),
    NavItem("lead_workspace", _("My leads"), "lead_workspace", "inbox",
            roles=frozenset({"sales_agent", "retention_agent", "desk_manager"})),
    NavItem("sales_kpis", _("Sales KPIs"), "sales_kpis", "flag", roles=frozenset({"sales_agent", "retention_agent", "desk_manager"})),
    NavItem("lead_segments", _("Segments"), "lead_segment_list", "users", roles=frozenset({"desk_manager"})),
    NavItem("lead_assign", _("Lead queue"), "lead_assign", "swap", roles=frozenset({"desk_manager"})),
    NavItem("lead_imports", _("Lead imports"), "lead_import_list", "inbox", roles=frozenset({"desk_manager"})),
    NavItem("jobs", _("My jobs"), "job_list", "check", roles=frozenset({"desk_manager"})),
    NavItem("lead_settings", _("Lead routing"), "lead_routing_list", "settings", admin_only=True),
    NavItem("lead_pipeline", _("Sales pipeline"), "lead_pipeline_settings", "flag", admin_only=True),
    NavItem("platforms", _("Platforms"), "trading_server_list", "link", admin_only=True),
    NavItem("dealing", _("Dealing"), "trading_deal_list", "swap", roles=frozenset({"dealer"})),
    NavItem("exposure", _("Exposure"), "trading_exposure", "flag", roles=frozenset({"dealer", "finance"})),
    NavItem("retention", _("Retention"), "trading_retention", "alert", roles=frozenset({"retention_agent", "desk_manager"})),
    NavItem("automation", _("Automation"), "automation_rule_list", "flag", admin_only=True),
    NavItem("email_templates", _("Email templates"), "email_template_list", "mail", admin_only=True),
    NavItem("deliveries", _("Event deliveries"), "delivery_list", "alert", admin_only=True),
    NavItem("event_catalogue", _("Event catalogue"), "event_catalogue", "note", admin_only=True),
    NavItem("audit", _("Audit log"), "audit_list", "shield", roles=frozenset({"admin", "compliance"})),
    NavItem("apikeys", _("API keys"), "apikey_list", "key", admin_only=True),
    NavItem("staff", _("Staff"), "staff_list", "user", admin_only=True),
    NavItem("roles", _("Roles"), "role_list", "shield", admin_only=True),
]


def nav_items_for(user: Any) -> list[dict[str, Any]]:
    items = []
    for item in NAV:
        if item.admin_only and not user.is_administrator:
            continue
        if item.roles is not None and not (user.is_administrator or user.role_code in item.roles):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        items.append({"key": item.key, "label": item.label, "url": url, "icon": item.icon})
    return items
