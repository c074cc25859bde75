"""The complaints register's staff pages: who sees the register and a complaint (three ways: the
brand's officer, another brand's officer, a role without the register), the filters, the actions,
marking a ticket as a complaint, and the month's export (PDF, CSV, XLSX) with its counts."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.urls import reverse

from crm.models import RoleCode
from support import complaints
from support.models import Complaint
from tests.factories import make_brand, make_user
from tests.support.complaint_world import build_world, open_ticket

NICOSIA = dt.timezone(dt.timedelta(hours=2))


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def _as(login_verified):
    """`_as(client, user)`: the test client signed in as `user`, second factor proven."""

    def sign_in(client, user):
        login_verified(client, user)
        return client

    return sign_in


def _register(world, *, category="withdrawals", **ticket):
    return complaints.complaint_register(ticket=open_ticket(world, **ticket), category=category, actor=world.agent)


def test_the_register_and_a_complaint_are_seen_by_the_brands_officer_only(client, world, _as):
    complaint = _register(world)
    url = reverse("support_complaint", args=[complaint.reference])
    page = _as(client, world.officer).get(url)
    assert page.status_code == 200 and complaint.reference in page.content.decode()
    assert complaint.reference in client.get(reverse("support_complaints")).content.decode()
    other = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand(code="elsewhere"))
    assert _as(client, other).get(url).status_code == 404
    assert complaint.reference not in client.get(reverse("support_complaints")).content.decode()
    assert _as(client, world.finance).get(reverse("support_complaints")).status_code == 404
    assert client.get(url).status_code == 404


def test_the_register_filters_by_month_category_status_and_overdue(client, world, _as):
    with time_machine.travel(dt.datetime(2026, 9, 3, 10, 0, tzinfo=NICOSIA), tick=False):
        old = _register(world, subject="Old complaint")
    with time_machine.travel(dt.datetime(2026, 11, 3, 10, 0, tzinfo=NICOSIA), tick=False):
        platform = _register(world, category="platform", subject="Platform froze")
    _as(client, world.officer)

    def shown(**query):
        body = client.get(reverse("support_complaints"), query).content.decode()
        return {c.reference for c in (old, platform) if f'data-complaint="{c.reference}"' in body}

    assert shown() == {old.reference, platform.reference}
    assert shown(month="2026-09") == {old.reference}
    assert shown(category="platform") == {platform.reference}
    assert shown(status="acknowledged") == {old.reference, platform.reference}
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=NICOSIA), tick=False):
        assert shown(overdue="on") == {old.reference}
    page = client.get(reverse("support_complaints"), {"month": "2026-13"})
    assert "YYYY-MM" in page.content.decode()


def test_an_agent_answers_and_an_officer_closes_from_the_complaints_page(client, world, _as):
    complaint = _register(world)
    _as(client, world.agent)
    response = client.post(reverse("support_complaint_respond", args=[complaint.reference]), {
        "final_response": "We refund the fee.", "outcome": "upheld", "amount_paid": "abc", "currency": "USD"})
    assert response.status_code == 400 and "amount" in response.content.decode().lower()
    client.post(reverse("support_complaint_respond", args=[complaint.reference]), {
        "final_response": "We refund the fee.", "outcome": "upheld", "amount_paid": "15", "currency": "USD"})
    complaint.refresh_from_db()
    assert complaint.status == "final_response"
    page = client.get(reverse("support_complaint", args=[complaint.reference])).content.decode()
    assert 'data-form="close"' not in page  # an agent does not close
    response = client.post(reverse("support_complaint_close", args=[complaint.reference]), {})
    assert response.status_code == 400
    _as(client, world.officer)
    response = client.post(reverse("support_complaint_close", args=[complaint.reference]), {})
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == "closed" and complaint.closed_by == world.officer


def test_staff_mark_a_ticket_as_a_complaint_with_the_category_it_suggests(client, world, _as):
    ticket = open_ticket(world)
    _as(client, world.agent)
    url = reverse("support_ticket_mark_complaint", args=[ticket.reference])
    assert f'href="{url}"' in client.get(reverse("support_ticket", args=[ticket.reference])).content.decode()
    page = client.get(url).content.decode()
    assert 'value="withdrawals" selected' in page
    response = client.post(url, {"category": "withdrawals"})
    complaint = Complaint.objects.get(ticket=ticket)
    assert response.status_code == 302 and response["Location"].endswith(f"/{complaint.reference}/")
    assert client.post(url, {"category": "withdrawals"}).status_code == 302  # already one: its page
    desk_page = client.get(reverse("support_ticket", args=[ticket.reference])).content.decode()
    assert reverse("support_complaint", args=[complaint.reference]) in desk_page
    assert Complaint.objects.filter(ticket=ticket).count() == 1
    assert _as(client, world.finance).get(url).status_code == 404


def test_the_months_register_exports_each_complaint_and_the_counts_with_the_active_clients(client, world, _as):
    with time_machine.travel(dt.datetime(2026, 11, 3, 10, 0, tzinfo=NICOSIA), tick=False):
        answered = _register(world)
        _register(world, category="platform", subject="Platform froze")
    with time_machine.travel(dt.datetime(2026, 11, 13, 10, 0, tzinfo=NICOSIA), tick=False):
        complaints.complaint_final_response(complaint=answered, response="Refunded.", outcome="upheld",
                                            amount_paid="40", currency="EUR", actor=world.agent)
    with time_machine.travel(dt.datetime(2026, 12, 3, 10, 0, tzinfo=NICOSIA), tick=False):
        _register(world, subject="December's complaint")
    _as(client, world.officer)
    url = reverse("support_complaint_register", args=[world.brand.code, "2026-11", "csv"])
    response = client.get(url)
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    facts = {r[0]: r[1] for r in rows if len(r) == 2}
    assert facts["Complaints received"] == "2" and facts["Active clients in the month"] == "0"
    assert facts["Withdrawals"] == "1" and facts["Trading platform"] == "1" and facts["Upheld"] == "1"
    assert facts["8 to 15 days"] == "1" and facts["Not resolved yet"] == "1"
    assert facts["Amount paid (EUR)"] == "40.00"
    header = next(r for r in rows if r and r[0] == "Reference")
    line = next(r for r in rows if r and r[0] == answered.reference)
    record = dict(zip(header, line, strict=True))
    assert (record["Category"], record["Outcome"], record["Days to resolve"]) == ("Withdrawals", "Upheld", "10")
    assert "December's complaint" not in response.content.decode()

    from openpyxl import load_workbook

    xlsx = client.get(reverse("support_complaint_register", args=[world.brand.code, "2026-11", "xlsx"]))
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Complaints", "Summary"]
    assert [row[0] for row in book["Complaints"].iter_rows(min_row=2, values_only=True)] == [
        c.reference for c in Complaint.objects.filter(registered_at__month=11).order_by("registered_at", "pk")]
    pdf = client.get(reverse("support_complaint_register", args=[world.brand.code, "2026-11", "pdf"]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_the_export_is_for_the_register_keepers_of_the_brand(client, world, _as):
    url = reverse("support_complaint_register", args=[world.brand.code, "2026-11", "csv"])
    assert _as(client, world.agent).get(url).status_code == 404
    other = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand(code="elsewhere-x"))
    assert _as(client, other).get(url).status_code == 404
    assert _as(client, world.officer).get(url.replace("2026-11", "2026-1x")).status_code == 404
    assert _as(client, world.officer).get(url.replace(".csv", ".exe")).status_code == 404
