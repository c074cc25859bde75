"""Named reports with their exports, and scheduled delivery: a daily money report scheduled by
finance arrives by email with its attachment, once per period, and is in the delivery log."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse

from reports.catalogue import REPORTS, Params, report_build, result_file
from reports.delivery import schedules_send_due
from reports.exceptions import ReportRefused
from reports.models import ReportDelivery
from reports.selectors import Period, dashboard_scope
from reports.services import schedule_create
from tests.reports.world import build, settle

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    w = build()
    settle()
    return w


def test_every_report_builds_with_a_table_and_exports_csv_xlsx_and_pdf(world):
    from openpyxl import load_workbook

    w = world
    today = w.now.date()
    params = Params(period=Period(today - dt.timedelta(days=40), today))
    for name in REPORTS:
        result = report_build(name=name, user=w.admin, scope=dashboard_scope(w.admin), params=params)
        assert result.columns, name
        for fmt in ("csv", "xlsx", "pdf"):
            filename, content, _mime = result_file(result, params, fmt)
            assert filename.endswith(fmt) and content
    money = report_build(name="daily_money", user=w.finance, scope=dashboard_scope(w.finance), params=params)
    # One row per day and currency, and a total per currency: EUR never added into USD.
    totals = {row[1]: row for row in money.rows if str(row[0]) == "Total"}
    assert set(totals) == {"USD", "EUR"}
    assert str(totals["USD"][7]) == "850.00000000" or totals["USD"][7] == 850
    book = load_workbook(io.BytesIO(result_file(money, params, "xlsx")[1]))
    assert [c.value for c in next(book.active.iter_rows(max_row=1))][:2] == ["Day", "Currency"]
    league = report_build(name="agent_league", user=w.admin, scope=dashboard_scope(w.admin), params=params)
    assert league.rows[0][2] == 1  # each agent one FTD
    top = report_build(name="top_traders", user=w.admin, scope=dashboard_scope(w.admin), params=params)
    assert [r[2] for r in top.rows][:1] == [120]


def test_a_scheduled_daily_money_report_arrives_by_email_with_its_attachment_once(world, login_verified):
    w = world
    with pytest.raises(ReportRefused) as refused:
        schedule_create(actor=w.finance, report="daily_money", frequency="daily", export_format="pdf",
                        recipients=["someone@outside.example"], params={})
    assert "recipients" in refused.value.fields
    schedule_create(actor=w.finance, report="daily_money", frequency="daily", export_format="xlsx",
                    recipients=[w.finance.email, w.manager.email], params={})
    tomorrow = w.now.date() + dt.timedelta(days=1)
    assert schedules_send_due(today=tomorrow) == 1
    [message] = mail.outbox
    assert set(message.to) == {w.finance.email.lower(), w.manager.email.lower()}
    [(filename, content, mime)] = message.attachments
    assert filename.endswith(".xlsx") and mime.startswith("application/vnd.openxmlformats") and len(content) > 100
    schedules_send_due(today=tomorrow)  # beat runs again the same day: nothing sent twice
    assert len(mail.outbox) == 1
    [delivery] = ReportDelivery.objects.all()
    assert delivery.status == "sent" and delivery.period_start == w.now.date()
    http = HttpClient()
    login_verified(http, w.finance)
    log = http.get(reverse("reports_schedules"))
    assert log.status_code == 200 and filename in log.content.decode()


def test_the_report_page_schedules_and_starts_an_export_job(world, login_verified):
    from crm.models import Job

    w = world
    http = HttpClient()
    login_verified(http, w.admin)
    page = http.get(reverse("reports_report", args=["daily_money"]), {"brand": w.brand.code})
    assert page.status_code == 200 and b"data-report-table" in page.content
    bad = http.get(reverse("reports_report", args=["daily_money"]), {"from": "yesterday"})
    assert bad.status_code == 400 and b'data-problem="from"' in bad.content
    assert "From: Enter a date as YYYY-MM-DD." in bad.content.decode()
    response = http.post(reverse("reports_export", args=["daily_money"]), {"export_format": "csv"})
    assert response.status_code == 302
    assert Job.objects.filter(kind="reports.export", started_by=w.admin).count() == 1
    response = http.post(reverse("reports_schedule_create", args=["daily_money"]),
                         {"frequency": "daily", "export_format": "pdf", "recipients": w.admin.email})
    assert response.status_code == 302 and response.url == reverse("reports_schedules")
    login_verified(http, w.agent1)
    assert http.get(reverse("reports_report", args=["daily_money"])).status_code in (403, 404)
