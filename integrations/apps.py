from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """The CRM to other systems: the API keys' pages, the API of the core's resources (clients, notes,
    tasks), the event feed, outbound webhooks (subscribers, sending, the delivery log) and their API.
    Above every domain app: it reads their events, none imports it."""

    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.events import outbox_archive_guard
        from crm.registry import ApiScope, NavItem, contribute
        from integrations.core_api import CORE_API_SCOPES
        from integrations.services import webhooks_archive_check

        contribute(
            "integrations",
            navigation=[
                NavItem("apikeys", _("API keys"), "apikey_list", "key", admin_only=True, order=850),
                NavItem("webhooks", _("Webhooks"), "webhook_subscriber_list", "key", admin_only=True, order=855),
                NavItem("moving_in", _("Move in from another CRM"), "moving_in", "key", admin_only=True, order=857),
            ],
            api_scopes=[
                *CORE_API_SCOPES,
                ApiScope("events:read", _("Read the brand's event feed."), order=70),
                ApiScope("webhooks:manage",
                         _("Subscribe to events as outbound webhooks; read the delivery log and replay."), order=80),
            ],
        )
        from crm.jobs import job_kind_register
        from integrations.moving_in.jobs import COUNT_LABELS, JOB_KIND

        job_kind_register(JOB_KIND, label=_("Move-in from another CRM"), counts=COUNT_LABELS)
        from crm.registry import SEARCH_EXTRAS, SearchExtra
        from integrations.moving_in.search import old_id_search_extra

        SEARCH_EXTRAS.register(SearchExtra(key="old_id", find=old_id_search_extra))  # old ids in the top search
        from integrations import metrics

        metrics.register()  # open deliveries by status on /metrics
        # The outbox keeps a month while webhook deliveries of its events are still under way.
        outbox_archive_guard("webhook deliveries", webhooks_archive_check)
        # API keys cached by the processes are dropped when a key or a brand changes.
        from django.db.models.signals import post_save

        from crm.models import ApiKey, Brand
        from integrations import apikey_cache

        for model in (ApiKey, Brand):
            post_save.connect(apikey_cache.on_saved, sender=model,
                              dispatch_uid=f"integrations.apikey_cache.{model.__name__}")
