"""Issue 35's case journey in a real browser, from the client's own deposits to the regulator's trail, against
the real pieces: the PSP simulator (its hosted checkout, its signed webhooks posted to the CRM's live server)
and a Celery worker (delivering the events, running the AML rules on each deposit, opening the case).

A client deposits three times by card in the trader's room, each just under the brand's reporting threshold:
the structuring rule fires on the third and the alert opens the client's case. The compliance officer finds
it in the case queue, opens it with the client's history beside it (the three deposits among it), restricts
the client from the Compliance tab, writes the narrative, drafts the suspicious-activity report's PDF and
proposes to report; the same officer cannot close it, a second officer approves and the case closes with the
report; the filing is recorded. The officer then exports the client's compliance trail: it holds the alert
with its deposits, the restriction and every step of the case, each with its officer."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.models import Case, Restriction
from crm.lib.fieldcrypt import keyed_hash
from crm.models import RoleCode
from tests.browser.support import MARKS, PASSWORD, login, trail_export
from tests.crm.subprocess_env import celery_worker_running
from tests.crm.test_celery_worker import worker_queue  # noqa: F401  (fixture)
from tests.factories import make_brand, make_desk, make_user
from tests.waiting import scaled, scaled_ms
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET, start_psp, stop_psp

pytestmark = [*MARKS, pytest.mark.worker]

CLIENT_EMAIL = "yusuf.demir@example.com"
CLIENT_PASSWORD = "amber-harbour-4417"
DEPOSITS = ("950", "960", "975")  # each within 10 % under the 1,000 USD threshold: three make structuring
SETTLED_MS = 60_000


@pytest.fixture
def officers(db, settings, tmp_path):
    """A brand taking card deposits on the PSP simulator (no fees) with the structuring rule, a verified
    client registered in the trader's room, a sales agent and two compliance officers with the second factor."""
    from types import SimpleNamespace

    from django_otp.oath import totp

    from crm.staff_services import otp_device_start, otp_setup_confirm
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token
    from tests.compliance.aml_support import rule
    from tests.wallet.withdrawal_support import kyc_approve
    from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

    settings.COMPLIANCE_CASE_STORAGE_DIR = tmp_path / "cases"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    psp = start_psp()
    brand = make_brand(code="atlas-c", name="Atlas Cases", served_countries=["GB"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    payment_method_save(brand=brand, method="card", direction="deposit", provider=provider, order=10,
                        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("0"), Decimal("0"))])
    make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    portal_register(brand=brand, language="en", first_name="Yusuf", last_name="Demir", email=CLIENT_EMAIL,
                    phone="+442071838556", country="GB", date_of_birth=date(1985, 6, 2), password=CLIENT_PASSWORD,
                    accept_terms=True, accept_privacy=True)
    login_row = ClientLogin.objects.get(email_hash=keyed_hash(CLIENT_EMAIL, kind="email"))
    portal_email_verify(token=verification_token(login_row))
    client = login_row.client
    kyc_approve(client)
    staff = []
    for name, email in (("Karim Haddad", "karim@staff.example.com"), ("Lea Second", "lea@staff.example.com")):
        user = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name=name, email=email, password=PASSWORD)
        device = otp_device_start(user=user)
        otp_setup_confirm(user=user, device=device, token=f"{totp(device.bin_key, drift=-1):06d}")
        staff.append(user)
    rule(SimpleNamespace(brand=brand, officer=staff[0]), "structuring", thresholds={"USD": "1000"}, band_percent=10,
         min_count=3, days=7)
    try:
        yield SimpleNamespace(brand=brand, first=staff[0], second=staff[1], client=client, psp=psp)
    finally:
        stop_psp(psp)


@pytest.fixture
def celery_worker(transactional_db, worker_queue, officers, live_server, settings, tmp_path):  # noqa: F811
    """`celery -A crm worker` on this test's own queue, against the test database."""
    log = tmp_path / "worker.log"
    with celery_worker_running(worker_queue, log, CRM_PUBLIC_URL=live_server.url,
                               KYC_STORAGE_DIR=str(settings.KYC_STORAGE_DIR),
                               COMPLIANCE_CASE_STORAGE_DIR=str(settings.COMPLIANCE_CASE_STORAGE_DIR)) as proc:
        yield proc


def _sign_in(browser, base: str, user) -> Any:
    from django_otp.oath import totp

    page = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    login(page, base, user.email, home=False)
    page.wait_for_url(re.compile(r"/2fa/verify/"))
    page.fill("input[name=token]", f"{totp(user.totpdevice_set.get().bin_key):06d}")
    page.click("button:has-text('Verify')")
    page.wait_for_url(f"{base}/")
    return page


def _deposit_by_card(page, base: str, psp, amount: str) -> None:
    """One card deposit through the simulator's hosted checkout, followed until the signed webhook lands."""
    page.goto(f"{base}{reverse('portal:wallet_deposit_new')}?currency=USD")
    page.fill("input[name=amount]", amount)
    page.click("button:has-text('Continue to payment')")
    page.wait_for_selector("input[name=card_number]")
    assert page.url.startswith(psp.base_url)
    page.fill("input[name=card_number]", "4242 4242 4242 4242")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/wallet/deposit/[^/]+/"))
    page.wait_for_selector("#deposit-status[data-status=succeeded]", timeout=scaled_ms(SETTLED_MS))


def _rows(zf: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(zf.read(f"{name}.csv").decode())))


def test_a_clients_deposits_fire_an_alert_worked_to_a_report_by_two_officers_and_the_trail_holds_it_all(
        live_server, browser, officers, celery_worker, settings):

    from wallet.models import Deposit

    base = live_server.url
    settings.CRM_PUBLIC_URL = base  # the simulator posts its webhooks to the live server
    worker_log = celery_worker.log_path

    # 1. The client deposits three times by card in the trader's room.
    room = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    room.set_default_timeout(scaled_ms(20_000))
    room.goto(f"{base}/portal/{officers.brand.code}/login/")
    room.fill("input[name=email]", CLIENT_EMAIL)
    room.fill("input[name=password]", CLIENT_PASSWORD)
    room.click("button[type=submit]")
    room.wait_for_url(f"{base}/portal/")
    for amount in DEPOSITS:
        _deposit_by_card(room, base, officers.psp, amount)
    deposits = list(Deposit.objects.filter(client=officers.client, status="succeeded"))
    assert sorted(d.amount for d in deposits) == [Decimal(a) for a in DEPOSITS]
    ledger_ids = sorted(d.credit_transaction_id or 0 for d in deposits)

    # 2. The worker ran the rules on the deposits: the structuring alert opened the client's case.
    started = time.monotonic()
    while not Case.objects.filter(client=officers.client).exists():
        if time.monotonic() - started > scaled(SETTLED_MS / 1000):
            pytest.fail("no case was opened; worker log:\n" + worker_log.read_text(errors="replace")[-3000:])
        time.sleep(0.5)
    case = Case.objects.get(client=officers.client)

    # 3. The officer works the case with the history beside it.
    first = _sign_in(browser, base, officers.first)
    first.click("nav a:has-text('Cases')")
    first.wait_for_url(f"{base}{reverse('compliance_case_queue')}")
    first.locator("#case-queue tr[data-status=open] a", has_text="Yusuf Demir").click()
    first.wait_for_selector("[data-side=history] [data-history=money]")
    assert "structuring v1" in first.locator("[data-side=case]").inner_text()
    money = first.locator("[data-side=history] [data-history=money]").inner_text()
    assert all(amount in money for amount in ("950.00", "960.00", "975.00")), money
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
    narrative.locator("textarea[name=narrative]").fill("Three card deposits just under 1,000 USD within minutes.")
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

    # 4. A second officer approves; the case closes with the report, and the filing is recorded.
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

    # 5. The officer exports the client's trail (an RQ job, run here as the RQ worker would).
    zf = trail_export(first, base, brand=officers.brand.code, client=str(officers.client.code),
                      day=timezone.localdate().isoformat())
    code, karim, lea = str(officers.client.code), officers.first.email, officers.second.email
    [alert] = _rows(zf, "aml_alerts")
    assert (alert["client"], alert["rule"], alert["rule_version"]) == (code, "structuring", "1")
    assert sorted(int(t) for t in alert["transactions"].split()) == ledger_ids
    assert alert["status"] == "in_case"
    restrictions = _rows(zf, "restrictions")
    assert [(r["step"], r["kind"], r["by"]) for r in restrictions] == [("imposed", "no_withdrawal", karim)]
    steps = [(r["action"], r["by"]) for r in _rows(zf, "case_actions")]
    wanted = [("opened", ""), ("review_started", karim), ("narrative_set", karim), ("sar_drafted", karim),
              ("decision_proposed", karim), ("closed", lea), ("sar_filed", lea)]
    assert [s for s in steps if s in wanted] == wanted, steps
    assert zf.read("summary.pdf").startswith(b"%PDF")
