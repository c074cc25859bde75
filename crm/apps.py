from __future__ import annotations

from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.db.models.signals import post_migrate

        from crm import events
        from crm.roles import roles_sync_after_migrate

        # The catalogue first: handlers and automation rules are checked against it.
        events.autodiscover_event_types()
        events.autodiscover_handlers()
        checks.register(events.subscriptions_check, checks.Tags.compatibility, "crm")
        # The user's saved language applies from the first page after any sign-in.
        from django.contrib.auth.signals import user_logged_in

        from crm import automation_handlers  # noqa: F401  (automation rules on the event stream)
        from crm.lib.middleware import language_on_login

        user_logged_in.connect(language_on_login, dispatch_uid="crm.language_on_login")
        # The audit log names clients and links to the profiles the viewer may open.
        from crm.audit import audit_object_links_register
        from crm.views.audit import client_audit_links

        audit_object_links_register("crm.client", client_audit_links)
        # The client list's export runs as a background job; its page names it and its count.
        from django.utils.translation import gettext_lazy as _

        from crm.exports import EXPORT_JOB_KIND
        from crm.jobs import job_kind_register

        job_kind_register(EXPORT_JOB_KIND, label=_("Client list export"), counts={"rows": _("Rows written")})
        # A freshly migrated (or flushed) database always has every role and its permissions.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="crm.roles_sync")
        # API keys cached by the processes are dropped when a key or a brand changes.
        from django.db.models.signals import post_save

        from crm import apikey_cache
        from crm.models import ApiKey, Brand

        for model in (ApiKey, Brand):
            post_save.connect(apikey_cache.on_saved, sender=model, dispatch_uid=f"crm.apikey_cache.{model.__name__}")
