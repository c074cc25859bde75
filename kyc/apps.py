from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "kyc"
    verbose_name = "KYC"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.registry import ApiScope, contribute
        from kyc.emails import playbook_templates as email_templates
        from kyc.playbook import RULES, playbook_templates
        from kyc.vendors import register_default_vendors
        from kyc.views import ui_contributions

        register_default_vendors()

        contribute("kyc", permissions=_role_permissions(), navigation=_navigation(), playbook=RULES,
                   playbook_templates=[*playbook_templates(), *email_templates()],
                   api_scopes=[ApiScope("kyc:read", _("Read clients' verification submissions and their check "
                                                      "results."), order=250)],
                   **ui_contributions())
        # The questionnaire contributes under its own name: a second "kyc" contribution would replace
        # the permissions above.
        from kyc.questionnaire_views import questionnaire_contribute

        questionnaire_contribute()


def _role_permissions() -> dict[str, list[str]]:
    """Compliance officers and administrators review verifications, open documents, give the second
    approval of high-risk clients and set the brands' policies; everyone who works clients sees a
    client's verification status (not the documents)."""
    from crm.models import RoleCode

    status = ["kyc.view_kycprofile"]
    officer = [*status, "kyc.change_kycprofile", "kyc.view_submission", "kyc.review_submission",
               "kyc.view_documents", "kyc.approve_high_risk", "kyc.manage_policy", "kyc.view_kycpolicy",
               "kyc.change_kycpolicy"]
    return {
        RoleCode.ADMIN: officer,
        RoleCode.COMPLIANCE: officer,
        RoleCode.DESK_MANAGER: status,
        RoleCode.SALES_AGENT: status,
        RoleCode.RETENTION_AGENT: status,
        RoleCode.FINANCE: status,
        RoleCode.DEALER: status,
        RoleCode.IB_MANAGER: status,
    }


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [NavItem("kyc_queue", _("KYC queue"), "kyc_queue", "shield", permission="kyc.review_submission",
                    order=290)]
