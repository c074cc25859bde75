from __future__ import annotations

from django.apps import AppConfig


class MonitoringReviewConfig(AppConfig):
    name = "monitoring.review"
    label = "monitoring_review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.models import RoleCode
        from crm.registry import NavItem, contribute
        from monitoring.review import event_types, handlers  # noqa: F401  (declares, subscribes)

        budget = ["monitoring_review.view_deskalertbudget", "monitoring_review.change_deskalertbudget"]
        contribute("monitoring.review", permissions={
            RoleCode.ADMIN: budget, RoleCode.DESK_MANAGER: budget, RoleCode.COMPLIANCE: budget[:1],
        }, navigation=[
            NavItem("monitoring_budget", _("Alert budget"), "monitoring_budget", "chart",
                    permission="monitoring_review.view_deskalertbudget", order=281),
            NavItem("monitoring_performance", _("Agent performance"), "monitoring_performance", "chart",
                    permission="monitoring_review.view_deskalertbudget", order=282),
        ])
