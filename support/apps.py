from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.registry import ApiScope, contribute
        from support.letters import playbook_templates as support_emails
        from support.subject_data import register as subject_data_register

        subject_data_register()  # the tickets in a client's copy of their data (compliance.data_requests)
        from support.erasure import register as erasure_register

        erasure_register()  # the tickets in an erasure and in the retention schedule (compliance)
        contribute("support", permissions=_permissions(), timeline=_timeline(), navigation=_navigation(),
                   playbook_templates=support_emails(), api_scopes=[
                       ApiScope("support:read", _("Read the brand's support tickets and their threads."), order=340),
                       ApiScope("support:write", _("Open tickets for the brand's clients and write the requester's "
                                                   "messages on them."), order=341)])
        # The staff desk's pages and the client profile's Tickets tab (under their own name: one
        # "support" contribution would replace the other's).
        contribute("support.desk", **_desk_contributions())
        from support import desk_cache

        desk_cache.connect()


def _permissions() -> dict[str, list[str]]:
    """Who works tickets and complaints.

    Support agents, desk managers and the sales floor answer the tickets of the clients they see
    (support.permissions scopes them); finance and IB managers read them (a withdrawal's question, a
    partner's). Desk managers and administrators set desks, SLA policies, canned answers and rules.
    Compliance officers read and answer tickets, and alone (with administrators) close complaints
    and export the register. Support agents see every client of their brands (the tickets come from
    anyone) and their notes, not their contact details."""
    from crm.models import RoleCode

    read = ["support.view_ticket", "support.view_ticketmessage"]
    work = [*read, "support.change_ticket", "support.add_ticket", "support.view_complaint"]
    complaints = ["support.view_complaint", "support.add_complaint", "support.change_complaint"]
    manage = ["support.manage_desk", "support.view_supportdesk", "support.view_slapolicy",
              "support.view_cannedanswer", "support.view_assignmentrule"]
    officer = [*work, *complaints, "support.close_complaint", "support.export_complaint"]
    return {
        RoleCode.ADMIN: [*officer, *manage],
        RoleCode.COMPLIANCE: officer,
        RoleCode.DESK_MANAGER: [*work, *complaints, *manage],
        RoleCode.SUPPORT_AGENT: [*work, *complaints, "crm.view_client", "crm.view_all_clients", "crm.view_note",
                                 "crm.add_note", "crm.view_task", "crm.add_task", "crm.change_task",
                                 "crm.view_notification"],
        RoleCode.SALES_AGENT: work,
        RoleCode.RETENTION_AGENT: work,
        RoleCode.FINANCE: read,
        RoleCode.IB_MANAGER: read,
    }


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [NavItem("support_complaints", _("Complaints"), "support_complaints", "flag",
                    permission="support.view_complaint", order=620)]


def _timeline() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import TimelineKind

    def summary(event: Any) -> str:
        data = event.data or {}
        return f"{data.get('ticket', '')} {data.get('subject', '')}".strip()

    return [
        TimelineKind("support.ticket.opened", _("Ticket opened"), "inbox", summary),
        TimelineKind("support.ticket.answered", _("Ticket answered"), "mail", summary),
        TimelineKind("support.ticket.client_replied", _("Client wrote on a ticket"), "mail", summary),
        TimelineKind("support.ticket.breached", _("Ticket missed its SLA"), "alert", summary),
        TimelineKind("support.ticket.closed", _("Ticket closed"), "check", summary),
        TimelineKind("support.ticket.reopened", _("Ticket reopened"), "inbox", summary),
        TimelineKind("support.ticket.rated", _("Ticket rated"), "check", summary),
        TimelineKind("support.complaint.registered", _("Complaint registered"), "flag",
                     lambda event: str((event.data or {}).get("complaint", ""))),
        TimelineKind("support.complaint.closed", _("Complaint closed"), "check",
                     lambda event: str((event.data or {}).get("complaint", ""))),
    ]


def _desk_contributions() -> dict[str, Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.models import RoleCode
    from crm.registry import ClientTab, HomePanel, NavItem
    from support.desk_views import client_tab_context
    from support.home_panel import support_home_context

    return {
        "navigation": [
            NavItem("support_queue", _("Support"), "support_queue", "inbox", permission="support.view_ticket",
                    order=240),
            NavItem("support_desks", _("Support desks"), "support_desks", "settings",
                    permission="support.manage_desk", order=241),
            NavItem("support_canned", _("Canned answers"), "support_canned", "mail",
                    permission="support.manage_desk", order=242),
        ],
        "tabs": [ClientTab(key="tickets", label=_("Tickets"), template="support/desk/client_tab.html", order=45,
                           permission="support.view_ticket", context=client_tab_context, icon="inbox")],
        # The people who work the desk land on their tickets; the sales floor keeps its dashboard.
        "home": [HomePanel(key="support", template="support/desk/home_panel.html", context=support_home_context,
                           permission="support.change_ticket", roles=(RoleCode.SUPPORT_AGENT, RoleCode.DESK_MANAGER),
                           order=20)],
    }
