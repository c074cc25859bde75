"""The trader's room's dashboard on a 390px phone in Thai, Japanese, Arabic and Persian (issue 64 §3):
the page is in the language (right to left for Arabic and Persian), the language menu opens within
the screen, and nothing is wider than the screen (long Thai words and unbroken Japanese lines wrap).
Each language's page is saved as a screenshot in CRM_SCREENSHOT_DIR when it is set (docs/screenshots/
holds the last ones taken with Thai and CJK fonts installed, as `make chromium` does)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from django.core.management import call_command

from portal.management.commands.portal_seed_demo_funded import FUNDED_EMAIL, FUNDED_PASSWORD
from tests.browser.support import MARKS
from tests.factories import make_brand

pytestmark = MARKS

# The dashboard's "Wallet" link in each language, read from the page to show that it is translated.
WALLET = {"th": "กระเป๋าเงิน", "ja": "ウォレット", "ar": "المحفظة", "fa": "کیف پول"}


def test_the_dashboard_fits_a_phone_in_thai_japanese_arabic_and_persian(live_server, browser):
    make_brand(code="atlas", name="Atlas Markets", served_countries=["GB"])
    for command in ("portal_seed_demo", "kyc_seed_demo", "wallet_seed_demo", "portal_seed_demo_funded"):
        call_command(command, stdout=io.StringIO())

    base = live_server.url
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/portal/atlas/login/")
    page.fill("input[name=email]", FUNDED_EMAIL)
    page.fill("input[name=password]", FUNDED_PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    for language, wallet in WALLET.items():
        page.goto(f"{base}/portal/?lang={language}")
        html = page.locator("html")
        assert html.get_attribute("lang") == language
        assert html.get_attribute("dir") == ("rtl" if language in ("ar", "fa") else "ltr"), language
        assert page.locator("nav.p-nav a[href='/portal/wallet/']").inner_text().strip() == wallet
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, language
        if os.environ.get("CRM_SCREENSHOT_DIR"):
            folder = Path(os.environ["CRM_SCREENSHOT_DIR"])
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"room-{language}-390.png"), full_page=True)
        page.click("details.p-langs summary")
        assert page.locator("details.p-langs a[hreflang=en]").is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (language, "language menu open", width)
