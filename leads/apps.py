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
