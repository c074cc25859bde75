"""Administrators' tools: failed event deliveries, the event catalogue, the audit log, API keys, webhooks."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from crm.views import apikeys, audit, deliveries, events, webhooks

urlpatterns: list[URLPattern | URLResolver] = [
    # event deliveries (administrators)
    path("admin-tools/deliveries/", deliveries.delivery_list, name="delivery_list"),
    path("admin-tools/deliveries/retry-all/", deliveries.delivery_retry_all, name="delivery_retry_all"),
    path("admin-tools/deliveries/<int:delivery_id>/retry/", deliveries.delivery_retry, name="delivery_retry"),
    # the event catalogue (administrators)
    path("admin-tools/events/", events.event_catalogue, name="event_catalogue"),
    # audit log (administrators and compliance)
    path("admin-tools/audit/", audit.audit_list, name="audit_list"),
    path("admin-tools/audit/verify/", audit.audit_verify, name="audit_verify"),
    # API keys (administrators)
    path("admin-tools/api-keys/", apikeys.apikey_list, name="apikey_list"),
    path("admin-tools/api-keys/new/", apikeys.apikey_create, name="apikey_create"),
    path("admin-tools/api-keys/<str:prefix>/revoke/", apikeys.apikey_revoke, name="apikey_revoke"),
    # outbound webhooks (administrators)
    path("admin-tools/webhooks/", webhooks.webhook_subscriber_list, name="webhook_subscriber_list"),
    path("admin-tools/webhooks/new/", webhooks.webhook_subscriber_create, name="webhook_subscriber_create"),
    path("admin-tools/webhooks/deliveries/", webhooks.webhook_delivery_list, name="webhook_delivery_list"),
    path("admin-tools/webhooks/deliveries/<uuid:delivery_id>/", webhooks.webhook_delivery_detail,
         name="webhook_delivery_detail"),
    path("admin-tools/webhooks/deliveries/<uuid:delivery_id>/replay/", webhooks.webhook_delivery_replay,
         name="webhook_delivery_replay"),
    path("admin-tools/webhooks/<uuid:code>/", webhooks.webhook_subscriber_detail, name="webhook_subscriber_detail"),
    path("admin-tools/webhooks/<uuid:code>/<slug:action>/", webhooks.webhook_subscriber_action,
         name="webhook_subscriber_action"),
]
