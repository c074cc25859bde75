from __future__ import annotations

from typing import Any

from django.apps import AppConfig

# Who works cases (compliance officers and administrators) reads compliance's and monitoring's events
# outside the pages and gives an API key the scopes that carry them.
EVENTS_PERMISSION = "compliance.view_case"


class ComplianceConfig(AppConfig):
    name = "compliance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from compliance.jurisdictions import registration_refusal
        from compliance.restrictions import deposit_check, withdrawal_check
        from compliance.views_restrictions import ui_contributions
        from compliance.withdrawal_holds import withdrawal_hold_flags
        from crm.registry import ApiScope, NavItem, contribute
        from leads.services import register_intake_check
        from wallet.services import (
            register_deposit_check,
            register_risk_flag_check,
            register_withdrawal_check,
        )

        # The hook points of the apps below: each asks compliance without importing it.
        register_withdrawal_check(withdrawal_check)
        register_risk_flag_check(withdrawal_hold_flags)
        register_deposit_check(deposit_check)
        register_intake_check(registration_refusal)
        # Each part contributes under its own name: one "compliance" contribution would replace the
        # other's permissions. The client's Compliance tab (ui_contributions) holds both parts' sections.
        contribute("compliance.aml", permissions=_aml_permissions(), navigation=_aml_navigation())
        contribute("compliance.screening", permissions=_screening_permissions(), navigation=_screening_navigation())
        contribute("compliance.cases", permissions=_case_permissions(), navigation=[
            NavItem("compliance_dashboard", _("Compliance"), "compliance_dashboard", "chart",
                    permission="compliance.view_case", order=289),
            NavItem("compliance_cases", _("Cases"), "compliance_case_queue", "inbox",
                    permission="compliance.view_case", order=291)])
        contribute(
            "compliance.restrictions", permissions=_role_permissions(),
            navigation=[NavItem("compliance_jurisdictions", _("Jurisdictions"), "compliance_jurisdictions", "shield",
                                permission="compliance.view_jurisdiction", order=295)],
            api_scopes=[
                ApiScope("compliance:read", _("Read brands' jurisdictions and clients' restrictions."), order=260),
                ApiScope("compliance:write", _("Set jurisdictions, impose and lift clients' restrictions."),
                         order=261),
            ],
            **ui_contributions(),
        )
        # The client risk score and the compliance trail export (issue 35, items 2 and 5).
        from compliance.trail import TRAIL_JOB_KIND

        contribute("compliance.risk", permissions=_risk_permissions(), navigation=_risk_navigation(),
                   api_scopes=[ApiScope("compliance:risk", _("Read clients' risk scores and their history."), order=262)])
        # Compliance's events (hits, cases, AML alerts, risk bands, restrictions with their reasons) reach an
        # API key or its webhooks only with this scope, which only who works cases may give (tipping off).
        contribute("compliance.events", api_scopes=[ApiScope(
            "compliance:events", _("Receive compliance's events (screening hits, cases and their decisions, AML "
                                   "alerts, risk bands, restrictions) in the event feed and webhooks. Given by a "
                                   "compliance officer or an administrator."),
            order=263, events=("compliance.",), permission=EVENTS_PERMISSION)])
        from crm.jobs import job_kind_register

        job_kind_register(TRAIL_JOB_KIND, label=_("Compliance trail export"),
                          counts={"rows": _("Rows"), "documents": _("Documents")})
        # Data-subject requests (issue 64): officers and administrators see, record, export and decide them.
        from compliance.data_requests import EXPORT_JOB_KIND

        contribute("compliance.data_requests", permissions=_data_request_permissions(), navigation=[
            NavItem("compliance_data_requests", _("Data requests"), "compliance_data_requests", "inbox",
                    permission="compliance.view_datasubjectrequest", order=298)])
        contribute("compliance.retention", navigation=[
            NavItem("compliance_retention", _("Retention"), "compliance_retention", "settings",
                    permission="compliance.view_datasubjectrequest", order=299)])
        job_kind_register(EXPORT_JOB_KIND, label=_("Copy of a client's personal data"),
                          counts={"files": _("Files"), "rows": _("Rows")})
        # Erased clients' names masked where the audit log's rows (hashed, never rewritten) are shown.
        from compliance.erasure_mask import audit_rows_mask
        from crm.audit import AUDIT_ROW_MASKS

        AUDIT_ROW_MASKS.register(audit_rows_mask)

def _data_request_permissions() -> dict[str, list[str]]:
    """Compliance officers and administrators see clients' data-subject requests, record one on a
    client's behalf, build the export, approve an erasure or refuse; nobody else."""
    from crm.models import RoleCode

    officer = ["compliance.view_datasubjectrequest", "compliance.add_datasubjectrequest",
               "compliance.change_datasubjectrequest"]
    return {RoleCode.ADMIN: officer, RoleCode.COMPLIANCE: officer}


def _screening_permissions() -> dict[str, list[str]]:
    """Compliance officers and administrators work the screening queue, decide hits and load list
    versions; nobody else sees hits (a sanctions alert is not for the sales floor)."""
    from crm.models import RoleCode

    officer = ["compliance.view_screeninghit", "compliance.change_screeninghit", "compliance.view_watchlist",
               "compliance.view_watchlistversion", "compliance.add_watchlistversion"]
    return {RoleCode.ADMIN: officer, RoleCode.COMPLIANCE: officer}


def _case_permissions() -> dict[str, list[str]]:
    """Compliance officers and administrators work cases; nobody else sees anything of one (tipping
    off: not the sales floor, not finance, not the client)."""
    from crm.models import RoleCode

    officer = ["compliance.view_case", "compliance.change_case"]
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


def _role_permissions() -> dict[str, list[str]]:
    """Compliance officers and administrators set jurisdictions and impose and lift restrictions;
    finance sees them (why a client's money does not move)."""
    from crm.models import RoleCode

    view = ["compliance.view_jurisdiction", "compliance.view_restriction"]
    officer = [*view, "compliance.add_jurisdiction", "compliance.change_jurisdiction", "compliance.add_restriction",
               "compliance.change_restriction"]
    return {RoleCode.ADMIN: officer, RoleCode.COMPLIANCE: officer, RoleCode.FINANCE: view}


def _risk_permissions() -> dict[str, list[str]]:
    """Compliance officers and administrators see and recompute clients' risk scores, set the brand's
    risk model and export the compliance trail; nobody else (a risk class is not for the sales floor)."""
    from crm.models import RoleCode

    officer = ["compliance.view_riskscore", "compliance.change_riskscore", "compliance.view_riskmodel",
               "compliance.change_riskmodel", "compliance.view_trailexport", "compliance.add_trailexport"]
    return {RoleCode.ADMIN: officer, RoleCode.COMPLIANCE: officer}


def _risk_navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem("compliance_risk_model", _("Risk model"), "compliance_risk_model", "chart",
                permission="compliance.view_riskmodel", order=296),
        NavItem("compliance_trail", _("Compliance trail"), "compliance_trail", "download",
                permission="compliance.add_trailexport", order=297),
    ]


def _aml_permissions() -> dict[str, list[str]]:
    """Compliance officers and administrators work the AML alerts and set the rules; nobody else sees
    either (an alert must not reach the sales floor or the client: tipping off)."""
    from crm.models import RoleCode

    officer = ["compliance.view_amlalert", "compliance.change_amlalert", "compliance.view_amlrule",
               "compliance.add_amlrule", "compliance.change_amlrule", "compliance.view_amlruleversion",
               "compliance.add_amlruleversion"]
    return {RoleCode.ADMIN: officer, RoleCode.COMPLIANCE: officer}


def _aml_navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem("compliance_aml_alerts", _("AML alerts"), "compliance_aml_alerts", "alert",
                permission="compliance.view_amlalert", order=290),
        NavItem("compliance_aml_rules", _("AML rules"), "compliance_aml_rules", "settings",
                permission="compliance.view_amlrule", order=291),
    ]
