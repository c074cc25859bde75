from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.registry import contribute

        # Under its own name: another "compliance" contribution (jurisdictions, restrictions) would
        # replace these permissions otherwise.
        contribute("compliance.screening", permissions=_screening_permissions(), navigation=_screening_navigation(),
                   **_screening_ui())


def _screening_permissions() -> dict[str, list[str]]:
    """Compliance officers and administrators work the screening queue, decide hits and load list
    versions; nobody else sees hits (a sanctions alert is not for the sales floor)."""
    from crm.models import RoleCode

    officer = ["compliance.view_screeninghit", "compliance.change_screeninghit", "compliance.view_watchlist",
               "compliance.view_watchlistversion", "compliance.add_watchlistversion"]
    return {RoleCode.ADMIN: officer, RoleCode.COMPLIANCE: officer}


def _screening_navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem("compliance_screening", _("Screening"), "compliance_screening_queue", "flag",
                permission="compliance.view_screeninghit", order=292),
        NavItem("compliance_lists", _("Watchlists"), "compliance_watchlist_versions", "inbox",
                permission="compliance.view_watchlistversion", order=293),
    ]


def _screening_ui() -> dict[str, Any]:
    """The Compliance tab of the client profile (its screening section). Screening events name the
    client in their data but are not the client's events: the timeline, which every member of staff
    who sees the client reads, must not tip anyone off about a sanctions alert."""
    from django.utils.translation import gettext_lazy as _

    from compliance.screening_views import screening_tab_context
    from crm.tabs import ClientTab

    return {
        "tabs": [ClientTab(key="compliance", label=_("Compliance"), template="compliance/client_tab.html", order=24,
                           permission="compliance.view_screeninghit", context=screening_tab_context)],
    }
