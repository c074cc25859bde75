"""The support panel on the dashboard: a support agent lands on their open tickets, soonest due
first, with what missed its SLA and what nobody has taken; a sales agent, who may answer tickets
too, keeps the sales dashboard."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from support import services
from tests.support.desk_world import build_desk_world, open_ticket

pytestmark = pytest.mark.django_db


def _panel(html: str) -> str:
    start = html.index('id="home-support"')
    return html[start:html.index("</section>", start)]


def test_the_support_agent_lands_on_their_tickets(client, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC), tick=False)  # Monday 10:00 in Cyprus
    world = build_desk_world()
    urgent = open_ticket(world, subject="Cannot log in", priority="urgent", category="platform")
    normal = open_ticket(world, subject="Swap question", category="trading")
    open_ticket(world, subject="Nobody took this", category="other")
    services.ticket_assign(ticket=urgent, assignee=world.agent, actor=world.admin)
    services.ticket_assign(ticket=normal, assignee=world.agent, actor=world.admin)
    time_machine.move_to(dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC), tick=False)  # the urgent one's 15 minutes are gone

    client.force_login(world.agent)
    panel = _panel(client.get(reverse("home")).content.decode())
    figures = {name: panel.split(f'data-figure="{name}"')[1].split('stat-value">')[1].split("<")[0]
               for name in ("mine", "missed", "due-soon", "unassigned")}
    assert figures == {"mine": "2", "missed": "1", "due-soon": "1", "unassigned": "1"}
    # The soonest due first, the late one saying by how much; each figure opens the queue so filtered.
    assert panel.index(urgent.reference) < panel.index(normal.reference)
    assert "overdue by 15" in panel
    assert 'href="/support/?assignee=me&amp;breached=on"' in panel
    queue = client.get("/support/?assignee=me&breached=on").content.decode()
    assert urgent.reference in queue and normal.reference not in queue


def test_the_sales_agent_keeps_the_sales_dashboard(client):
    world = build_desk_world()
    ticket = open_ticket(world)
    services.ticket_assign(ticket=ticket, assignee=world.sales, actor=world.admin)
    client.force_login(world.sales)
    html = client.get(reverse("home")).content.decode()
    assert 'id="home-support"' not in html and "My clients by stage" in html
