from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.jobs import job_kind_register
        from crm.registry import ApiScope, NavItem, contribute
        from crm.services import access_listener_register
        from monitoring.export import EXPORT_JOB_KIND
        from monitoring.recording import access_recorded

        contribute("monitoring", permissions=_permissions(), navigation=[
            NavItem("monitoring_alerts", _("Monitoring alerts"), "monitoring_alerts", "alert",
                    permission="monitoring.view_monitoringalert", order=310),
            NavItem("monitoring_context", _("Monitoring context"), "monitoring_context_home", "check",
                    permission="monitoring.view_cover", order=311),
            NavItem("monitoring_settings", _("Monitoring settings"), "monitoring_settings", "check",
                    permission="monitoring.change_monitoringsettings", order=312),
        ])
        # Alerts about agents, traders and partners reach an API key or its webhooks only with this scope,
        # given only by who works compliance cases (the reporting officer is one; compliance.apps).
        contribute("monitoring.events", api_scopes=[ApiScope(
            "monitoring:events", _("Receive monitoring's events (alerts about agents, traders and partners, their "
                                   "decisions and escalations) in the event feed and webhooks. Given by a "
                                   "compliance officer or an administrator."),
            order=320, events=("monitoring.",), permission="compliance.view_case")])
        job_kind_register(EXPORT_JOB_KIND, label=_("Agent activity export"), counts={"events": _("Events")})
        # Every access the core logs (opens, reveals, exports, searches, logins) is activity.
        access_listener_register("monitoring", access_recorded)
        # Trading and partner abuse: the linked-accounts graph on the client's and the partner's pages.
        from monitoring import abuse_pages

        abuse_pages.register()


def _permissions() -> dict[str, list[str]]:
    """Desk managers and administrators record the context and review alerts; compliance officers
    (the reporting officer is usually one) review alerts. Agents see nothing of monitoring, and
    nobody sees an alert about themselves (monitoring.permissions)."""
    from crm.models import RoleCode

    context = [f"monitoring.{verb}_{model}" for model in ("cover", "leave", "notice", "shift", "campaignday", "holiday")
               for verb in ("view", "add", "change")]
    review = ["monitoring.view_monitoringalert", "monitoring.review_monitoringalert"]
    return {RoleCode.ADMIN: [*context, *review, "monitoring.change_monitoringsettings"],
            RoleCode.DESK_MANAGER: [*context, *review],
            RoleCode.COMPLIANCE: review}
