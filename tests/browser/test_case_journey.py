"""Issue 35's case journey in a real browser: an AML alert (a large deposit, the rules run) opens the client's case;
the compliance officer finds it in the case queue, opens it with the client's history beside it,
restricts the client from the Compliance tab, writes the narrative, drafts the suspicious-activity
report's PDF and proposes to report; the same officer cannot close it, a second officer approves and
the case closes with the report; the filing is recorded."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.models import Case, Restriction
from crm import events
from crm.models import RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.waiting import scaled_ms

pytestmark = MARKS


@pytest.fixture
def officers(db, settings, tmp_path):
    from django_otp.oath import totp

    from crm.staff_services import otp_device_start, otp_setup_confirm

    settings.COMPLIANCE_CASE_STORAGE_DIR = tmp_path / "cases"
    brand = make_brand(code="atlas-c", name="Atlas Cases")
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    client = make_client(actor=agent, brand=brand, first_name="Yusuf", last_name="Demir", email="yusuf@example.com")
    staff = []
    for name, email in (("Karim Haddad", "karim@staff.example.com"), ("Lea Second", "lea@staff.example.com")):
        user = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name=name, email=email, password=PASSWORD)
        device = otp_device_start(user=user)
        otp_setup_confirm(user=user, device=device, token=f"{totp(device.bin_key, drift=-1):06d}")
        staff.append(user)
    # A deposit pattern fires the AML rule: a large deposit posted to the wallet, the rules run, and the
    # worker delivers the alert's event to the case handler.
    from types import SimpleNamespace

    from tests.compliance.aml_support import deposit, rule, run

    rule(SimpleNamespace(brand=brand, officer=staff[0]), "large_transaction", amounts={"USD": "10000"},
         direction="both")
    deposit(client, "25000.00")
    run(SimpleNamespace(brand=brand))
    events.dispatch_pending()
    return type("Officers", (), {"first": staff[0], "second": staff[1], "client": client})


def _sign_in(browser, base: str, user) -> object:
    from django_otp.oath import totp

    page = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    login(page, base, user.email, home=False)
    page.wait_for_url(re.compile(r"/2fa/verify/"))
    page.fill("input[name=token]", f"{totp(user.totpdevice_set.get().bin_key):06d}")
    page.click("button:has-text('Verify')")
    page.wait_for_url(f"{base}/")
    return page


def test_an_officer_works_a_case_to_a_report_closed_by_a_second_officer(live_server, browser, officers):
    base = live_server.url
    case = Case.objects.get(client=officers.client)
    first = _sign_in(browser, base, officers.first)
    first.click("nav a:has-text('Cases')")
    first.wait_for_url(f"{base}{reverse('compliance_case_queue')}")
    first.locator("#case-queue tr[data-status=open] a", has_text="Yusuf Demir").click()
    first.wait_for_selector("[data-side=history] [data-history=money]")
    assert "large_transaction v1" in first.locator("[data-side=case]").inner_text()
    first.click("[data-action=review]")
    first.wait_for_selector("[data-case-status=in_review]")

    # Restrict the client from the profile's Compliance tab, then back to the case.
    first.goto(f"{base}{reverse('client_detail', args=[officers.client.code])}?tab=compliance")
    impose = first.locator("#restriction-impose")
    impose.locator("input[value=no_withdrawal]").check()
    impose.locator("textarea[name=reason]").fill("Under review")
    impose.locator("button[type=submit]").click()
    first.wait_for_load_state()
    assert Restriction.objects.filter(client=officers.client, kind="no_withdrawal", lifted_at__isnull=True).exists()
    first.locator("[data-section=cases] a").first.click()
    first.wait_for_selector("[data-case-status=in_review]")

    narrative = first.locator("form[data-form=narrative]")
    narrative.locator("textarea[name=narrative]").fill("Nine card deposits of 9,900 USD within five days.")
    narrative.locator("button[type=submit]").click()
    first.wait_for_selector("[data-sar-pdf]")
    with first.expect_download() as download:
        first.click("[data-sar-pdf]")
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    decide = first.locator("form[data-form=decide]")
    decide.locator("input[name=decision][value=report]").check()
    decide.locator("textarea[name=reason]").fill("Structuring below the reporting threshold")
    decide.locator("button[type=submit]").click()
    first.wait_for_selector("[data-case-status=pending_approval]")
    assert first.locator("[data-action=approve]").count() == 0  # four eyes: not the same officer

    second = _sign_in(browser, base, officers.second)
    second.goto(f"{base}{reverse('compliance_case_detail', args=[case.code])}")
    second.click("[data-action=approve]")
    second.wait_for_selector("[data-case-status=closed]")
    filing = second.locator("form[data-form=filing]")
    filing.locator("input[name=reference]").fill("FIU-2026-0099")
    filing.locator("button[type=submit]").click()
    second.wait_for_selector("[data-filing]")
    case.refresh_from_db()
    assert (case.status, case.decision, case.decided_by, case.approved_by) == (
        "closed", "report", officers.first, officers.second)
    assert (case.sar_reference, case.sar_filed_on) == ("FIU-2026-0099", timezone.localdate())
