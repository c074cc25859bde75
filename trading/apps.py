from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db import DEFAULT_DB_ALIAS


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading platforms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from crm.registry import contribute
        from trading.views import ui_contributions

        contribute("trading", permissions=_role_permissions(), navigation=_navigation(), **ui_contributions())
        from crm.audit import audit_object_links_register
        from trading.views import account_audit_links

        audit_object_links_register("trading.tradingaccount", account_audit_links)
        # crm.roles.roles_sync runs on the crm app's post_migrate and grants trading permissions,
        # which auth would otherwise create only at this (later) app's post_migrate. Creating them
        # at auth's own post_migrate, which comes before crm's, keeps migrate and flush working.
        post_migrate.connect(_trading_permissions_early, sender=apps.get_app_config("auth"),
                             dispatch_uid="trading.permissions_early")


def _trading_permissions_early(sender: Any, *, using: str = DEFAULT_DB_ALIAS, apps: Any = None,
                               verbosity: int = 0, **_: Any) -> None:
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    state_apps = apps or global_apps
    try:
        state_apps.get_model("trading", "TradingAccount")
    except LookupError:
        return  # migrating to a state without trading's models: nothing to create yet
    config = global_apps.get_app_config("trading")
    create_permissions(config, verbosity=verbosity, using=using, apps=state_apps)


def _role_permissions() -> dict[str, list[str]]:
    """Every role that works clients sees their trading accounts; dealers change them and watch deals
    and servers; finance moves money; administrators configure the servers."""
    from crm.models import RoleCode

    view = ["trading.view_tradingaccount", "trading.view_position", "trading.view_balanceoperation"]
    agent = [*view, "trading.add_tradingaccount", "trading.reset_trading_password"]
    return {
        RoleCode.ADMIN: [*view, "trading.add_tradingaccount", "trading.change_tradingaccount",
                         "trading.reset_trading_password", "trading.add_balanceoperation", "trading.view_deal",
                         "trading.view_platformserver", "trading.add_platformserver", "trading.change_platformserver"],
        RoleCode.DEALER: [*view, "trading.add_tradingaccount", "trading.change_tradingaccount",
                          "trading.reset_trading_password", "trading.view_deal", "trading.view_platformserver"],
        RoleCode.FINANCE: [*view, "trading.add_balanceoperation", "trading.view_deal"],
        RoleCode.COMPLIANCE: [*view, "trading.view_deal"],
        RoleCode.DESK_MANAGER: agent,
        RoleCode.SALES_AGENT: agent,
        RoleCode.RETENTION_AGENT: agent,
        RoleCode.IB_MANAGER: ["trading.view_tradingaccount"],
    }


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem("dealing", _("Dealing"), "trading_deal_list", "swap", permission="trading.view_deal", order=300),
        NavItem("platforms", _("Platforms"), "trading_server_list", "link", permission="trading.view_platformserver",
                order=790),
    ]
