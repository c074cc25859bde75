from __future__ import annotations

from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm import events

        events.autodiscover_handlers()
