"""The integrations' pages, for administrators: API keys and outbound webhooks (subscribers, the
delivery log), at the addresses they had in the core."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from integrations import apikey_views, views
from integrations.moving_in import views as moving_in_views

urlpatterns: list[URLPattern | URLResolver] = [
    # API keys (administrators)
    path("admin-tools/api-keys/", apikey_views.apikey_list, name="apikey_list"),
    path("admin-tools/api-keys/new/", apikey_views.apikey_create, name="apikey_create"),
    path("admin-tools/api-keys/<str:prefix>/revoke/", apikey_views.apikey_revoke, name="apikey_revoke"),
    # moving in from another CRM (administrators)
    path("admin-tools/moving-in/", moving_in_views.moving_in, name="moving_in"),
    path("admin-tools/moving-in/jobs/<uuid:code>/run/", moving_in_views.moving_in_run, name="moving_in_run"),
    # outbound webhooks (administrators)
    path("admin-tools/webhooks/", views.webhook_subscriber_list, name="webhook_subscriber_list"),
    path("admin-tools/webhooks/new/", views.webhook_subscriber_create, name="webhook_subscriber_create"),
    path("admin-tools/webhooks/deliveries/", views.webhook_delivery_list, name="webhook_delivery_list"),
    path("admin-tools/webhooks/deliveries/<uuid:delivery_id>/", views.webhook_delivery_detail,
         name="webhook_delivery_detail"),
    path("admin-tools/webhooks/deliveries/<uuid:delivery_id>/replay/", views.webhook_delivery_replay,
         name="webhook_delivery_replay"),
    path("admin-tools/webhooks/<uuid:code>/", views.webhook_subscriber_detail, name="webhook_subscriber_detail"),
    path("admin-tools/webhooks/<uuid:code>/<slug:action>/", views.webhook_subscriber_action,
         name="webhook_subscriber_action"),
]
