"""The reporting hub's journey in a real browser: the administrator (with the second factor) opens
the management dashboard, drills from a net-deposits number to the deposits behind it, schedules the
daily money report by email from the report's page, and when the hourly pass of the schedules runs
(what beat does) the email arrives with the report attached as a PDF."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from crm.models import RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_user
from tests.waiting import scaled_ms

pytestmark = MARKS


@pytest.fixture
def hub(db):
    from django_otp.oath import totp

    from crm.staff_services import otp_device_start, otp_setup_confirm
    from tests.reports.world import build, settle

    w = build()
    settle()
    w.boss = make_user(role_code=RoleCode.ADMIN, full_name="Hana Boss", email="hana@staff.example.com",
                       password=PASSWORD)
    device = otp_device_start(user=w.boss)
    otp_setup_confirm(user=w.boss, device=device, token=f"{totp(device.bin_key, drift=-1):06d}")
    return w


def test_the_administrator_drills_into_net_deposits_and_gets_the_daily_money_report_by_email(live_server, browser,
                                                                                          hub):
    from django_otp.oath import totp

    from reports.delivery import schedules_send_due
    from reports.models import ReportDelivery

    w = hub
    base = live_server.url
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    login(page, base, w.boss.email, home=False)
    page.wait_for_url(re.compile(r"/2fa/verify/"))
    page.fill("input[name=token]", f"{totp(w.boss.totpdevice_set.get().bin_key):06d}")
    page.click("button:has-text('Verify')")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}{reverse('reports_dashboard')}?brand={w.brand.code}")
    usd = page.locator("[data-figure=net-deposits] tr[data-currency=USD]")
    assert usd.locator("[data-net]").inner_text().startswith("850")  # 1,250 in, 400 out
    assert page.locator("[data-figure=net-deposits] tr[data-currency=EUR] [data-net]").inner_text().startswith("500")
    usd.locator("a[data-link=deposits]").click()
    page.wait_for_url(re.compile(r"/reports/dashboard/rows/"))
    rows = page.locator("[data-drill-rows] tbody tr")
    assert rows.count() == 2  # the two USD deposits of brand A behind the 1,250
    text = page.inner_text("[data-drill-rows]")
    assert "1,000.00\u00a0USD" in text and "250.00\u00a0USD" in text and "Ada" in text and "Bo" in text
    assert "700" not in text  # brand B's deposit is not behind this number

    page.goto(f"{base}{reverse('reports_report', args=['daily_money'])}?brand={w.brand.code}")
    form = page.locator("form[data-report-schedule]")
    form.locator("select[name=frequency]").select_option("daily")
    form.locator("select[name=export_format]").select_option("pdf")
    form.locator("input[name=recipients]").fill(f"{w.boss.email}, {w.finance.email}")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{base}{reverse('reports_schedules')}")
    assert "Daily" in page.inner_text("main")

    mail.outbox.clear()
    assert schedules_send_due() == 1  # beat's hourly pass
    assert schedules_send_due() == 0  # once per period
    assert len(mail.outbox) == 1
    message = mail.outbox[-1]
    assert sorted(message.to) == sorted([w.boss.email, w.finance.email])
    ((filename, content, mimetype),) = message.attachments
    assert filename.endswith(".pdf") and mimetype == "application/pdf" and content[:5] == b"%PDF-"
    page.reload()
    assert "sent" in page.inner_text("main").lower() and filename in page.inner_text("main")
    assert ReportDelivery.objects.get().status == "sent"
