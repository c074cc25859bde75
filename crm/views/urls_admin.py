"""Administrators' tools: failed event deliveries, the event catalogue, the audit log (API keys and webhooks:
integrations.urls)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from crm.views import audit, deliveries, events

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
]
