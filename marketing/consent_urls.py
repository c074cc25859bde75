"""URLs of marketing consent: the public unsubscribe link and the email provider's webhook."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from marketing import consent_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("m/u/<str:token>", consent_views.unsubscribe, name="marketing_unsubscribe"),
    path("m/webhooks/mail/<slug:provider>/", consent_views.mail_webhook, name="marketing_mail_webhook"),
]
