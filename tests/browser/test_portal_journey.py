"""A client opens an account in the trader's room, verifies the address from the mail, signs in."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from crm.lib.fieldcrypt import keyed_hash
from portal.models import ClientLogin, ConsentDocument, ConsentKind
from tests.browser.support import MARKS
from tests.factories import make_brand

pytestmark = MARKS

PASSWORD = "tidal-compass-8153"


@pytest.fixture
def brand(settings):
    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    brand = make_brand(code="atlas-b", name="Atlas Browser", served_countries=["GB", "AE"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    return brand


def test_a_client_registers_verifies_the_address_and_signs_in(live_server, browser, brand, settings):
    from portal.tasks import portal_mail_send_task

    base = live_server.url
    settings.CRM_PUBLIC_URL = base
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(f"{base}/portal/{brand.code}/register/?utm_source=search&ref=IB9")
    page.fill("input[name=first_name]", "Layla")
    page.fill("input[name=last_name]", "Karim")
    page.fill("input[name=email]", "layla.karim@example.com")
    page.fill("input[name=phone]", "+442071838444")
    page.select_option("select[name=country]", "GB")
    page.fill("input[name=date_of_birth]", "1991-07-09")
    page.fill("input[name=password]", PASSWORD)
    page.check("input[name=accept_terms]")
    page.check("input[name=accept_privacy]")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/{brand.code}/register/done/")

    login = ClientLogin.objects.get(email_hash=keyed_hash("layla.karim@example.com", kind="email"))
    assert login.client.referrer_code == "IB9"
    # The task the registration queued, run here (no worker in this test).
    portal_mail_send_task.run("verify", login.pk)
    [message] = mail.outbox
    [link] = re.findall(r"https?://\S+/portal/verify/\S+/", message.body)
    page.goto(link)
    assert "Email address verified" in page.content()

    page.goto(f"{base}/portal/{brand.code}/login/")
    page.fill("input[name=email]", "layla.karim@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    assert "Welcome, Layla" in page.content()
    assert page.locator("#email-banner").count() == 0
    page.goto(f"{base}/portal/?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
