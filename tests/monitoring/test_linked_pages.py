"""The linked-accounts graph: a tab of the client's page and a panel of the partner's page, for those
who review monitoring alerts; an agent sees neither."""

from __future__ import annotations

import pytest
from django.test import Client as Http

from crm.events import dispatch_pending
from crm.models import RoleCode
from tests.factories import make_user
from tests.monitoring.abuse_world import partner, person, world

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _busy_networks(settings):
    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/h"


def test_a_desk_manager_sees_the_clients_linked_accounts_and_an_agent_does_not_get_the_tab(login_verified):
    w = world()
    a = person(w, ip="203.0.113.15", ua="ua-twin")
    b = person(w, ip="203.0.113.15", ua="ua-twin")
    loner = person(w, ip="198.51.100.15", ua="ua-loner")
    admin = make_user(role_code=RoleCode.ADMIN)
    http = Http()
    login_verified(http, admin)
    html = http.get(f"/clients/{a.code}/?tab=linked").content.decode()
    assert "data-linked-accounts" in html and "data-related-graph" in html
    assert f'data-linked="{b.code}"' in html and f"/clients/{b.code}/" in html
    assert "the same browser on the same IP" in html
    empty = http.get(f"/clients/{loner.code}/?tab=linked").content.decode()
    assert "No other client is linked to this one" in empty
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=w.brand)
    other = Http()
    other.force_login(agent)
    assert "?tab=linked" not in other.get(f"/clients/{a.code}/").content.decode()


def test_the_partner_page_draws_its_clients_linked_to_each_other(login_verified):
    w = world()
    p, code = partner(w)
    twins = [person(w, ip="203.0.113.16", ua="ua-same", referrer=code) for _ in range(2)]
    person(w, ip="198.51.100.16", ua="ua-apart", referrer=code)
    dispatch_pending()
    admin = make_user(role_code=RoleCode.ADMIN)
    http = Http()
    login_verified(http, admin)
    html = http.get(f"/ib/partners/{p.code}/").content.decode()
    assert "data-partner-linked" in html and "data-related-graph" in html
    assert {f'data-linked="{t.code}"' in html for t in twins} == {True}
