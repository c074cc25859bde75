from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.registry import contribute

        contribute("monitoring", permissions=_permissions())


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
