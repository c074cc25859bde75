"""URLs of inbound support mail: the signed inbound-mail webhook (public; support.mail_views)."""

from __future__ import annotations

from django.urls import path

from support import mail_views

urlpatterns = [
    path("support/mail/inbound/<uuid:code>/", mail_views.inbound_webhook, name="support_mail_inbound"),
]
