"""The agent performance page: sales outcome (calls, talk time, new clients, conversion) beside the
deviation from baseline, per agent and for the desk, with its charts' data in the page (no inline
script); for the desk's manager, not for the agents."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from crm.models import RoleCode
from leads.calls import call_log
from monitoring.models import AgentDayScore
from monitoring.review.performance import performance
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db):
    brand = make_brand()
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    desk = make_desk(brand=brand, manager=manager, name="London")
    ann = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Ann Agent")
    bob = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Bob Agent")
    clients = [make_client(actor=ann, first_name=f"C{i}") for i in range(4)] + [make_client(actor=bob, first_name="D")]
    for c in clients[:3]:
        call_log(actor=ann, client=c, outcome="connected", duration_seconds=300)
    call_log(actor=bob, client=clients[4], outcome="no_answer", duration_seconds=0)
    today = timezone.localdate()
    # Monitoring's agent-day score of today for Ann: a day far from her baseline.
    AgentDayScore.objects.create(brand=brand, agent=ann, day=today, score=6.5, threshold=4.0, alerted=True,
                                 computed_at=timezone.now())
    return {"desk": desk, "manager": manager, "ann": ann, "bob": bob}


def test_sales_and_behaviour_side_by_side_per_agent_and_desk(desk):
    result = performance(desk=desk["desk"], days=7)
    rows = {user.full_name: t for user, t in result.agents}
    ann, bob = rows["Ann Agent"], rows["Bob Agent"]
    assert (ann.calls, bob.calls, ann.new_clients, bob.new_clients) == (3, 1, 4, 1)
    assert ann.talk_seconds >= 3 * 1 and bob.talk_seconds == 0
    assert (ann.alerts, ann.max_score, bob.days_scored) == (1, 6.5, 0)
    assert ann.conversion == 0 and result.desk.calls == 4 and result.desk.new_clients == 5
    assert result.series["behaviour"][0]["data"][-1] == 6.5
    assert all(isinstance(v, str) for v in result.series["money"][0]["data"])  # money as decimal strings


def test_the_page_is_the_managers_not_the_agents(desk):
    http = HttpClient()
    http.force_login(desk["manager"])
    url = reverse("monitoring_performance")
    page = http.get(f"{url}?desk={desk['desk'].code}&agent={desk['ann'].code}&days=30").content.decode()
    assert 'id="performance-table"' in page and "Ann Agent" in page
    found = re.search(r'<script id="performance-data" type="application/json">(.*?)</script>', page, re.S)
    assert found is not None
    data = json.loads(found.group(1))
    assert data["behaviour"][0]["data"][-1] == 6.5 and len(data["labels"]) == 30
    agent = HttpClient()
    agent.force_login(desk["ann"])
    assert agent.get(url).status_code == 404


def test_deposit_amounts_read_as_money_per_currency():
    from decimal import Decimal

    from monitoring.review.performance import Totals

    totals = Totals()
    totals.amounts["USD"] += Decimal("32000.00000000")
    totals.amounts["EUR"] += Decimal("1250.5")
    assert totals.amounts_text() == ["1,250.50\u00a0EUR", "32,000.00\u00a0USD"]
