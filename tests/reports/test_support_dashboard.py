"""The support desk's KPI panel on the management dashboard (reports over support.selectors.support_kpis):
what a desk manager reads for the period, with links to the support queue filtered; the figures of
tickets worked through support's services at frozen times (tests/support/test_kpis.py's world)."""

from __future__ import annotations

import re

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from tests.support.test_kpis import MONDAY
from tests.support.test_kpis import world as world  # noqa: F401  # the fixture

pytestmark = pytest.mark.django_db


DAY = MONDAY.date()


def _page(user, day=DAY) -> str:
    http = HttpClient()
    http.force_login(user)
    response = http.get(reverse("reports_dashboard"), {"from": day.isoformat(), "to": day.isoformat()})
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, attr: str) -> str:
    found = re.search(rf'<tr data-{attr}>(.*?)</tr>', html, re.S)
    assert found, attr
    return found.group(1)


def test_the_dashboard_shows_the_desk_and_each_agents_support_kpis_with_queue_links(world):
    w = world
    html = _page(w.manager)
    assert 'data-figure="support-kpis"' in html
    assert "wall-clock minutes" in html
    desk = _row(html, 'desk="main"')
    queue = reverse("support_queue")
    assert f'href="{queue}?status=all&amp;desk={w.desk.pk}"' in desk
    assert re.search(r"data-handled>4<", desk)
    assert re.search(r"data-first-response>20 min<", desk)
    assert re.search(r"data-first-response-p90>28 min<", desk)
    assert re.search(r"data-resolution>20 min<", desk)
    assert re.search(r"data-reopen-rate>25%<", desk)
    assert re.search(r"data-rating>3.67 \(3 ratings\)<", desk)
    assert re.search(r"data-satisfied>67%<", desk)
    assert f'href="{queue}?status=all&amp;desk={w.desk.pk}&amp;breached=on">1<' in desk
    sam = _row(html, f'agent="{w.agent.code}"')
    assert re.search(r"data-handled>3<", sam) and re.search(r"data-resolution>125 min<", sam)
    assert re.search(r"data-reopen-rate>33%<", sam) and re.search(r"data-satisfied>50%<", sam)


def test_a_day_without_tickets_says_so(world):
    html = _page(world.manager, DAY.replace(day=20))
    assert "No tickets opened in this period." in html
