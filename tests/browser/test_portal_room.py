"""The trader's room's new pages on a 390px phone, in Arabic: nothing wider than the screen, the
page right-to-left, the sessions list with this device, the notifications page."""

from __future__ import annotations

from datetime import date

import pytest

from portal.models import ConsentDocument, ConsentKind
from tests.browser.support import MARKS
from tests.factories import make_brand

pytestmark = MARKS

PASSWORD = "tidal-compass-8153"


@pytest.fixture
def client_login(settings):
    from portal.services import portal_email_verify, portal_register, verification_token

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    brand = make_brand(code="atlas-r", name="Atlas Room", served_countries=["GB", "AE"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    done = portal_register(brand=brand, language="ar", first_name="Layla", last_name="Karim",
                           email="layla.room@example.com", phone="+971501234567", country="AE",
                           date_of_birth=date(1991, 7, 9), password=PASSWORD, accept_terms=True,
                           accept_privacy=True)
    assert done.login is not None
    portal_email_verify(token=verification_token(done.login))
    return done.login


def test_the_new_pages_fit_a_phone_in_arabic(live_server, browser, client_login):
    base = live_server.url
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/portal/{client_login.brand.code}/login/?lang=ar")
    page.fill("input[name=email]", client_login.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    for path in ("/portal/", "/portal/security/sessions/", "/portal/notifications/", "/portal/accounts/new/",
                 "/portal/accounts/new/?kind=demo", "/portal/profile/"):
        page.goto(f"{base}{path}")
        assert page.locator("html").get_attribute("dir") == "rtl", path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    page.goto(f"{base}/portal/security/sessions/")
    assert page.locator(".p-session").count() == 1
    assert "هذا الجهاز" in page.content()
