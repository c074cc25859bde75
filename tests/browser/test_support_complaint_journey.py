"""A client's complaint about a withdrawal, in a real browser (issue 62, the second browser test of
Done-when): the client files it in the trader's room and reads its register reference and the day
the final response is due; the acknowledgement is mailed and dated; a support agent finds it in the
register with its 2-month clock and sends the final response with the amount paid; a compliance
officer closes it; it appears in the month's register export (CSV and PDF); the client reads the
final response in the ticket's thread."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from crm.models import Role, RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_user
from tests.support.complaint_world import make_support_desk
from tests.waiting import scaled_ms

pytestmark = MARKS

CLIENT_PASSWORD = "amber-harbour-4417"


@pytest.fixture
def complaint_world(db, settings, tmp_path):
    """A brand with a support desk in Cyprus; a client registered in its trader's room and verified; a
    support agent and a compliance officer who sign in with a password alone (the demo's way)."""
    from types import SimpleNamespace

    from crm.staff_services import role_set_requires_2fa
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.SUPPORT_FIRM_CODES = {"atlas-q": "CIF042"}
    brand = make_brand(code="atlas-q", name="Atlas Complaints", served_countries=["GB"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    make_support_desk(brand)
    portal_register(brand=brand, language="en", first_name="Laura", last_name="Fischer",
                    email="laura.fischer@example.com", phone="+442071838555", country="GB",
                    date_of_birth=date(1988, 3, 14), password=CLIENT_PASSWORD, accept_terms=True, accept_privacy=True)
    login_row = ClientLogin.objects.get(email_hash=keyed_hash("laura.fischer@example.com", kind="email"))
    portal_email_verify(token=verification_token(login_row))
    admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    for code in (RoleCode.SUPPORT_AGENT, RoleCode.COMPLIANCE):
        role_set_requires_2fa(actor=admin, role=Role.objects.get(code=code), required=False)
    return SimpleNamespace(
        brand=brand, client=login_row.client,
        sam=make_user(role_code=RoleCode.SUPPORT_AGENT, brand=brand, full_name="Sam Support",
                      email="sam@staff.example.com", password=PASSWORD),
        olga=make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Olga Officer",
                       email="olga@staff.example.com", password=PASSWORD))


def _page(browser, *, wide: bool = True):
    size = {"width": 1366, "height": 900} if wide else {"width": 390, "height": 844}
    page = browser.new_context(viewport=size, accept_downloads=True).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    return page


def test_a_withdrawal_complaint_is_registered_acknowledged_answered_closed_and_exported(
        live_server, browser, complaint_world):
    from emails.models import OutboundEmail
    from support.models import Complaint

    base, w = live_server.url, complaint_world
    # 1. The client files a complaint about a withdrawal in the trader's room (on a phone).
    room = _page(browser, wide=False)
    room.goto(f"{base}/portal/{w.brand.code}/login/")
    room.fill("input[name=email]", "laura.fischer@example.com")
    room.fill("input[name=password]", CLIENT_PASSWORD)
    room.click("button[type=submit]")
    room.wait_for_url(f"{base}/portal/")
    room.click("nav a:has-text('Support')")
    room.click("a:has-text('File a complaint')")
    room.select_option("select[name=category]", "withdrawals")
    room.fill("input[name=subject]", "My withdrawal of 250 USD never arrived")
    room.fill("textarea[name=body]", "I asked for it three weeks ago and it is still not on my card.")
    room.click("button:has-text('File the complaint')")
    room.wait_for_selector("[data-complaint-reference]")
    complaint = Complaint.objects.get(ticket__client=w.client)
    year = timezone.localdate().year
    assert complaint.reference == f"CIF042-{year}-00001"
    assert room.inner_text("[data-complaint-reference]") == complaint.reference
    assert room.inner_text("[data-response-due]").strip()

    # 2. The acknowledgement is queued to the client, dated, with the reference.
    ack = OutboundEmail.objects.get(client=w.client, template_key="support_complaint_ack")
    assert complaint.reference in ack.subject and complaint.acknowledged_at is not None
    assert complaint.status == "acknowledged" and complaint.category == "withdrawals"

    # 3. The agent finds it in the register, reads the 2-month clock and sends the final response.
    sam = _page(browser)
    login(sam, base, "sam@staff.example.com")
    sam.goto(f"{base}{reverse('support_complaints')}")
    sam.click(f"a:has-text('{complaint.reference}')")
    clock = sam.inner_text("[data-clock]")
    assert "2-month clock" in clock and "days left" in clock
    form = sam.locator("[data-form=final-response]")
    form.locator("textarea[name=final_response]").fill("The bank returned the payment; we paid it again "
                                                        "and refund the fee.")
    form.locator("select[name=outcome]").select_option("partially_upheld")
    form.locator("input[name=amount_paid]").fill("25")
    form.locator("input[name=currency]").fill("USD")
    form.locator("button[type=submit]").click()
    sam.wait_for_selector("text=Final response sent.")
    assert "Final response sent" in sam.inner_text("[data-clock-state]")
    assert sam.locator("[data-form=close]").count() == 0  # an agent does not close complaints

    # 4. The compliance officer closes it.
    olga = _page(browser)
    login(olga, base, "olga@staff.example.com")
    olga.goto(f"{base}{reverse('support_complaint', args=[complaint.reference])}")
    olga.click("[data-form=close] button[type=submit]")
    olga.wait_for_selector("text=Complaint closed.")
    complaint.refresh_from_db()
    assert (complaint.status, complaint.outcome, complaint.closed_by) == ("closed", "partially_upheld", w.olga)

    # 5. It appears in the month's register export.
    olga.goto(f"{base}{reverse('support_complaints')}")
    with olga.expect_download() as download:
        olga.click(f"#register-export [data-brand='{w.brand.code}'] a:has-text('CSV')")
    with open(download.value.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.reader(io.StringIO(handle.read())))
    line = next(r for r in rows if r and r[0] == complaint.reference)
    assert "Withdrawals" in line and "Partially upheld" in line and "25.00" in line
    assert ["Withdrawals", "1"] in rows and ["Complaints received", "1"] in rows
    with olga.expect_download() as download:
        olga.click(f"#register-export [data-brand='{w.brand.code}'] a:has-text('PDF')")
    with open(download.value.path(), "rb") as handle:
        assert handle.read(4) == b"%PDF"

    # 6. The client reads the final response in the ticket's thread.
    room.reload()
    assert "we paid it again" in room.inner_text("[data-thread]")
