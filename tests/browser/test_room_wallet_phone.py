"""The trader's room's money pages on a 390px phone, in Arabic, for the funded demo client with a
withdrawal asked for: the wallet, withdrawals and transfers fit the screen (their tables scroll
inside their cards) and the wallet links to the withdrawal page."""

from __future__ import annotations

import io

from django.core.management import call_command

from portal.management.commands.portal_seed_demo_funded import FUNDED_EMAIL, FUNDED_PASSWORD
from tests.browser.support import MARKS
from tests.factories import make_brand

pytestmark = MARKS


def test_the_wallet_pages_fit_a_phone_in_arabic(live_server, browser):
    make_brand(code="atlas", name="Atlas Markets", served_countries=["GB"])
    for command in ("portal_seed_demo", "kyc_seed_demo", "wallet_seed_demo", "portal_seed_demo_funded"):
        call_command(command, stdout=io.StringIO())
    # The funded demo client has a wire withdrawal waiting to be sent from the bank: one row of history.

    base = live_server.url
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/portal/atlas/login/?lang=ar")
    page.fill("input[name=email]", FUNDED_EMAIL)
    page.fill("input[name=password]", FUNDED_PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    page.goto(f"{base}/portal/wallet/")
    page.click("a[href='/portal/wallet/withdraw/']")
    page.wait_for_url(f"{base}/portal/wallet/withdraw/")
    assert page.locator("table tbody tr").count() == 1
    for path in ("/portal/wallet/", "/portal/wallet/withdraw/", "/portal/wallet/transfer/", "/portal/wallet/deposit/"):
        page.goto(f"{base}{path}")
        assert page.locator("html").get_attribute("dir") == "rtl", path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
