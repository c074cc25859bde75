from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class IbConfig(AppConfig):
    name = "ib"
    verbose_name = "Partners"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.registry import ApiScope, contribute
        from ib.views import ui_contributions

        contribute("ib", permissions=_role_permissions(), navigation=_navigation(), api_scopes=[ApiScope(
            "ib:read", _("Read the brand's partners, their referred clients, commission lines and settlements."),
            order=400)], **ui_contributions())
        _jobs()


def _jobs() -> None:
    from django.utils.translation import gettext_lazy as _

    from crm.jobs import job_kind_register
    from ib.commissions import RUN_JOB_KIND
    from ib.importer import IMPORT_JOB_KIND

    job_kind_register(RUN_JOB_KIND, label=_("Commission run"),
                      counts={"lines": _("Commission lines"), "partners": _("Partner totals")})
    job_kind_register(IMPORT_JOB_KIND, label=_("Partner programme import"), counts={
        "instrument_groups": _("Instrument groups"), "instruments": _("Instruments"), "fx_rates": _("FX rates"),
        "partners": _("Partners"), "plans": _("Plans"), "plan_versions": _("Plan versions"),
        "assignments": _("Assignments"), "clients": _("Clients"), "accounts": _("Trading accounts"),
        "attributions": _("Attributions"), "deposits": _("Deposits")})


def _role_permissions() -> dict[str, list[str]]:
    """IB managers run the programme (partners, applications, moves, attribution, commission runs
    and their settlement); administrators too; compliance reads who brought whom; finance pays
    partners' payout requests."""
    from crm.models import RoleCode

    read = ["ib.view_partner", "ib.view_trackinglink", "ib.view_clientattribution", "ib.view_attributionconflict"]
    manage = [*read, "ib.manage_partners", "ib.change_partner", "ib.run_commissions"]
    # Finance pays partners' payout requests (ib.settlement); administrators may too.
    payouts = ["ib.decide_payout", "ib.view_partnerpayout"]
    return {RoleCode.IB_MANAGER: manage, RoleCode.ADMIN: [*manage, *payouts], RoleCode.COMPLIANCE: read,
            RoleCode.FINANCE: payouts}


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem("ib_partners", _("Partners"), "ib_partner_list", "users", permission="ib.view_partner", order=400),
        NavItem("ib_applications", _("Partner applications"), "ib_application_list", "inbox",
                permission="ib.manage_partners", order=405),
        NavItem("ib_conflicts", _("Attribution conflicts"), "ib_conflict_list", "flag",
                permission="ib.manage_partners", order=410),
        NavItem("ib_disputes", _("Commission disputes"), "ib_dispute_list", "alert",
                permission="ib.manage_partners", order=412),
        NavItem("ib_banners", _("Partner banners"), "ib_banner_list", "image", permission="ib.view_partner",
                order=415),
        NavItem("ib_plans", _("Commission plans"), "ib_plan_list", "scale", permission="ib.manage_partners",
                order=418),
        NavItem("ib_runs", _("Commission runs"), "ib_run_list", "refresh", permission="ib.run_commissions", order=420),
        NavItem("ib_payouts", _("Partner payouts"), "ib_payout_list", "up", permission="ib.decide_payout",
                order=776),
    ]
