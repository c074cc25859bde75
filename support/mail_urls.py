"""URLs of inbound support mail: the signed inbound-mail webhook (public; support.mail_views)."""

from __future__ import annotations

from django.urls import path

from support import mail_views

# The code follows "webhooks/" (the permission matrix's segment for the codes of webhook senders).
urlpatterns = [
    path("support/mail/webhooks/<uuid:code>/", mail_views.inbound_webhook, name="support_mail_inbound"),
]
