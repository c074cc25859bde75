from __future__ import annotations

from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from leads import timeline  # noqa: F401  (the profile's Lead tab and the timeline's lead events)
