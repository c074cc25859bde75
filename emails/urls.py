"""The profile's Email tab: send, and preview what would be sent."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from emails import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("clients/<uuid:code>/email/", views.client_email_send, name="client_email_send"),
    path("clients/<uuid:code>/email/preview/", views.client_email_preview, name="client_email_preview"),
    path("clients/<uuid:code>/email/preview/<str:token>/", views.client_email_preview_frame,
         name="client_email_preview_frame"),
]
