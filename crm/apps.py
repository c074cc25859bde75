from __future__ import annotations

from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.db.models.signals import post_migrate

        # The Celery app, so that every task sent from this process (web, RQ worker, tests) goes
        # through it with its settings and signal handlers (crm/celery.py).
        import crm.celery  # noqa: F401
        from crm import events
        from crm.roles import roles_sync_after_migrate

        # The catalogue first: handlers and automation rules are checked against it.
        _contribute_core()
        events.autodiscover_event_types()
        events.autodiscover_handlers()
        checks.register(events.subscriptions_check, checks.Tags.compatibility, "crm")
        # The user's saved language applies from the first page after any sign-in.
        from django.contrib.auth.signals import user_logged_in

        from crm.lib.middleware import language_on_login

        user_logged_in.connect(language_on_login, dispatch_uid="crm.language_on_login")
        # Failed logins are counted for /metrics (staff, portal, partners, API).
        from django.contrib.auth.signals import user_login_failed

        from crm.metrics import login_failed

        user_login_failed.connect(login_failed, dispatch_uid="crm.metrics.login_failed")
        # The audit log names clients and links to the profiles the viewer may open.
        from crm.audit import audit_object_links_register
        from crm.views.audit import client_audit_links

        audit_object_links_register("crm.client", client_audit_links)
        # The client list's export runs as a background job; its page names it and its count.
        from django.utils.translation import gettext_lazy as _

        from crm.exports import EXPORT_JOB_KIND
        from crm.jobs import job_kind_register

        job_kind_register(EXPORT_JOB_KIND, label=_("Client list export"), counts={"rows": _("Rows written")})
        # The history tables partitioned by month (crm.lib.partitions): made ahead daily, archived past retention.
        from crm.lib.partitions import PARTITIONED_TABLES, MonthlyTable

        PARTITIONED_TABLES.register(
            MonthlyTable(table="crm_event", column="occurred_at", retention_setting="EVENT_RETENTION_YEARS"),
            MonthlyTable(table="crm_auditlog", column="at", retention_setting="AUDIT_RETENTION_YEARS"),
            MonthlyTable(table="crm_accessevent", column="at", retention_setting="ACCESS_EVENT_RETENTION_YEARS"),
        )
        # The audit log is archived oldest month first, each leaving the anchor its chain goes on from;
        # the outbox keeps a month while deliveries of its events are still under way.
        from crm.audit import audit_archive_check, audit_archive_reattach, audit_archive_record
        from crm.events import events_archive_check, outbox_archive_guard
        from crm.lib.partitions import ARCHIVE_HOOKS, ArchiveHook

        ARCHIVE_HOOKS.register(ArchiveHook(table="crm_auditlog", name="audit chain", check=audit_archive_check,
                                           record=audit_archive_record, reattach=audit_archive_reattach))
        outbox_archive_guard("event deliveries", events_archive_check)
        # A freshly migrated (or flushed) database always has every role and its permissions.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="crm.roles_sync")


def _contribute_core() -> None:
    """The core registers its own roles, menu, tabs and timeline the way every app does (the scopes of
    its resources' API come with their routers, from integrations)."""
    from crm.navigation import CORE_NAVIGATION
    from crm.registry import contribute
    from crm.roles import CORE_CUSTOM_PERMISSIONS, CORE_PERMISSIONS
    from crm.views.ui.tabs import CORE_TABS
    from crm.views.ui.timeline import CORE_TIMELINE

    contribute("crm", permissions=CORE_PERMISSIONS, custom_permissions=CORE_CUSTOM_PERMISSIONS,
               navigation=CORE_NAVIGATION, tabs=CORE_TABS, timeline=CORE_TIMELINE)
