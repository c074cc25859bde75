"""The partner portal on a 390px phone, in Arabic: every page of a partner with a network, clients,
commission lines and a payout fits the screen (wide tables scroll inside their card, the page itself
never sideways) and reads right-to-left."""

from __future__ import annotations

from tests.browser.support import MARKS
from tests.ib.test_partner_portal import PASSWORD, portal_world

pytestmark = MARKS

PAGES = ("", "network/", "clients/", "earnings/", "banners/", "postbacks/", "payouts/")


def test_every_partner_page_fits_a_phone_in_arabic(live_server, browser):
    w = portal_world()
    base = live_server.url
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/partners/{w.brand.code}/login/?lang=ar")
    page.fill("input[name=email]", w.login.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/partners/")
    for path in PAGES:
        response = page.goto(f"{base}/partners/{path}")
        assert response is not None and response.status == 200, path
        assert page.locator("html").get_attribute("dir") == "rtl", path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    # The lines are there, in a table that scrolls inside its card; a line's explanation fits too.
    page.goto(f"{base}/partners/earnings/")
    assert page.locator("[data-lines] tbody tr").count() == 2
    # Each line's amount is in sight without scrolling the table (right to left: from the right edge).
    amount = page.locator("[data-lines] tbody [data-amount]").first.bounding_box()
    assert amount is not None and amount["x"] >= 0 and amount["x"] + amount["width"] <= 390, amount
    page.locator("[data-lines] tbody a").first.click()
    page.wait_for_url(f"{base}/partners/earnings/*/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
