"""The profile's Email tab (send, and preview what would be sent); SMS providers and their webhooks."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from emails import sms_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("clients/<uuid:code>/email/", views.client_email_send, name="client_email_send"),
    path("clients/<uuid:code>/email/preview/", views.client_email_preview, name="client_email_preview"),
    path("clients/<uuid:code>/email/preview/<str:token>/", views.client_email_preview_frame,
         name="client_email_preview_frame"),
    path("admin-tools/sms-providers/", sms_views.sms_provider_list, name="sms_provider_list"),
    path("admin-tools/sms-providers/<slug:code>/", sms_views.sms_provider_edit, name="sms_provider_edit"),
    path("hooks/sms/<slug:provider>/status/", sms_views.sms_status_webhook, name="sms_status_webhook"),
    path("hooks/sms/<slug:provider>/inbound/", sms_views.sms_inbound_webhook, name="sms_inbound_webhook"),
]
