"""A logged call's outcome moves the client along the brand's pipeline, in the same step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from crm.exceptions import ValidationFailed
from crm.models import Event
from leads.calls import call_log
from leads.models import CallOutcome, Channel, LeadContactState
from leads.pipeline import pipeline_defaults_ensure, pipeline_move, pipeline_status_of, pipeline_status_save
from leads.services import lead_intake
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def piped(world):
    pipeline_defaults_ensure(brand=world.brand)
    return world


def _lead(world, n=1):
    return lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(n)).client


def test_logging_an_interested_call_moves_a_new_lead_to_interested(piped):
    lead = _lead(piped)
    assert pipeline_status_of(client=lead).key == "new"
    call_log(actor=lead.owner, client=lead, outcome=CallOutcome.INTERESTED, duration_seconds=120)
    assert pipeline_status_of(client=lead).key == "interested"
    moved = Event.objects.get(client=lead, name="lead.status_changed")
    assert (moved.data["from"], moved.data["to"]) == ("new", "interested")
    assert "Interested" in moved.data["reason"]


def test_the_call_tab_form_moves_the_status_shown_on_the_profile(piped, client):
    lead = _lead(piped)
    client.force_login(lead.owner)
    response = client.post(reverse("lead_call_log", args=[lead.code]),
                           {"outcome": "interested", "direction": "outbound", "duration": "2:00"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert pipeline_status_of(client=lead).key == "interested"


def test_a_missed_call_after_interest_does_not_move_the_client_back(piped):
    lead = _lead(piped)
    call_log(actor=lead.owner, client=lead, outcome=CallOutcome.INTERESTED, duration_seconds=60)
    call_log(actor=lead.owner, client=lead, outcome=CallOutcome.NO_ANSWER, duration_seconds=20)
    assert pipeline_status_of(client=lead).key == "interested"
    assert Event.objects.filter(client=lead, name="lead.status_changed").count() == 1


def test_not_interested_closes_an_open_lead_but_never_a_won_one(piped):
    lost, won = _lead(piped, 1), _lead(piped, 2)
    call_log(actor=lost.owner, client=lost, outcome=CallOutcome.INTERESTED, duration_seconds=60)
    call_log(actor=lost.owner, client=lost, outcome=CallOutcome.NOT_INTERESTED, duration_seconds=60)
    assert pipeline_status_of(client=lost).key == "not_interested"
    pipeline_move(actor=won.owner, client=won, status="registered")
    call_log(actor=won.owner, client=won, outcome=CallOutcome.NOT_INTERESTED, duration_seconds=60)
    assert pipeline_status_of(client=won).key == "registered"


def test_a_wrong_number_moves_nobody_by_default(piped):
    lead = _lead(piped)
    call_log(actor=lead.owner, client=lead, outcome=CallOutcome.WRONG_NUMBER, duration_seconds=10)
    assert pipeline_status_of(client=lead).key == "new"


def test_the_brand_decides_which_status_an_outcome_moves_to(piped):
    pipeline_status_save(actor=piped.admin, brand=piped.brand, key="contacted", label="Contacted", order=20,
                         call_outcomes=[])
    pipeline_status_save(actor=piped.admin, brand=piped.brand, key="demo_booked", label="Demo booked", order=45,
                         call_outcomes=[CallOutcome.CONNECTED])
    lead = _lead(piped)
    call_log(actor=lead.owner, client=lead, outcome=CallOutcome.CONNECTED, duration_seconds=60)
    assert pipeline_status_of(client=lead).key == "demo_booked"


def test_one_outcome_cannot_move_to_two_statuses(piped):
    with pytest.raises(ValidationFailed) as caught:
        pipeline_status_save(actor=piped.admin, brand=piped.brand, key="hot", label="Hot", order=46,
                             call_outcomes=[CallOutcome.INTERESTED])
    assert "Interested" in caught.value.fields["call_outcomes"][0]
    assert not piped.brand.pipeline_statuses.filter(key="hot").exists()


def test_the_settings_page_shows_and_saves_call_outcomes(piped, client, login_verified):
    login_verified(client, piped.admin)
    url = reverse("lead_pipeline_settings")
    response = client.post(url, {"brand": piped.brand.pk, "key": "contacted", "label": "Contacted", "order": 20,
                                 "is_active": "on", "call_outcomes": ["connected", "wrong_number"]})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "Wrong number" in page
    status = piped.brand.pipeline_statuses.get(key="contacted")
    assert status.call_outcomes == ["connected", "wrong_number"]


def test_a_call_longer_than_the_lead_is_old_does_not_make_first_contact_precede_the_lead(piped):
    lead = _lead(piped)
    call_log(actor=lead.owner, client=lead, outcome=CallOutcome.INTERESTED, duration_seconds=600)
    state = LeadContactState.objects.get(client=lead)
    assert state.contacted_at >= lead.created_at
    contacted = Event.objects.get(client=lead, name="lead.contacted")
    assert contacted.occurred_at >= lead.created_at
    assert contacted.occurred_at - lead.created_at < timedelta(minutes=1)
