"""Adding an app needs no edit under crm/: tests/registry_app, installed only in the test settings,
declares a role permission, a menu entry with its page, an API scope with an operation, an event
with its timeline label, a profile tab and a playbook rule, from its own AppConfig.ready() and
modules. Each shows up where the core's own would."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.events import emit
from crm.models import Event, RoleCode
from crm.navigation import nav_items_for
from crm.permissions import user_can
from integrations.services import apikey_create
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    brand = make_brand(name="Registry Markets")
    dealer = make_user(role_code=RoleCode.DEALER, brand=brand, full_name="Dana Dealer")
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand, full_name="Abe Agent")
    client = make_client(brand=brand, owner=agent, first_name="Gina", last_name="Gadget")
    return {"brand": brand, "dealer": dealer, "agent": agent, "client": client}


def test_the_role_gets_the_apps_permission_and_no_other_role_does(world):
    assert user_can(world["dealer"], "registry_app.view_gadget")
    assert not user_can(world["agent"], "registry_app.view_gadget")


def test_the_menu_shows_the_apps_page_to_the_role_that_may_open_it(world):
    dealer, agent = HttpClient(), HttpClient()
    dealer.force_login(world["dealer"])
    agent.force_login(world["agent"])
    assert "gadgets" in [i["key"] for i in nav_items_for(world["dealer"])]
    assert "gadgets" not in [i["key"] for i in nav_items_for(world["agent"])]
    page = dealer.get("/gadgets/")
    assert page.status_code == 200 and 'href="/gadgets/"' in page.content.decode()
    assert agent.get("/gadgets/").status_code == 403


def test_the_apps_scope_can_be_given_to_a_key_and_opens_its_operation(world):
    admin = make_user(role_code=RoleCode.ADMIN, brand=world["brand"])
    _key, with_scope = apikey_create(actor=admin, brand=world["brand"], name="gadgets", scopes=["gadgets:read"])
    _key, without = apikey_create(actor=admin, brand=world["brand"], name="clients", scopes=["clients:read"])
    http = HttpClient()
    assert http.get("/api/v1/gadgets", HTTP_AUTHORIZATION=f"Bearer {with_scope}").json() == {"gadgets": []}
    refused = http.get("/api/v1/gadgets", HTTP_AUTHORIZATION=f"Bearer {without}")
    assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"
    admin_http = HttpClient()
    admin_http.force_login(admin)
    schema = HttpClient().get("/api/v1/openapi.json").json()
    assert any("gadgets:read" in str(op) for op in schema["paths"]["/api/v1/gadgets"].values())


def test_the_apps_event_is_checked_and_labelled_on_the_timeline_and_its_tab_shows(world):
    http = HttpClient()
    http.force_login(world["dealer"])
    emit("gadget.polished", client=world["client"], data={"shine": "mirror"})
    assert Event.objects.filter(name="gadget.polished", client=world["client"]).exists()
    with pytest.raises(Exception, match="shine"):
        emit("gadget.polished", client=world["client"], data={})
    url = reverse("client_detail", args=[world["client"].code])
    timeline = http.get(url + "?tab=timeline").content.decode()
    assert "Gadget polished" in timeline and "mirror" in timeline
    tab = http.get(url + "?tab=gadgets").content.decode()
    assert "Gadgets of Gina Gadget" in tab


def test_the_apps_playbook_rule_is_given_to_a_new_brand_and_its_event_is_a_trigger(world):
    from automation.models import AutomationRule
    from automation.services import automation_seed_playbook, known_event_names

    report = automation_seed_playbook(brand=world["brand"])
    assert "Gadget polished: tell the owner" in report.rules_created
    assert AutomationRule.objects.get(brand=world["brand"], name="Gadget polished: tell the owner").trigger == \
        "gadget.polished"
    assert "gadget.polished" in known_event_names()
