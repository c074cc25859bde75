from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.registry import ApiScope, contribute
        from leads.sales_tabs import SALES_TABS, SALES_TIMELINE
        from leads.segments import register_automation_action
        from leads.timeline import LEAD_TABS, LEAD_TIMELINE

        contribute("leads", navigation=_navigation(), playbook=[_first_call_rule()], api_scopes=[ApiScope(
                       "leads:write", _("Send leads (POST /leads): one, or batches of up to 1,000."), order=100)], tabs=[*LEAD_TABS, *SALES_TABS],
                   timeline=[*LEAD_TIMELINE, *SALES_TIMELINE])

        register_automation_action()  # automation's "add_to_segment"
        _register_job_kinds()


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    # Each entry is shown on the terms its page opens: the desk's lead pages need the right to
    # assign clients (desk managers), an agent's own leads the right to work clients.
    return [
        NavItem("lead_workspace", _("My leads"), "lead_workspace", "inbox", permission="crm.add_client", order=50),
        NavItem("sales_kpis", _("Sales KPIs"), "sales_kpis", "flag", order=60),
        NavItem("lead_assign", _("Lead queue"), "lead_assign", "swap", permission="crm.assign_client", order=100),
        NavItem("lead_segments", _("Segments"), "lead_segment_list", "users", permission="crm.assign_client",
                order=110),
        NavItem("lead_imports", _("Lead imports"), "lead_import_list", "inbox", permission="crm.assign_client",
                order=120),
        NavItem("lead_availability", _("Team availability"), "lead_availability_list", "clock",
                permission="crm.assign_client", order=130),
        NavItem("lead_settings", _("Lead routing"), "lead_routing_list", "settings", admin_only=True, order=700),
        NavItem("lead_pipeline", _("Sales pipeline"), "lead_pipeline_settings", "flag", admin_only=True, order=710),
    ]


def _first_call_rule() -> Any:
    from crm.registry import PlaybookRule

    return PlaybookRule({
        "name": "New lead: first call on the owner's list",
        "description": ("The intake routes each lead and notifies its new owner at once; this puts the "
                        "first call on the owner's task list, due within the hour."),
        "trigger": "lead.routed",
        "conditions": [{"field": "client.has_owner", "operator": "eq", "value": True}],
        "actions": [{"type": "create_task", "title": "First call: {{ client.full_name }}", "assignee": "owner",
                     "due_in_hours": 1, "description": "{{ client.country }} · {{ client.language }}"}],
    }, order=10)


def _register_job_kinds() -> None:
    from django.utils.translation import gettext_lazy as _

    from crm.jobs import job_kind_register
    from leads.imports import IMPORT_JOB_KIND
    from leads.segments import EXPORT_JOB_KIND

    job_kind_register(IMPORT_JOB_KIND, label=_("Lead import"),
                      counts={"created": _("Created"), "duplicates": _("Duplicates"), "failed": _("Failed")})
    job_kind_register(EXPORT_JOB_KIND, label=_("Segment export"), counts={"rows": _("Rows written")})
