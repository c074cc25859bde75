from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "marketing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.registry import contribute
        from marketing.consent_views import consent_contribute

        contribute("marketing", permissions=_permissions(), navigation=_navigation())
        consent_contribute()  # the client page's consent tab and who reads it


def _permissions() -> dict[str, list[str]]:
    """Who works segments. The marketing role builds, counts and snapshots them over every client of
    its brands (it reads no client's record: counts and, later, campaigns). Compliance officers build
    them too, and alone (with administrators) on the risk band, which is for compliance's use only."""
    from crm.models import RoleCode

    work = [
        "marketing.view_segment",
        "marketing.add_segment",
        "marketing.change_segment",
        "marketing.view_segmentsnapshot",
        "marketing.add_segmentsnapshot",
    ]
    risk = ["marketing.segment_on_risk_band"]
    return {
        RoleCode.ADMIN: [*work, *risk],
        RoleCode.COMPLIANCE: [*work, *risk],
        RoleCode.MARKETING: [*work, "crm.view_notification"],
    }


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem(
            "marketing_segments",
            _("Marketing segments"),
            "marketing_segments",
            "users",
            permission="marketing.view_segment",
            order=300,
        )
    ]
