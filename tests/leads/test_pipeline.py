"""The sales pipeline: default statuses per brand, moves with history, the profile and workspace."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import Event, RoleCode
from leads.calls import call_log
from leads.models import CallOutcome, Channel, ClientPipeline, PipelineStatus, SavedView
from leads.pipeline import pipeline_defaults_ensure, pipeline_move, pipeline_status_of, pipeline_status_save
from leads.services import lead_intake
from leads.workspace import saved_view_save, workspace_clients
from tests.factories import make_brand, make_user
from tests.leads.conftest import lead_data
from tests.writes import written

pytestmark = pytest.mark.django_db


@pytest.fixture
def piped(world):
    pipeline_defaults_ensure(brand=world.brand)
    return world


def _lead(world, n=1, **kw):
    return lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(n, **kw)).client


def test_default_statuses_are_seeded_once_per_brand(world):
    other = make_brand(code="other")
    call_command("pipeline_seed", stdout=io.StringIO())
    call_command("pipeline_seed", stdout=io.StringIO())
    for brand in (world.brand, other):
        keys = list(PipelineStatus.objects.filter(brand=brand).values_list("key", flat=True))
        assert keys == ["new", "contacted", "no_answer", "call_back", "interested", "registered", "not_interested"]
    assert PipelineStatus.objects.get(brand=world.brand, key="registered").is_won


def test_a_new_lead_starts_at_new_and_each_move_is_an_event(piped):
    lead = _lead(piped)
    assert pipeline_status_of(client=lead).key == "new"
    pipeline_move(actor=lead.owner, client=lead, status="contacted")
    pipeline_move(actor=lead.owner, client=lead, status="interested", reason="wants a demo account")
    pipeline_move(actor=lead.owner, client=lead, status="interested")  # no change, no event
    moves = list(Event.objects.filter(name="lead.status_changed", client=lead).order_by("id").values_list("data", flat=True))
    assert [(m["from"], m["to"]) for m in moves] == [("new", "contacted"), ("contacted", "interested")]
    assert moves[1]["reason"] == "wants a demo account"
    assert ClientPipeline.objects.get(client=lead).changed_by == lead.owner


def test_moving_to_another_brands_or_unknown_status_names_the_field(piped):
    lead = _lead(piped)
    other = make_brand(code="other")
    PipelineStatus.objects.create(brand=other, key="vip", label="VIP")
    with pytest.raises(ValidationFailed) as exc:
        pipeline_move(actor=lead.owner, client=lead, status="vip")
    assert "status" in exc.value.fields


def test_a_role_without_change_client_cannot_move_the_status(piped):
    lead = _lead(piped)
    with pytest.raises(NotAllowed):
        pipeline_move(actor=make_user(role_code=RoleCode.FINANCE, brand=piped.brand), client=lead, status="contacted")


def test_owner_moves_the_status_on_the_profile_colleague_and_outsider_cannot(piped, client):
    lead = _lead(piped)
    url = reverse("lead_pipeline_move", args=[lead.code])
    colleague = next(a for a in piped.agents if a != lead.owner)
    others = (colleague, make_user(role_code=RoleCode.SALES_AGENT))
    status_before, before = pipeline_status_of(client=lead).key, written(ClientPipeline)
    for other in others:
        client.force_login(other)
        assert client.post(url, {"status": "interested"}, HTTP_HX_REQUEST="true").status_code == 404
    assert pipeline_status_of(client=lead).key == status_before != "interested"
    assert written(ClientPipeline) == before
    client.force_login(lead.owner)
    response = client.post(url, {"status": "interested", "reason": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'id="pipeline-current">Interested' in response.content
    assert pipeline_status_of(client=lead).key == "interested"


def test_workspace_lists_only_the_agents_book_with_filters(piped, client):
    leads = [_lead(piped, n) for n in range(1, 7)]
    agent = leads[0].owner
    mine = [c for c in leads if c.owner_id == agent.pk]
    assert len(mine) >= 2
    pipeline_move(actor=agent, client=mine[0], status="interested")
    call_log(actor=agent, client=mine[1], outcome=CallOutcome.NO_ANSWER)
    book = set(workspace_clients(user=agent))
    assert book == set(mine)
    assert list(workspace_clients(user=agent, status="interested")) == [mine[0]]
    assert mine[0] not in set(workspace_clients(user=agent, status="new"))
    assert list(workspace_clients(user=agent, outcome="no_answer")) == [mine[1]]
    assert set(workspace_clients(user=agent, uncontacted=True)) == set(mine)  # a missed call is no contact
    assert set(workspace_clients(user=piped.manager)) == set(leads)  # a manager sees the desk

    client.force_login(agent)
    page = client.get(reverse("lead_workspace"), {"status": "interested"})
    assert page.status_code == 200 and mine[0].full_name.encode() in page.content
    assert mine[1].full_name.encode() not in page.content


def test_saved_views_keep_only_filters_and_belong_to_their_user(piped, client):
    agent = piped.agents[0]
    view = saved_view_save(user=agent, name="Hot", query="status=interested&page=3&evil=1&country=GB")
    assert view.query == "country=GB&status=interested"
    saved_view_save(user=agent, name="Hot", query="status=call_back")
    assert SavedView.objects.get(user=agent, name="Hot").query == "status=call_back"
    client.force_login(piped.agents[1])
    assert client.post(reverse("lead_saved_view_delete", args=[view.pk])).status_code == 404
    client.force_login(agent)
    response = client.post(reverse("lead_saved_view_save"), {"name": "GB", "query": "country=GB"})
    assert response.status_code == 302 and SavedView.objects.filter(user=agent, name="GB").exists()
    assert client.post(reverse("lead_saved_view_delete", args=[view.pk])).status_code == 302
    assert not SavedView.objects.filter(pk=view.pk).exists()


def test_administrators_configure_a_brands_statuses_and_others_cannot(piped, login_verified):
    from django.test import Client as HttpClient

    from crm.models import AuditLog

    status = pipeline_status_save(actor=piped.admin, brand=piped.brand, key="Demo booked", label="Demo booked",
                                  order=45)
    assert status.key == "demo_booked"
    pipeline_status_save(actor=piped.admin, brand=piped.brand, key="new", label="Fresh", order=10)
    assert PipelineStatus.objects.get(brand=piped.brand, key="new").label == "Fresh"
    assert PipelineStatus.objects.filter(brand=piped.brand).count() == 8
    assert AuditLog.objects.filter(action="pipeline_status.saved").count() == 2
    with pytest.raises(ValidationFailed) as exc:
        pipeline_status_save(actor=piped.admin, brand=piped.brand, key="!!", label="", is_won=True, is_lost=True)
    assert set(exc.value.fields) == {"key", "label", "is_lost"}
    with pytest.raises(NotAllowed):
        pipeline_status_save(actor=piped.manager, brand=piped.brand, key="x", label="X")

    http = HttpClient()
    login_verified(http, piped.admin)
    response = http.post(reverse("lead_pipeline_settings"), {"brand": piped.brand.pk, "key": "vip", "label": "VIP",
                                                              "order": 5, "is_active": "on"})
    assert response.status_code == 302 and PipelineStatus.objects.filter(brand=piped.brand, key="vip").exists()
    assert b"Demo booked" in http.get(reverse("lead_pipeline_settings")).content
    manager = HttpClient()
    manager.force_login(piped.manager)
    assert manager.get(reverse("lead_pipeline_settings")).status_code in (403, 404)
