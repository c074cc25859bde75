"""Giving clients to agents from the client's page and from the client list: through the one
assignment rule (a desk manager gives clients only to the agents of the desks they run), audited,
the choices limited to the agents the user may assign to, refusals named; the permission trio."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client as HttpClient

from crm.models import AuditLog, Client, Event, RoleCode
from tests.crm.ui_fixtures import htmx_headers
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

REFUSED = "You can assign only to agents of your own desks."


@pytest.fixture
def floor(db):
    brand = make_brand(code="home")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Maya Manager")
    desk = make_desk(brand=brand, name="Sales EN", manager=manager)
    other_desk = make_desk(brand=brand, name="Sales DE")
    agent_a = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Aaron Agent")
    agent_b = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Bella Agent")
    stranger = make_user(role_code=RoleCode.SALES_AGENT, desk=other_desk, full_name="Stefan Otherdesk")
    away = make_brand(code="away")
    away_manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=away)
    make_desk(brand=away, name="Away desk", manager=away_manager)
    waiting = [make_client(brand=brand, desk=desk, first_name="Night", last_name=f"Owl{i}") for i in range(2)]
    return SimpleNamespace(brand=brand, manager=manager, desk=desk, agent_a=agent_a, agent_b=agent_b,
                           stranger=stranger, away_manager=away_manager, waiting=waiting)


def _http(user):
    http = HttpClient()
    http.force_login(user)
    return http


def _owners(clients):
    return [Client.objects.get(pk=c.pk).owner for c in clients]


def test_a_desk_manager_gives_a_client_to_an_agent_from_the_client_page(floor):
    http = _http(floor.manager)
    client = floor.waiting[0]
    page = http.get(f"/clients/{client.code}/").content.decode()
    form = page.split('id="client-assign"')[1].split("</form>")[0]
    # Offered: the agents of the desks the manager runs, not those of another desk.
    assert "Aaron Agent" in form and "Bella Agent" in form and "Stefan Otherdesk" not in form

    response = http.post(f"/clients/{client.code}/assign/",
                         {"assign-owner": str(floor.agent_a.code), "assign-reason": "morning shift"}, **htmx_headers())
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Night Owl0 now belongs to Aaron Agent." in html
    assert 'id="profile-owner" hx-swap-oob="true"' in html  # the header's owner follows
    assert _owners([client]) == [floor.agent_a]
    audit = AuditLog.objects.get(action="client.assign", object_id=str(client.code))
    assert audit.actor_id == floor.manager.pk and audit.reason == "morning shift"
    assigned = Event.objects.get(name="client.assigned", client=client)
    assert assigned.data["owner"]["to"]["code"] == str(floor.agent_a.code)

    # Without htmx: back to the profile, with the message.
    response = http.post(f"/clients/{client.code}/assign/", {"assign-owner": str(floor.agent_b.code)}, follow=True)
    assert "Night Owl0 now belongs to Bella Agent." in response.content.decode()
    assert _owners([client]) == [floor.agent_b]


def test_a_desk_manager_assigns_the_ticked_clients_from_the_list(floor):
    http = _http(floor.manager)
    page = http.get("/clients/").content.decode()
    assert page.count('name="clients"') == 2 and 'form="client-assign"' in page
    codes = [str(c.code) for c in floor.waiting]

    response = http.post("/clients/assign/?stage=lead", {"clients": codes, "assign-owner": str(floor.agent_b.code),
                                                          "assign-reason": "night queue"}, **htmx_headers())
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="client-table"' in html
    assert "2 clients given to Bella Agent." in html
    assert _owners(floor.waiting) == [floor.agent_b, floor.agent_b]
    assert AuditLog.objects.filter(action="client.assign", reason="night queue", actor_id=floor.manager.pk).count() == 2

    response = http.post("/clients/assign/", {"clients": codes[:1], "assign-owner": str(floor.agent_a.code)},
                         follow=True)
    assert "1 client given to Aaron Agent." in response.content.decode()
    assert _owners(floor.waiting) == [floor.agent_a, floor.agent_b]


def test_a_desk_manager_cannot_give_clients_to_another_desks_agent_and_is_told_why(floor):
    http = _http(floor.manager)
    client = floor.waiting[0]
    response = http.post(f"/clients/{client.code}/assign/", {"assign-owner": str(floor.stranger.code)},
                         **htmx_headers())
    assert REFUSED in response.content.decode()
    codes = [str(c.code) for c in floor.waiting]
    response = http.post("/clients/assign/", {"clients": codes, "assign-owner": str(floor.stranger.code)},
                         **htmx_headers())
    html = response.content.decode()
    assert f"Night Owl0: {REFUSED}" in html and f"Night Owl1: {REFUSED}" in html
    response = http.post("/clients/assign/", {"clients": codes, "assign-owner": str(floor.stranger.code)}, follow=True)
    assert REFUSED in response.content.decode()
    assert _owners(floor.waiting) == [None, None]
    assert not AuditLog.objects.filter(action="client.assign").exists()


def test_an_agent_may_not_assign_and_is_not_offered_to(floor):
    client = make_client(actor=floor.agent_a, first_name="Own", last_name="Book")
    http = _http(floor.agent_a)
    assert 'id="client-assign"' not in http.get(f"/clients/{client.code}/").content.decode()
    assert 'name="clients"' not in http.get("/clients/").content.decode()
    assert http.post(f"/clients/{client.code}/assign/", {"assign-owner": str(floor.agent_b.code)}).status_code == 403
    assert http.post("/clients/assign/", {"clients": [str(client.code)],
                                          "assign-owner": str(floor.agent_b.code)}).status_code == 403
    assert _owners([client]) == [floor.agent_a]


def test_a_manager_of_another_brand_finds_no_client_to_assign(floor):
    http = _http(floor.away_manager)
    client = floor.waiting[0]
    assert http.post(f"/clients/{client.code}/assign/", {"assign-owner": str(floor.agent_a.code)}).status_code == 404
    response = http.post("/clients/assign/", {"clients": [str(client.code)], "assign-owner": str(floor.agent_a.code)},
                         **htmx_headers())
    assert "not within your reach" in response.content.decode()
    assert _owners([client]) == [None]
