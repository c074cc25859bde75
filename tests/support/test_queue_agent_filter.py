"""The queue's assignee filter takes any agent for a manager (the dashboard's support KPIs link each
agent's row to that agent's queue), and only "mine" or "nobody's" for anyone else; whoever is picked,
the queue stays within the user's scope."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.models import RoleCode
from support import services
from tests.factories import make_client, make_desk, make_user
from tests.support.desk_world import build_desk_world, open_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor(db):
    """A desk manager's sales floor: a seller of the floor, their client and two tickets, one given to
    the support agent and one to the seller."""
    world = build_desk_world()
    crm_desk = make_desk(brand=world.brand, name="Floor", manager=world.manager)
    world.seller = make_user(role_code=RoleCode.SALES_AGENT, desk=crm_desk, full_name="Fay Floor")
    client = make_client(brand=world.brand, owner=world.seller, first_name="Nora", last_name="Lind",
                         email="nora@helios.example.com", language="en")
    world.to_agent = open_ticket(world, client=client, subject="Card declined")
    world.to_seller = open_ticket(world, client=client, subject="Spread question")
    services.ticket_assign(ticket=world.to_agent, assignee=world.agent, actor=world.admin)
    services.ticket_assign(ticket=world.to_seller, assignee=world.seller, actor=world.admin)
    return world


def _session(user, login_verified) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


def test_a_manager_opens_any_agents_queue(floor, login_verified):
    http = _session(floor.manager, login_verified)
    page = http.get(reverse("support_queue"), {"status": "all", "assignee": str(floor.agent.code)})
    assert page.status_code == 200
    html = page.content.decode()
    assert floor.to_agent.reference in html and floor.to_seller.reference not in html
    html = http.get(reverse("support_queue"), {"status": "all", "assignee": str(floor.seller.code)}).content.decode()
    assert floor.to_seller.reference in html and floor.to_agent.reference not in html
    assert f'value="{floor.agent.code}"' in html  # the filter offers the agents by name


def test_an_agent_picks_only_their_own_queue_or_nobodys(floor, login_verified):
    http = _session(floor.seller, login_verified)
    html = http.get(reverse("support_queue"), {"status": "all", "assignee": str(floor.agent.code)}).content.decode()
    # Not a choice for them: the filter is not applied, and the queue is still theirs to see only.
    assert f'value="{floor.agent.code}"' not in html
    assert floor.to_seller.reference in html and floor.to_agent.reference in html  # both their client's
    html = http.get(reverse("support_queue"), {"status": "all", "assignee": "me"}).content.decode()
    assert floor.to_seller.reference in html and floor.to_agent.reference not in html


def test_the_dashboards_kpi_rows_link_to_each_agents_queue(floor, login_verified):
    http = _session(floor.manager, login_verified)
    today = dt.date.today().isoformat()
    html = http.get(reverse("reports_dashboard"), {"date_from": today, "date_to": today}).content.decode()
    link = f'{reverse("support_queue")}?status=all&amp;assignee={floor.agent.code}'
    assert link in html
    page = http.get(reverse("support_queue"), {"status": "all", "assignee": str(floor.agent.code)})
    assert floor.to_agent.reference in page.content.decode()
