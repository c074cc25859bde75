"""Helpers of the trader's-room tests for accounts, sessions and notifications: a second client of
the brand, signed in with a browser of their own."""

from __future__ import annotations

import re

from django.test import Client as Browser

from crm.lib.fieldcrypt import keyed_hash
from tests.portal.conftest import PASSWORD, form_data, sign_in

TOKEN_RE = re.compile(r'name="token" value="([0-9a-f-]{36})"')


def other_client(brand, register, *, email="omar.saleh@example.com", phone="+442071838222"):
    """Another verified client of `brand` and a signed-in browser of theirs."""
    from portal.models import ClientLogin
    from portal.services import portal_email_verify, verification_token

    response = register(brand, email=email, phone=phone, first_name="Omar", last_name="Saleh")
    assert response.status_code == 302
    login = ClientLogin.objects.get(email_hash=keyed_hash(email, kind="email"))
    portal_email_verify(token=verification_token(login))
    browser = Browser(REMOTE_ADDR="10.9.8.7")
    assert sign_in(browser, brand, email=email, password=PASSWORD).status_code == 302
    return login, browser


def form_token(page: str) -> str:
    found = TOKEN_RE.search(page)
    assert found, page[:3000]
    return found.group(1)


__all__ = ["form_data", "other_client", "form_token"]
