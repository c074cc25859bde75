"""Staff and administrator pages: the Lead tab, the reassignment queue, the settings pages."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from crm.models import AuditLog, Event, RoleCode
from leads.models import AgentAvailability, Campaign, Channel, DeskSla, RoutingRule, ScoringKind, ScoringRule
from leads.services import lead_intake, routing_rule_save, scoring_rule_save
from tests.factories import make_desk, make_user
from tests.leads.conftest import ALWAYS_OPEN, lead_data
from tests.writes import written

pytestmark = pytest.mark.django_db


def _http(user, login_verified=None):
    http = HttpClient()
    if login_verified is not None:
        login_verified(http, user)
    else:
        http.force_login(user)
    return http


def test_the_lead_tab_shows_the_score_breakdown_touches_and_attribution(world):
    scoring_rule_save(actor=world.admin, brand=world.brand, name="UK tier", kind=ScoringKind.COUNTRY_TIER,
                      params={"countries": ["GB"]}, points=30)
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(
        1, utm_source="google", utm_medium="cpc", referrer_code="IB77", click_id="gc-1")).client
    owner, colleague = client.owner, next(a for a in world.agents if a != client.owner)
    html = _http(owner).get(f"/clients/{client.code}/?tab=lead").content.decode()
    assert "UK tier" in html and "Country GB is in this tier" in html and "+30" in html
    assert "IB77" in html and "google / cpc" in html and "gc-1" in html
    assert _http(colleague).get(f"/clients/{client.code}/?tab=lead").status_code == 404
    outsider = make_user(role_code=RoleCode.SALES_AGENT)
    assert _http(outsider).get(f"/clients/{client.code}/?tab=lead").status_code == 404


def test_a_desk_manager_bulk_reassigns_leads_of_their_desk_with_a_reason(world):
    results = [lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(i)) for i in range(3)]
    target = world.agents[2]
    http = _http(world.manager)
    page = http.get("/leads/assign/")
    assert page.status_code == 200 and all(r.client.full_name in page.content.decode() for r in results)
    codes = [str(r.client.code) for r in results[:2]]
    response = http.post("/leads/assign/", {"clients": codes, "owner": target.pk, "reason": "Agent A is sick"})
    assert response.status_code == 302
    assert "2 leads reassigned." in http.get(response["Location"]).content.decode()
    one = http.post("/leads/assign/", {"clients": [codes[0]], "owner": world.agents[1].pk,
                                       "reason": "Back to B"}, follow=True)
    assert "1 lead reassigned." in one.content.decode()  # singular
    results[1].client.refresh_from_db()
    assert results[1].client.owner == target
    assigned = Event.objects.filter(name="client.assigned", client=results[1].client).last()
    assert assigned.data["reason"] == "Agent A is sick"
    assert AuditLog.objects.filter(action="client.assign", reason="Agent A is sick").count() >= 1
    # a reason is required
    response = http.post("/leads/assign/", {"clients": codes, "owner": world.agents[0].pk, "reason": ""})
    assert response.status_code == 400


def test_a_desk_manager_cannot_give_leads_to_another_desks_agent(world):
    other_desk = make_desk(brand=world.brand, name="Other", **ALWAYS_OPEN)
    stranger = make_user(role_code=RoleCode.SALES_AGENT, desk=other_desk)
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    http = _http(world.manager)
    response = http.post("/leads/assign/", {"clients": [str(client.code)], "owner": stranger.pk, "reason": "x"})
    assert response.status_code == 400  # not offered: not one of the manager's agents
    client.refresh_from_db()
    assert client.owner != stranger


def test_agents_do_not_get_the_queue_or_the_settings(world):
    http = _http(world.agents[0])
    before = written(RoutingRule, ScoringRule, DeskSla, AgentAvailability, Campaign)
    for url in ("/leads/assign/", "/leads/settings/routing/", "/leads/settings/scoring/", "/leads/settings/campaigns/",
                "/leads/settings/sla/", "/leads/settings/availability/"):
        assert http.get(url).status_code == 404, url
        response = http.post(url, {"brand": world.brand.pk, "name": "Mine", "code": "mine", "kind": "country_tier",
                                   "points": 20, "owner": str(world.agents[0].code), "is_active": "on"})
        assert response.status_code == 404, url
    assert written(RoutingRule, ScoringRule, DeskSla, AgentAvailability, Campaign) == before


def test_administrators_manage_rules_campaigns_sla_and_availability(world, login_verified):
    http = _http(world.admin, login_verified)
    for url in ("/leads/settings/routing/", "/leads/settings/scoring/", "/leads/settings/campaigns/",
                "/leads/settings/sla/", "/leads/settings/availability/"):
        assert http.get(url).status_code == 200, url

    response = http.post("/leads/settings/campaigns/", {"brand": world.brand.pk, "code": "Spring 25", "name": "Spring",
                                                        "is_active": "on"})
    assert response.status_code == 302
    assert http.get("/leads/settings/campaigns/acme/spring-25/").status_code == 200

    response = http.post("/leads/settings/scoring/", {"brand": world.brand.pk, "name": "Pros", "kind": "declared_experience",
                                                      "points": 20, "levels": ["professional"], "is_active": "on"})
    assert response.status_code == 302
    assert ScoringRule.objects.get(name="Pros").params == {"levels": ["professional"]}
    response = http.post("/leads/settings/scoring/", {"brand": world.brand.pk, "name": "Bad", "kind": "country_tier",
                                                      "points": 20})
    assert response.status_code == 400 and "Name at least one country." in response.content.decode()

    response = http.post("/leads/settings/routing/?brand=acme", {
        "brand": world.brand.pk, "name": "UAE", "countries": "AE", "target_kind": "agent",
        "target_agent": world.agents[0].pk, "strategy": "round_robin", "is_active": "on"})
    assert response.status_code == 302
    uae = RoutingRule.objects.get(name="UAE")
    second = routing_rule_save(actor=world.admin, brand=world.brand, name="Second", target_kind="desk",
                               target_desk=world.desk)
    http.post(f"/leads/settings/routing/{second.code}/move/", {"direction": "up"})
    ordered = list(RoutingRule.objects.filter(brand=world.brand, is_fallback=False).order_by("order").values_list("name", flat=True))
    assert ordered == ["Second", "UAE"]
    http.post("/leads/settings/routing/reorder/", {"brand": "acme", "rule": [str(uae.code), str(second.code)]})
    ordered = list(RoutingRule.objects.filter(brand=world.brand, is_fallback=False).order_by("order").values_list("name", flat=True))
    assert ordered == ["UAE", "Second"]
    page = http.get("/leads/settings/routing/?brand=acme").content.decode()
    assert page.index("UAE") < page.index("Second") < page.index("Everyone else")

    response = http.post(f"/leads/settings/sla/{world.desk.code}/", {"minutes_to_first_contact": 10, "auto_reassign": "on",
                                                                    "is_active": "on"})
    assert response.status_code == 302
    assert DeskSla.objects.get(desk=world.desk).auto_reassign is True

    response = http.post(f"/leads/settings/availability/{world.agents[1].code}/", {
        "status": "available", "shift_start": "09:00", "shift_end": "17:00", "shift_days": ["1", "2"]})
    assert response.status_code == 302
    availability = AgentAvailability.objects.get(user=world.agents[1])
    assert availability.shift_days == [1, 2] and availability.updated_by == world.admin
    assert AuditLog.objects.filter(action="agent_availability.set").exists()


def test_a_desk_manager_sets_availability_of_their_own_agents_only(world):
    other = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=world.brand, name="Elsewhere"))
    http = _http(world.manager)
    assert http.get("/leads/settings/availability/").status_code == 200
    response = http.post(f"/leads/settings/availability/{world.agents[0].code}/", {"status": "absent"})
    assert response.status_code == 302
    assert AgentAvailability.objects.get(user=world.agents[0]).status == "absent"
    assert http.get(f"/leads/settings/availability/{other.code}/").status_code == 404
    before = written(AgentAvailability, AgentAvailability.history.model)
    response = http.post(f"/leads/settings/availability/{other.code}/", {"status": "absent"})
    assert response.status_code == 404
    assert not AgentAvailability.objects.filter(user=other, status="absent").exists()
    assert written(AgentAvailability, AgentAvailability.history.model) == before


def test_the_navigation_offers_lead_pages_by_role(world):
    from crm.navigation import nav_items_for

    assert {"lead_assign", "lead_imports"} <= {i["key"] for i in nav_items_for(world.manager)}
    assert "lead_settings" in {i["key"] for i in nav_items_for(world.admin)}
    assert not {"lead_assign", "lead_settings"} & {i["key"] for i in nav_items_for(world.agents[0])}
