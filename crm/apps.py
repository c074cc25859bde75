from __future__ import annotations

from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from crm import events
        from crm.roles import roles_sync_after_migrate

        events.autodiscover_handlers()
        from crm import automation_handlers  # noqa: F401  (automation rules on the event stream)
        # A freshly migrated (or flushed) database always has every role and its permissions.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="crm.roles_sync")
