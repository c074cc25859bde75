from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db import DEFAULT_DB_ALIAS


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading platforms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from trading.views import register_ui

        register_ui()  # the client profile's Trading tab and the timeline labels of trading events
        from crm.audit import audit_object_links_register
        from trading.views import account_audit_links

        audit_object_links_register("trading.tradingaccount", account_audit_links)
        # crm.roles.roles_sync runs on the crm app's post_migrate and grants trading permissions,
        # which auth would otherwise create only at this (later) app's post_migrate. Creating them
        # at auth's own post_migrate, which comes before crm's, keeps migrate and flush working.
        post_migrate.connect(_trading_permissions_early, sender=apps.get_app_config("auth"),
                             dispatch_uid="trading.permissions_early")
        _register_job_kinds()


def _register_job_kinds() -> None:
    from django.utils.translation import gettext_lazy as _

    from crm.jobs import job_kind_register
    from trading.services import LOWER_JOB_KIND

    job_kind_register(LOWER_JOB_KIND, label=_("Leverage lowered to the caps"),
                      counts={"lowered": _("Lowered"), "skipped": _("Skipped"), "failed": _("Failed")})


def _trading_permissions_early(sender: Any, *, using: str = DEFAULT_DB_ALIAS, apps: Any = None,
                               verbosity: int = 0, **_: Any) -> None:
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    state_apps = apps or global_apps
    try:
        state_apps.get_model("trading", "TradingAccount")
    except LookupError:
        return  # migrating to a state without trading's models: nothing to create yet
    config = global_apps.get_app_config("trading")
    create_permissions(config, verbosity=verbosity, using=using, apps=state_apps)
