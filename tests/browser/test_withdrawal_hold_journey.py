"""Compliance holds a withdrawal, in a real browser (issue 60, section 3, the second browser test of
Done-when): an AML alert is raised for a client by the rules; the client asks for a withdrawal in the
trader's room and reads "Under review", nothing more; finance sees the hold in the queue (its kind, not
the alert) and cannot approve it; a compliance officer follows the alert from the alerts queue and
dismisses it; finance approves the withdrawal."""

from __future__ import annotations

import datetime as dt
from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from crm.models import Role, RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_user
from tests.waiting import scaled_ms
from tests.wallet.withdrawal_support import build_world

pytestmark = MARKS

CLIENT_PASSWORD = "amber-harbour-4417"


@pytest.fixture
def hold_world(db, settings, tmp_path):
    """A brand approving withdrawals up to 5,000 USD automatically; a client registered in its trader's
    room, verified and funded (1,000 USD by card); a large-deposit AML rule; a finance officer and a
    compliance officer who sign in with a password alone (the demo's way)."""
    from compliance.aml import aml_rule_create
    from compliance.models import AmlRuleKind
    from crm.staff_services import role_set_requires_2fa
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token
    from wallet.services import withdrawal_policy_save

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    brand = make_brand(code="atlas-h", name="Atlas Holds", served_countries=["GB"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    portal_register(brand=brand, language="en", first_name="Laura", last_name="Fischer",
                    email="laura.fischer@example.com", phone="+442071838555", country="GB",
                    date_of_birth=date(1988, 3, 14), password=CLIENT_PASSWORD, accept_terms=True, accept_privacy=True)
    login_row = ClientLogin.objects.get(email_hash=keyed_hash("laura.fischer@example.com", kind="email"))
    portal_email_verify(token=verification_token(login_row))
    world = build_world(brand=brand, client=login_row.client)
    admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    for code in (RoleCode.FINANCE, RoleCode.COMPLIANCE):
        role_set_requires_2fa(actor=admin, role=Role.objects.get(code=code), required=False)
    world.fiona = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Fiona Finance",
                            email="fiona@staff.example.com", password=PASSWORD)
    world.olga = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Olga Officer",
                           email="olga@staff.example.com", password=PASSWORD)
    withdrawal_policy_save(brand=brand, actor=admin, auto_approve_below={"USD": "5000"})
    world.rule = aml_rule_create(brand=brand, kind=AmlRuleKind.LARGE_TRANSACTION, name="Large deposit",
                                 parameters={"amounts": {"USD": "500"}, "direction": "deposit"}, actor=world.olga,
                                 effective_from=timezone.now() - dt.timedelta(days=1))
    return world


def _page(browser, *, wide: bool = True):
    size = {"width": 1366, "height": 900} if wide else {"width": 390, "height": 844}
    page = browser.new_context(viewport=size).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    return page


def test_an_aml_alert_holds_the_withdrawal_until_compliance_closes_it_then_finance_approves(
        live_server, browser, hold_world):
    from compliance.aml import aml_evaluate
    from compliance.models import AmlAlert
    from wallet.models import Withdrawal, WithdrawalState

    base, w = live_server.url, hold_world
    # 1. The rules find the client's 1,000 USD deposit: an alert is raised (the periodic pass's service).
    report = aml_evaluate(since=timezone.now() - dt.timedelta(hours=1),
                          until=timezone.now() + dt.timedelta(seconds=1), brand_id=w.brand.pk)
    [alert] = AmlAlert.objects.filter(pk__in=report.raised)

    # 2. The client asks for 250 USD back to the card in the trader's room: held, it reads "Under review".
    room = _page(browser, wide=False)
    room.goto(f"{base}/portal/{w.brand.code}/login/")
    room.fill("input[name=email]", "laura.fischer@example.com")
    room.fill("input[name=password]", CLIENT_PASSWORD)
    room.click("button[type=submit]")
    room.wait_for_url(f"{base}/portal/")
    room.goto(f"{base}{reverse('portal:withdraw')}")
    room.fill("input[name=amount]", "250")
    room.fill("input[name=destination]", "4242424242424242")
    room.click("button:has-text('Request the withdrawal')")
    room.wait_for_selector("[data-under-review]")
    withdrawal = Withdrawal.objects.get(client=w.client)
    assert withdrawal.state == WithdrawalState.REQUESTED and not withdrawal.auto_approved
    text = room.inner_text("main")
    assert "Under review" in text and "Large deposit" not in text and "AML" not in text

    # 3. Finance sees the hold's kind, not the alert, and cannot approve.
    fiona = _page(browser)
    login(fiona, base, "fiona@staff.example.com")
    fiona.goto(f"{base}{reverse('wallet_withdrawal_queue')}")
    row = fiona.locator("tr", has_text="Laura Fischer")
    flag = row.locator("[data-flag=aml_alert]")
    assert "AML alert" in flag.inner_text() and "Under compliance review" in flag.inner_text()
    assert flag.locator("[data-flag-link]").count() == 0 and alert.summary not in row.inner_text()
    row.locator("button:has-text('Approve')").click()
    fiona.wait_for_selector("text=it can be approved once the hold is lifted")
    withdrawal.refresh_from_db()
    assert withdrawal.state == WithdrawalState.REQUESTED

    # 4. The compliance officer opens the alert from the alerts queue and dismisses it.
    olga = _page(browser)
    login(olga, base, "olga@staff.example.com")
    olga.goto(f"{base}{reverse('compliance_aml_alerts')}")
    olga.click(f"a[href='{reverse('compliance_aml_alert', args=[alert.code])}']")
    olga.fill("[data-form=dismiss] textarea[name=reason]", "Salary paid in; the payslips are on file.")
    olga.click("button:has-text('Dismiss the alert')")
    olga.wait_for_selector("text=Alert dismissed.")

    # 5. The hold is gone at once: finance approves; the client no longer reads "Under review".
    fiona.goto(f"{base}{reverse('wallet_withdrawal_queue')}")
    row = fiona.locator("tr", has_text="Laura Fischer")
    assert row.locator("[data-flag]").count() == 0
    row.locator("button:has-text('Approve')").click()
    fiona.wait_for_selector("text=Approved.")
    withdrawal.refresh_from_db()
    assert withdrawal.state != WithdrawalState.REQUESTED and withdrawal.first_approved_by == w.fiona
    room.goto(f"{base}{reverse('portal:withdraw')}")
    assert room.locator("[data-under-review]").count() == 0
