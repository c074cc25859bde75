"""A partner's monthly commission statement as a PDF: the partner downloads their own from the
portal's earnings page, the IB manager any partner's from the partner page, both built by the
same function from the run's totals; a bad month is named."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from pypdf import PdfReader

from ib import statements
from tests.factories import make_user
from tests.ib.engine_world import MARCH
from tests.ib.test_partner_portal import portal_world, sign_in

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world(db):
    return portal_world()


@pytest.fixture
def partner_http(world):
    http, response = sign_in(world)
    assert response.status_code == 302
    return http


def pdf_text(response) -> str:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


def test_the_statement_carries_the_runs_total_and_what_was_already_settled(world):
    made = statements.partner_statement(world.master, MARCH)
    # March counted 3 lots (the second run): Master earns 1 a lot, 1.00 was settled with the first run.
    [total] = made.totals
    assert (total.currency, total.payable, total.settled, total.delta) == ("USD", D("3.00"), D("1.00"), D("2.00"))
    assert made.run.number == 2 and not made.settled
    # One group: the Leaf's client's account under the rebate rule, at the Master's level (2), 3 lots.
    [group] = made.groups
    assert (group.account_login, group.rule_code, group.level, group.lines, group.basis, group.amount) == (
        world.account.login, "fx_rebate", 2, 2, D("3"), D("3"))
    # Another partner's statement has its own figures: the Leaf earned 5 a lot.
    assert statements.partner_statement(world.leaf, MARCH).totals[0].payable == D("15.00")


def test_the_partner_downloads_their_own_statement_from_the_earnings_page(world, partner_http):
    page = partner_http.get("/partners/earnings/").content.decode()
    assert "/partners/earnings/statement/" in page and 'type="month"' in page
    text = pdf_text(partner_http.get("/partners/earnings/statement/", {"period": "2024-03"}))
    assert "Commission statement" in text and "Master" in text and "2024-03" in text
    assert "3.00" in text and "2.00" in text  # payable and still due
    assert str(world.account.login) in text
    # Only ever the signed-in partner's: another partner's code in the query changes nothing.
    again = pdf_text(partner_http.get("/partners/earnings/statement/", {"period": "2024-03",
                                                                          "partner": str(world.leaf.code)}))
    assert "15.00" not in again and "Master" in again


@pytest.mark.parametrize("period, message", [("March", "YYYY-MM"), ("2024-13", "YYYY-MM"), ("2999-01", "not started")])
def test_a_bad_month_is_named_on_the_earnings_page(world, partner_http, period, message):
    response = partner_http.get("/partners/earnings/statement/", {"period": period})
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert message in response.content.decode()


def test_signed_out_there_is_no_statement(world):
    response = HttpClient().get("/partners/earnings/statement/", {"period": "2024-03"})
    assert response.status_code == 302 and "/partners/" in response["Location"]


def test_the_ib_manager_downloads_the_same_statement_for_any_partner(world, login_verified):
    staff = HttpClient()
    login_verified(staff, make_user(role_code="ib_manager", brand=world.brand))
    url = f"/ib/partners/{world.leaf.code}/statement/"
    assert url in staff.get(f"/ib/partners/{world.leaf.code}/").content.decode()
    text = pdf_text(staff.get(url, {"period": "2024-03"}))
    assert "Leaf" in text and "15.00" in text
    bad = staff.get(url, {"period": "soon"})
    assert bad.status_code == 400 and "YYYY-MM" in bad.content.decode()
    # A sales agent has no IB pages.
    agent = HttpClient()
    login_verified(agent, make_user(role_code="sales_agent", brand=world.brand))
    assert agent.get(url, {"period": "2024-03"}).status_code in (403, 404)


def test_a_partner_reads_the_statement_in_arabic(world, partner_http):
    assert partner_http.get("/partners/?lang=ar").status_code == 200
    text = pdf_text(partner_http.get("/partners/earnings/statement/", {"period": "2024-03"}))
    assert any("\u0600" <= ch <= "\u06ff" for ch in text)  # Arabic script
    assert "3,00" in text  # Arabic decimals


def test_the_monthly_series_add_up_to_the_figures_both_pages_chart(world, partner_http, login_verified):
    from ib import selectors
    from tests.ib.engine_world import t

    series = selectors.partner_series(world.master, at=t(20, 12, month=4), months=3)
    assert series.labels == ["2024-02", "2024-03", "2024-04"]
    # March: the Master's 3.00 is pending (the second run is not settled); its own client traded
    # nothing, the network's clients (the Leaf's) closed 3 lots.
    assert series.earnings == [{"label": "Pending USD", "data": [0.0, 3.0, 0.0], "stack": "USD"}]
    assert series.lots[0]["data"] == [0.0, 0.0, 0.0] and series.lots[1]["data"] == [0.0, 3.0, 0.0]
    leaf = selectors.partner_series(world.leaf, at=t(20, 12, month=4), months=3)
    assert leaf.lots[0]["data"] == [0.0, 3.0, 0.0] and leaf.earnings[0]["data"][1] == 15.0
    page = partner_http.get("/partners/").content.decode()
    assert 'id="partner-series"' in page and 'data-chart-series="lots"' in page and "js/charts.js" in page
    assert "No commission in the last twelve months." in page  # the fixture's month is in 2024
    staff = HttpClient()
    login_verified(staff, make_user(role_code="ib_manager", brand=world.brand))
    detail = staff.get(f"/ib/partners/{world.master.code}/").content.decode()
    assert 'id="partner-series"' in detail and 'data-chart-series="lots"' in detail
