"""The trader's room's mails link to CRM_PUBLIC_URL, whatever Host the registration came in on."""

from __future__ import annotations

from django.core import mail

from portal.models import ClientLogin
from tests.portal.conftest import links_in, path_of

PUBLIC = "https://clients.broker.example:8622"


def test_the_verification_link_is_on_the_configured_public_url_and_verifies(brand, register, http, settings):
    settings.CRM_PUBLIC_URL = PUBLIC
    register(brand)
    [message] = mail.outbox
    [link] = [x for x in links_in(message) if "/portal/verify/" in x]

    assert link.startswith(PUBLIC + "/portal/verify/")
    assert http.get(path_of(link)).status_code == 200
    assert ClientLogin.objects.get().email_verified
