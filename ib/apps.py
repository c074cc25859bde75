from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class IbConfig(AppConfig):
    name = "ib"
    verbose_name = "Partners"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.registry import contribute
        from ib.views import ui_contributions

        contribute("ib", permissions=_role_permissions(), navigation=_navigation(), **ui_contributions())


def _role_permissions() -> dict[str, list[str]]:
    """IB managers run the programme (partners, applications, moves, attribution); administrators
    too; compliance reads who brought whom."""
    from crm.models import RoleCode

    read = ["ib.view_partner", "ib.view_trackinglink", "ib.view_clientattribution", "ib.view_attributionconflict"]
    manage = [*read, "ib.manage_partners", "ib.change_partner", "ib.run_commissions"]
    return {RoleCode.IB_MANAGER: manage, RoleCode.ADMIN: manage, RoleCode.COMPLIANCE: read}


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem("ib_partners", _("Partners"), "ib_partner_list", "users", permission="ib.view_partner", order=400),
        NavItem("ib_conflicts", _("Attribution conflicts"), "ib_conflict_list", "flag",
                permission="ib.manage_partners", order=410),
    ]
