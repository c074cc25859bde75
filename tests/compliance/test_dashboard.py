"""The compliance dashboard: each figure equals the same count over the raw rows, counts only the
clients the officer may see (a brand-limited officer, another brand's alerts), ages cases and weighs
their SLA at the moment asked, counts each client's latest risk score once, and is refused to the
sales floor (tipping off)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from compliance.aml import AmlRuleKind
from compliance.cases import case_item_attach, case_review_start
from compliance.dashboard import compliance_dashboard
from compliance.risk import risk_score_compute
from crm.models import RoleCode
from tests.compliance.aml_support import deposit, rule, run
from tests.compliance.aml_support import world as aml_world
from tests.factories import make_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_brands(db):
    here, there = aml_world(), aml_world()
    for w in (here, there):
        rule(w, AmlRuleKind.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    admin = make_user(role_code=RoleCode.ADMIN, all_brands=True)
    return SimpleNamespace(here=here, there=there, admin=admin)


def _alert(w, amount="15000.00", client=None):
    deposit(client or w.client, amount)
    return run(w)


def _sql_count(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def test_open_alerts_are_counted_per_rule_only_in_the_officers_brand(two_brands):
    here, there = two_brands.here, two_brands.there
    _alert(here)
    _alert(here, client=make_client(brand=here.brand, country="GB", stage="registered"))
    _alert(there)
    board = compliance_dashboard(user=here.officer)
    assert board.alerts_open == 2
    assert board.alerts_by_rule == [{"kind": "large_transaction", "label": AmlRuleKind.LARGE_TRANSACTION.label,
                                     "open": 2}]
    raw = _sql_count("SELECT count(*) FROM compliance_amlalert WHERE status = 'open' AND brand_id = %s",
                     [here.brand.pk])
    assert board.alerts_open == raw
    assert compliance_dashboard(user=two_brands.admin).alerts_open == 3
    # This week's bar holds the three alerts the administrator sees, stacked by rule.
    chart = compliance_dashboard(user=two_brands.admin).chart
    assert len(chart["labels"]) == 12
    [series] = chart["alerts"]
    assert series["data"][-1] == 3 and sum(series["data"]) == 3


def test_cases_are_aged_and_weighed_against_their_sla_at_the_moment_asked(two_brands):
    here = two_brands.here
    case = case_item_attach(client=here.client, kind="aml_alert", ref_id=1, summary="large deposit", score=60).case
    board = compliance_dashboard(user=here.officer)
    assert board.cases_unclosed == 1
    assert board.cases_by_sla["overdue"] == 0
    assert board.cases_by_sla["due_soon"] + board.cases_by_sla["on_time"] == 1
    assert [b["count"] for b in board.cases_by_age] == [1, 0, 0, 0]
    later = case.due_at + dt.timedelta(days=40)
    board = compliance_dashboard(user=here.officer, now=later)
    assert board.cases_by_sla == {"overdue": 1, "due_soon": 0, "on_time": 0}
    assert [b["count"] for b in board.cases_by_age] == [0, 0, 0, 1]
    # The other brand's officer sees none of it.
    assert compliance_dashboard(user=two_brands.there.officer).cases_unclosed == 0


def test_a_case_due_within_a_day_is_due_soon_and_a_closed_one_is_not_counted(two_brands):
    here = two_brands.here
    case = case_item_attach(client=here.client, kind="aml_alert", ref_id=7, summary="x", score=60).case
    case_review_start(case=case, actor=here.officer)
    board = compliance_dashboard(user=here.officer, now=case.due_at - dt.timedelta(hours=2))
    assert board.cases_by_sla == {"overdue": 0, "due_soon": 1, "on_time": 0}


def test_each_client_counts_once_by_their_latest_risk_score(two_brands):
    here = two_brands.here
    first = risk_score_compute(client_id=here.client.pk, trigger="test")
    assert first is not None
    again = risk_score_compute(client_id=here.client.pk, trigger="test", review=True, actor=here.officer)
    assert again is not None and again.pk != first.pk
    board = compliance_dashboard(user=here.officer)
    assert sum(board.risk_by_band.values()) == 1
    assert board.risk_by_band[again.band] == 1
    assert board.reviews_due == 0
    board = compliance_dashboard(user=here.officer, now=timezone.now() + dt.timedelta(days=365 * 4))
    assert board.reviews_due == 1


def test_the_page_shows_the_figures_to_officers_and_does_not_exist_for_the_sales_floor(two_brands, client,
                                                                                      login_verified):
    here = two_brands.here
    _alert(here)
    login_verified(client, here.officer)
    page = client.get("/compliance/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-count="alerts-open"' in html and ">1</a>" in html
    assert 'id="compliance-chart-data"' in html
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=here.brand)
    login_verified(client, agent)
    assert client.get("/compliance/").status_code == 404
