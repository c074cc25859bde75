from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading platforms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.registry import ApiScope, contribute
        from trading import metrics
        from trading.views import ui_contributions

        metrics.register()  # sync lag per server on /metrics

        contribute("trading", permissions=_role_permissions(), navigation=_navigation(), api_scopes=[ApiScope(
            "trading:read", _("List the brand's trading accounts and their platform deals."), order=195), ApiScope(
            "trading:write", _("Open trading accounts for the brand's clients and change their leverage."), order=200)],
            playbook=[_win_back_rule()], **ui_contributions())
        from crm.audit import audit_object_links_register
        from trading.views import account_audit_links

        audit_object_links_register("trading.tradingaccount", account_audit_links)
        _register_job_kinds()
        from crm.lib.partitions import PARTITIONED_TABLES, MonthlyTable

        # Deals by month of their time (migration 0016); the sync makes an older month when it stores one.
        PARTITIONED_TABLES.register(MonthlyTable(table="trading_deal", column="time",
                                                 retention_setting="TRADING_HISTORY_RETENTION_YEARS", retention_years=7))


def _register_job_kinds() -> None:
    from django.utils.translation import gettext_lazy as _

    from crm.jobs import job_kind_register
    from trading.services import LOWER_JOB_KIND

    job_kind_register(LOWER_JOB_KIND, label=_("Leverage lowered to the caps"),
                      counts={"lowered": _("Lowered"), "skipped": _("Skipped"), "failed": _("Failed")})


def _role_permissions() -> dict[str, list[str]]:
    """Every role that works clients sees their trading accounts; dealers change them and watch deals
    and servers; finance moves money; administrators configure the servers; retention agents and desk
    managers work the retention workspace."""
    from crm.models import RoleCode

    view = ["trading.view_tradingaccount", "trading.view_position", "trading.view_balanceoperation"]
    agent = [*view, "trading.add_tradingaccount", "trading.reset_trading_password"]
    # Prop challenges: dealers, finance and compliance watch them; administrators write the products.
    prop = ["trading.view_challenge", "trading.view_challengeproduct"]
    return {
        RoleCode.ADMIN: [*view, *prop, "trading.add_challengeproduct", "trading.add_tradingaccount",
                         "trading.change_tradingaccount",
                         "trading.reset_trading_password", "trading.add_balanceoperation", "trading.view_deal",
                         "trading.view_platformserver", "trading.add_platformserver", "trading.change_platformserver",
                         "trading.work_retention"],
        RoleCode.DEALER: [*view, *prop, "trading.add_tradingaccount", "trading.change_tradingaccount",
                          "trading.reset_trading_password", "trading.view_deal", "trading.view_platformserver"],
        RoleCode.FINANCE: [*view, *prop, "trading.add_balanceoperation", "trading.view_deal"],
        RoleCode.COMPLIANCE: [*view, *prop, "trading.view_deal"],
        RoleCode.DESK_MANAGER: [*agent, "trading.work_retention"],
        RoleCode.SALES_AGENT: agent,
        RoleCode.RETENTION_AGENT: [*agent, "trading.work_retention"],
        RoleCode.IB_MANAGER: ["trading.view_tradingaccount"],
    }


def _win_back_rule() -> Any:
    from crm.registry import PlaybookRule

    return PlaybookRule({
        "name": "No trade for 12 days: retention task",
        "trigger": "trading.account_inactive",
        "conditions": [{"field": "data.days", "operator": "gte", "value": 12}],
        "actions": [{"type": "create_task", "title": "Win back {{ client.full_name }}: no trade for 12 days",
                     "assignee": "owner", "due_in_hours": 48, "description": ""}],
    }, order=40)


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem("retention", _("Retention"), "trading_retention", "alert", permission="trading.work_retention",
                order=70),
        NavItem("dealing", _("Dealing"), "trading_deal_list", "swap", permission="trading.view_deal", order=300),
        NavItem("exposure", _("Exposure"), "trading_exposure", "flag", permission="trading.view_deal", order=310),
        NavItem("prop", _("Prop challenges"), "trading_challenge_list", "chart", permission="trading.view_challenge",
                order=320),
        NavItem("platforms", _("Platforms"), "trading_server_list", "link", permission="trading.view_platformserver",
                order=790),
    ]
