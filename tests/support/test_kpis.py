"""Support KPIs per agent and per desk (support.selectors.support_kpis, support/sql/kpis.sql): the
numbers a desk manager reads, from tickets worked through the services at frozen times; an agent
sees only their own row; a ticket opened outside the period is not counted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from crm.models import RoleCode
from plumbing import sqlfiles
from support import services, sla_services
from support.selectors import support_kpis
from tests.factories import make_client, make_user
from tests.support.desk_world import build_desk_world, open_ticket

pytestmark = pytest.mark.django_db

MONDAY = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # 11:00 in Cyprus: inside the desk's hours


def at(minutes: int) -> time_machine.travel:
    return time_machine.travel(MONDAY + dt.timedelta(minutes=minutes), tick=False)


@pytest.fixture
def world():
    w = build_desk_world()
    w.ben = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=w.brand, full_name="Ben Agent")
    # An Arabic-speaking client: the answers are mailed in Arabic (support.outbound gives the brand its template).
    w.client = make_client(brand=w.brand, first_name="Layla", last_name="Haddad", email="layla@helios.example.com",
                           language="ar", owner=w.sales)
    with time_machine.travel(MONDAY - dt.timedelta(days=7), tick=False):  # last week: outside the period
        old = open_ticket(w, subject="Old one")
        services.ticket_reply_staff(ticket=old, actor=w.agent, body="Done.", status="resolved")
    with at(0):
        t1, t2, t3, t4 = (open_ticket(w, subject=f"Ticket {n}") for n in range(1, 5))
        services.ticket_assign(ticket=t4, assignee=w.agent, actor=w.admin)
    with at(10):  # Sam answers and resolves t1 in 10 minutes
        services.ticket_reply_staff(ticket=t1, actor=w.agent, body="Sent again.", status="resolved")
    with at(20):  # Ben answers and resolves t3 in 20 minutes
        services.ticket_reply_staff(ticket=t3, actor=w.ben, body="Fixed.", status="resolved")
    with at(30):  # Sam answers t2 in 30 minutes, then waits for the client
        services.ticket_reply_staff(ticket=t2, actor=w.agent, body="Which account?")
        services.ticket_rate(ticket=t1, rating=5)
        services.ticket_rate(ticket=t3, rating=4)
    with at(120):
        services.ticket_set_status(ticket=t2, status="resolved", actor=w.agent)
        sla_services.sla_sweep()  # t4 has had no answer for two business hours: breached
    with at(180):
        services.ticket_reopen(ticket=t2, actor=None, reason="Still missing")
    with at(240):
        services.ticket_set_status(ticket=t2, status="resolved", actor=w.agent)
        services.ticket_rate(ticket=t2, rating=2)
    return w


def _kpis(user, **filters):
    day = MONDAY.date()
    return support_kpis(user=user, date_from=day, date_to=day, **filters)


def test_a_desk_manager_reads_each_agents_and_the_desks_figures(world):
    w = world
    sqlfiles.used.clear()
    kpis = _kpis(w.manager)
    assert ("support", "kpis") in sqlfiles.used
    agents = {row.name: row for row in kpis.agents}
    assert set(agents) == {"Sam Support", "Ben Agent"}
    sam, ben = agents["Sam Support"], agents["Ben Agent"]
    assert sam.handled == 3  # t1, t2 and the unanswered t4; last week's ticket is not counted
    assert (sam.first_response_median, sam.first_response_p90) == (20.0, 28.0)  # of 10 and 30 minutes
    assert sam.resolution_median == 125.0  # of 10 and 240 (t2 resolved again after its reopening)
    assert sam.reopen_rate == Decimal("0.3333")
    assert (sam.rating_average, sam.rated, sam.satisfied_share) == (Decimal("3.50"), 2, Decimal("0.5000"))
    assert sam.breached == 1
    assert (ben.handled, ben.first_response_median, ben.resolution_median, ben.breached) == (1, 20.0, 20.0, 0)
    assert (ben.rating_average, ben.satisfied_share, ben.reopen_rate) == (Decimal("4.00"), Decimal("1.0000"), 0)
    [desk] = kpis.desks
    assert (desk.name, desk.code, desk.handled) == ("Helios support", "main", 4)
    assert (desk.first_response_median, desk.first_response_p90, desk.resolution_median) == (20.0, 28.0, 20.0)
    assert (desk.reopen_rate, desk.breached) == (Decimal("0.2500"), 1)
    assert (desk.rating_average, desk.rated, desk.satisfied_share) == (Decimal("3.67"), 3, Decimal("0.6667"))
    assert _kpis(w.admin).desks == kpis.desks  # an administrator sees every desk the same


def test_an_agent_sees_only_their_own_row(world):
    w = world
    kpis = _kpis(w.ben)
    assert [(row.name, row.handled) for row in kpis.agents] == [("Ben Agent", 1)]
    assert kpis.desks == []


def test_filters_and_period_narrow_the_figures(world):
    w = world
    assert _kpis(w.admin, desk_id=w.desk.pk + 1000).agents == []
    day = MONDAY.date() - dt.timedelta(days=7)
    old = support_kpis(user=w.manager, date_from=day, date_to=day)
    assert [(row.name, row.handled, row.first_response_median) for row in old.agents] == [("Sam Support", 1, 0.0)]
