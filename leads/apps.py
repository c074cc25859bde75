from __future__ import annotations

from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from leads import (
            sales_tabs,  # noqa: F401  (the Calls tab, call and pipeline events)
            timeline,  # noqa: F401  (the profile's Lead tab and the timeline's lead events)
        )
        from leads.segments import register_automation_action

        register_automation_action()  # automation's "add_to_segment"
        _register_job_kinds()


def _register_job_kinds() -> None:
    from django.utils.translation import gettext_lazy as _

    from crm.jobs import job_kind_register
    from leads.imports import IMPORT_JOB_KIND
    from leads.segments import EXPORT_JOB_KIND

    job_kind_register(IMPORT_JOB_KIND, label=_("Lead import"),
                      counts={"created": _("Created"), "duplicates": _("Duplicates"), "failed": _("Failed")})
    job_kind_register(EXPORT_JOB_KIND, label=_("Segment export"), counts={"rows": _("Rows written")})
