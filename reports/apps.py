from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.models import RoleCode
        from crm.registry import NavItem, contribute

        # Management numbers: the roles that run a part of the business (a desk manager only their
        # desks' numbers, reports.selectors.dashboard_scope); agents have their own KPIs (leads).
        view = ["reports.view_dailyfigure"]
        schedule = [*view, "reports.view_reportschedule", "reports.add_reportschedule",
                    "reports.change_reportschedule", "reports.view_reportdelivery"]
        contribute("reports", permissions={
            RoleCode.ADMIN: schedule, RoleCode.FINANCE: schedule, RoleCode.DESK_MANAGER: schedule,
            RoleCode.COMPLIANCE: view, RoleCode.IB_MANAGER: view, RoleCode.DEALER: view,
        }, navigation=[
            NavItem("reports_dashboard", _("Management"), "reports_dashboard", "home",
                    permission="reports.view_dailyfigure", order=15),
            NavItem("reports_list", _("Reports"), "reports_list", "note", permission="reports.view_dailyfigure",
                    order=16),
            NavItem("reports_schedules", _("Report schedules"), "reports_schedules", "inbox",
                    permission="reports.add_reportschedule", order=17),
        ])
