"""Onboarding a partner in a real browser, against the PSP simulator (another process):

A prospect partner applies on the brand's public form; the IB manager approves the application in
the queue, choosing a CPA plan; the partner sets its password from the welcome mail, signs in and
creates a tracking link for a campaign; a client opens the link, registers and deposits by card
through the simulator's checkout; the commission engine runs, and the partner finds the CPA line
in its earnings.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hash, keyed_hashes
from portal.models import ClientLogin, ConsentDocument, ConsentKind
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_user
from tests.waiting import scaled_ms
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET, start_psp, stop_psp

pytestmark = MARKS

PARTNER_PASSWORD = "Saffron-Harbour-6631"
CLIENT_PASSWORD = "quiet-cedar-8452"
CPA = Decimal("150.00")
SETTLED_MS = 90_000


@pytest.fixture
def onboarding_world(db, settings, tmp_path):
    """A brand taking partner applications, with a CPA plan (150 USD for a first deposit of 100 USD
    or more) and card deposits on the PSP simulator; its IB manager."""
    from crm.models import RoleCode
    from ib import commissions as cs
    from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.PARTNER_APPLY_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    psp = start_psp()
    brand = make_brand(code="cedar-ib", name="Cedar Markets", served_countries=["GB", "AE"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    payment_method_save(brand=brand, method="card", direction="deposit", provider=provider, order=10,
                        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))])
    plan = cs.plan_create(actor=None, brand=brand, name="CPA 150", currency="USD")
    since = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    cs.plan_version_record(actor=None, plan=plan, effective_from=since, recorded_at=since, rules=[
        {"code": "first_deposit", "kind": "cpa", "level_rates": [str(CPA)], "cpa_min_deposit": "100"}])
    manager = make_user(role_code=RoleCode.IB_MANAGER, brand=brand, password=PASSWORD)
    try:
        yield type("OnboardingWorld", (), {"brand": brand, "plan": plan, "manager": manager, "psp": psp})
    finally:
        stop_psp(psp)


def test_a_prospect_partner_applies_is_approved_sets_a_password_and_earns_a_cpa(
        live_server, browser, onboarding_world, settings):
    from crm import events
    from ib import commissions as cs
    from ib import tasks
    from ib.models import ClientAttribution, CommissionLine, PartnerApplication, PartnerLogin, TrackingLink
    from wallet.models import Deposit

    w = onboarding_world
    base = live_server.url
    settings.CRM_PUBLIC_URL = base  # mail links and the PSP simulator's webhooks lead to the live server

    # 1. The prospect partner applies on the brand's public form.
    partner_page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    partner_page.set_default_timeout(scaled_ms(20_000))
    partner_page.goto(f"{base}/partners/{w.brand.code}/apply/")
    partner_page.fill("input[name=company]", "Levant Trading Academy")
    partner_page.fill("input[name=website]", "levant-academy.example")
    partner_page.check("input[name=kind][value=ib]")
    partner_page.fill("input[name=expected_clients]", "40")
    partner_page.fill("#id_countries-find", "emirates")  # the search box narrows the 250 countries
    partner_page.check("input[name=countries][value=AE]")
    partner_page.fill("#id_countries-find", "united k")
    assert partner_page.locator("input[name=countries][value=AE]").is_visible()  # a chosen one stays shown
    partner_page.check("input[name=countries][value=GB]")
    assert partner_page.inner_text("[data-checklist-chosen]") == "Chosen: United Arab Emirates, United Kingdom"
    partner_page.check("input[name=marketing_methods][value=education]")
    partner_page.check("input[name=marketing_methods][value=social]")
    partner_page.fill("input[name=contact_name]", "Rami Haddad")
    partner_page.fill("input[name=contact_email]", "rami@levant-academy.example")
    partner_page.fill("input[name=contact_phone]", "+971 50 765 4321")
    partner_page.click("button[type=submit]")
    partner_page.wait_for_selector("#id_agree-error")  # the agreement is not optional
    partner_page.check("input[name=agree]")
    partner_page.click("button[type=submit]")
    partner_page.wait_for_selector("text=Thank you for applying")
    application = PartnerApplication.objects.get(
        contact_email_hash__in=keyed_hashes("rami@levant-academy.example", kind="email"))

    # 2. The IB manager finds it in the queue and approves it on the CPA plan.
    staff_page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    staff_page.set_default_timeout(scaled_ms(20_000))
    login(staff_page, base, w.manager.email)
    staff_page.goto(f"{base}{reverse('ib_application_list')}")
    row = staff_page.locator(f"tr[data-application='{application.code}']")
    assert "United Arab Emirates" in row.inner_text() and "United Kingdom" in row.inner_text()
    row.locator("a").click()
    staff_page.wait_for_selector("form[data-approve]")
    staff_page.select_option("form[data-approve] select[name=plan]", str(w.plan.code))
    staff_page.click("form[data-approve] button[type=submit]")
    staff_page.wait_for_url(re.compile(r"/ib/partners/[0-9a-f-]+/$"))
    partner_login = PartnerLogin.objects.select_related("partner").get(
        email_hash__in=keyed_hashes("rami@levant-academy.example", kind="email"))
    partner = partner_login.partner

    # 3. The welcome mail (sent by the worker: here, as it would) carries the set-password link.
    mail.outbox.clear()
    tasks.partner_welcome_mail.run(partner_login.pk)
    [message] = mail.outbox
    [link] = re.findall(r"https?://\S+/partners/password/reset/\S+/", message.body)
    assert link.startswith(base + "/"), link
    partner_page.goto(link)
    partner_page.fill("input[name=password]", PARTNER_PASSWORD)
    partner_page.fill("input[name=password2]", PARTNER_PASSWORD)
    partner_page.click("button[type=submit]")
    partner_page.wait_for_selector("text=Your password is set")
    partner_page.goto(f"{base}/partners/{w.brand.code}/login/")
    partner_page.fill("input[name=email]", "rami@levant-academy.example")
    partner_page.fill("input[name=password]", PARTNER_PASSWORD)
    partner_page.click("button[type=submit]")
    partner_page.wait_for_url(f"{base}/partners/")

    # 4. The partner creates a tracking link for a campaign, to the registration; with its QR code.
    partner_page.goto(f"{base}{reverse('partners:links')}")
    partner_page.fill("input[name=campaign]", "Spring webinar")
    partner_page.click("form[data-link-new] button[type=submit]")
    tracking = TrackingLink.objects.get(partner=partner, campaign="Spring webinar")
    partner_page.wait_for_selector(f"li[data-link='{tracking.code}'] img.p-qr-img")
    shared = partner_page.inner_text(f"li[data-link='{tracking.code}'] .p-secret").strip()
    assert shared == f"{base}/r/{tracking.code}/"

    # 5. A client opens it, registers and deposits by card through the simulator's checkout.
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    page.goto(shared)
    page.wait_for_url(re.compile(re.escape(f"{base}/portal/{w.brand.code}/register/")))
    page.fill("input[name=first_name]", "Maya")
    page.fill("input[name=last_name]", "Khoury")
    page.fill("input[name=email]", "maya.khoury@example.com")
    page.fill("input[name=phone]", "+442071838613")
    page.select_option("select[name=country]", "GB")
    page.fill("input[name=date_of_birth]", "1992-03-11")
    page.fill("input[name=password]", CLIENT_PASSWORD)
    page.check("input[name=accept_terms]")
    page.check("input[name=accept_privacy]")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/{w.brand.code}/register/done/")
    client = ClientLogin.objects.get(email_hash=keyed_hash("maya.khoury@example.com", kind="email")).client
    events.dispatch_pending()  # as the dispatcher does after each commit: the attribution handler
    assert ClientAttribution.objects.get(client=client, effective_to__isnull=True).partner_id == partner.pk

    page.goto(f"{base}/portal/{w.brand.code}/login/")
    page.fill("input[name=email]", "maya.khoury@example.com")
    page.fill("input[name=password]", CLIENT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    page.goto(f"{base}{reverse('portal:wallet_deposit_new')}?currency=USD")
    page.fill("input[name=amount]", "250")
    page.click("button:has-text('Continue to payment')")
    page.wait_for_selector("input[name=card_number]")
    page.fill("input[name=card_number]", "4242 4242 4242 4242")
    page.click("button[type=submit]")
    deposit = Deposit.objects.get(client=client)
    page.wait_for_url(re.compile(re.escape(reverse("portal:wallet_deposit", args=[deposit.code]))))
    page.wait_for_selector("#deposit-status[data-status=succeeded]", timeout=scaled_ms(SETTLED_MS))
    events.dispatch_pending()  # the wallet's deposit event reaches the partner programme

    # 6. The live commission refresh (the beat's task) finds the CPA; the partner sees the line.
    run = cs.commission_run_refresh(brand=w.brand, period=dt.datetime.now(dt.UTC).date())
    assert run is not None
    line = CommissionLine.objects.get(run=run, beneficiary=partner, source_kind="cpa")
    assert line.amount == CPA and line.client_id == client.pk
    partner_page.goto(f"{base}{reverse('partners:earnings')}")
    row_link = partner_page.locator(f"a[href='{reverse('partners:line', args=[line.key])}']")
    assert row_link.count() == 1
    assert "first_deposit" in partner_page.inner_text("main")


def test_the_countries_of_the_application_are_found_by_typing_on_a_phone_in_arabic(live_server, browser, db):
    """The countries field was a 250-option multi-select (issue 58, item 11): a list of checkboxes that a
    search box narrows, usable on a 390px phone right to left, and typing Enter in it sends nothing."""
    brand = make_brand(code="dune-ib", name="Dune Markets")
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    page.goto(f"{live_server.url}/partners/{brand.code}/apply/?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    find = page.get_by_label("ابحث عن دولة (بالاسم أو بالرمز)")
    find.fill("DE")
    find.press("Enter")
    assert page.locator("input[name=countries][value=DE]").is_visible()
    assert not page.locator("input[name=countries][value=FR]").is_visible()
    page.get_by_label("Germany").check()
    find.fill("zzz")
    assert page.locator("[data-checklist-none]").is_visible()
    assert page.locator("input[name=countries][value=DE]").is_visible()  # chosen: still shown
    assert page.inner_text("[data-checklist-chosen]") == "المختارة: Germany"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#id_countries-options").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.url.endswith("/apply/?lang=ar")  # Enter in the search box sent no form
