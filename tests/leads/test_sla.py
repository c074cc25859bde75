"""First-contact SLA: escalation once, automatic reassignment, contact by note or service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm import events
from crm.models import Event, Notification
from crm.services import note_add
from leads.models import Channel, LeadContactState
from leads.services import desk_sla_save, lead_intake, lead_mark_contacted, lead_sla_sweep
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db
START = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def sla_world(world):
    desk_sla_save(actor=world.admin, desk=world.desk, minutes_to_first_contact=15)
    return world


def _new_lead(world, n=1):
    return lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(n)).client


def test_an_uncontacted_lead_escalates_to_the_manager_once(sla_world):
    world = sla_world
    with time_machine.travel(START, tick=False) as clock:
        client = _new_lead(world)
        state = LeadContactState.objects.get(client=client)
        assert state.due_at == START + timedelta(minutes=15)
        clock.move_to(START + timedelta(minutes=14))
        assert lead_sla_sweep()["escalated"] == 0
        clock.move_to(START + timedelta(minutes=16))
        assert lead_sla_sweep() == {"escalated": 1, "reassigned": 0, "contacted": 0}
        clock.move_to(START + timedelta(minutes=30))
        assert lead_sla_sweep()["escalated"] == 0
    breach = Event.objects.get(name="lead.sla_breached")
    assert breach.client_id == client.pk and breach.data["escalated_to"]["code"] == str(world.manager.code)
    assert Notification.objects.filter(user=world.manager, kind="lead_sla_breached").count() == 1
    client.refresh_from_db()
    assert client.owner in world.agents  # not reassigned: this desk does not ask for it


def test_auto_reassign_gives_the_lead_to_another_agent_with_a_new_window(sla_world):
    world = sla_world
    desk_sla_save(actor=world.admin, desk=world.desk, minutes_to_first_contact=15, auto_reassign=True)
    with time_machine.travel(START, tick=False) as clock:
        client = _new_lead(world)
        first_owner = client.owner
        clock.move_to(START + timedelta(minutes=20))
        assert lead_sla_sweep() == {"escalated": 1, "reassigned": 1, "contacted": 0}
        client.refresh_from_db()
        assert client.owner not in (None, first_owner)
        state = LeadContactState.objects.get(client=client)
        assert state.owner == client.owner and state.escalated_at is None
        assert state.due_at == START + timedelta(minutes=35)
        assert lead_sla_sweep()["escalated"] == 0
    assigned = Event.objects.filter(client=client, name="client.assigned").get()
    assert "SLA" in assigned.data["reason"]
    assert Notification.objects.filter(user=client.owner, kind="client_assigned").exists()


def test_a_note_by_the_owner_is_first_contact(sla_world):
    world = sla_world
    with time_machine.travel(START, tick=False) as clock:
        client = _new_lead(world)
        clock.move_to(START + timedelta(minutes=5))
        note_add(actor=client.owner, client=client, body="Called, no answer; will call back.")
        clock.move_to(START + timedelta(minutes=20))
        # before the event handler ran, the sweep itself sees the note
        assert lead_sla_sweep() == {"escalated": 0, "reassigned": 0, "contacted": 1}
    contacted = Event.objects.get(name="lead.contacted")
    assert contacted.data["via"] == "note" and contacted.data["within_sla"] is True and contacted.data["minutes"] == 5
    assert not Event.objects.filter(name="lead.sla_breached").exists()


def test_the_note_handler_marks_contact_once_and_only_for_the_owner(sla_world):
    world = sla_world
    client = _new_lead(world)
    other = next(a for a in world.agents if a != client.owner)
    note_add(actor=world.manager, client=client, body="Manager note")
    events.dispatch_pending()
    assert LeadContactState.objects.get(client=client).contacted_at is None
    note_add(actor=client.owner, client=client, body="First call done")
    note_add(actor=client.owner, client=client, body="Second note")
    events.dispatch_pending()
    state = LeadContactState.objects.get(client=client)
    assert state.contacted_at is not None and state.contacted_by == client.owner and state.contacted_via == "note"
    assert Event.objects.filter(name="lead.contacted").count() == 1
    assert other != client.owner


def test_lead_mark_contacted_is_idempotent(sla_world):
    client = _new_lead(sla_world)
    assert lead_mark_contacted(actor=client.owner, client=client, via="call") is True
    assert lead_mark_contacted(actor=client.owner, client=client, via="email") is False
    assert LeadContactState.objects.get(client=client).contacted_via == "call"
