"""A lead that arrives while every agent is off shift waits in the desk's queue, and goes to the
first agent who comes on shift (the beat's minute sweep, or the agent checking in), oldest first,
with the first-contact SLA starting then; the queue page lists it until somebody owns it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client as HttpClient

from crm.lib.fieldcrypt import keyed_hash
from crm.models import Client, Event, Notification, Stage
from crm.services import client_stage_change
from leads.models import AvailabilityStatus, Channel, LeadContactState
from leads.services import agent_availability_set, desk_sla_save, lead_intake, lead_queue_route
from leads.tasks import lead_queue_route as lead_queue_route_task
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db

WEDNESDAY = datetime(2025, 3, 5, tzinfo=UTC)
NIGHT = WEDNESDAY + timedelta(hours=2)
NINE = WEDNESDAY + timedelta(hours=9)


@pytest.fixture
def day_shift(world):
    """Agent A works 09:00-17:00, B and C 10:00-18:00 (UTC); first contact within 15 minutes."""
    agent_availability_set(actor=world.admin, user=world.agents[0], status=AvailabilityStatus.AVAILABLE,
                           shift_start=time(9), shift_end=time(17), shift_days=[1, 2, 3, 4, 5])
    for agent in world.agents[1:]:
        agent_availability_set(actor=world.admin, user=agent, status=AvailabilityStatus.AVAILABLE,
                               shift_start=time(10), shift_end=time(18), shift_days=[1, 2, 3, 4, 5])
    desk_sla_save(actor=world.admin, desk=world.desk, minutes_to_first_contact=15)
    return world


def _submit_public_form(world, n):
    http = HttpClient()
    url = f"/f/{world.brand.code}/lead/"
    html = http.get(url).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))
    response = http.post(url, {**hidden, "first_name": "Night", "last_name": f"Owl{n}",
                               "email": f"owl{n}@example.com", "phone": f"+44207000{n:04d}", "country": "GB",
                               "consent": "on"}, REMOTE_ADDR=f"198.51.100.{n}")
    assert response.status_code == 302, response.content.decode()[:500]
    return Client.objects.get(email_hash=keyed_hash(f"owl{n}@example.com", kind="email"))


def test_the_beat_schedule_routes_the_queues_every_minute():
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "leads.tasks.lead_queue_route"]
    assert len(entries) == 1 and float(entries[0]["schedule"]) <= 60


def test_a_lead_from_the_public_form_at_night_goes_to_the_first_agent_on_shift(day_shift):
    world = day_shift
    with time_machine.travel(NIGHT, tick=False) as clock:
        first = _submit_public_form(world, 1)
        clock.move_to(NIGHT + timedelta(minutes=30))
        second = _submit_public_form(world, 2)
        for lead in (first, second):
            assert lead.owner is None and lead.desk == world.desk
        # Nobody is on shift: the queue waits, and no first-contact deadline runs meanwhile.
        assert LeadContactState.objects.get(client=first).due_at is None
        clock.move_to(NINE - timedelta(minutes=1))
        assert lead_queue_route_task() == {"routed": 0, "waiting": 2}

        clock.move_to(NINE)
        assert lead_queue_route_task() == {"routed": 2, "waiting": 0}
        assert lead_queue_route_task() == {"routed": 0, "waiting": 0}  # nothing is routed twice

    for lead in (first, second):
        lead.refresh_from_db()
        assert lead.owner == world.agents[0] and lead.desk == world.desk  # the only agent on shift at 09:00
        state = LeadContactState.objects.get(client=lead)
        assert (state.owner, state.assigned_at, state.due_at) == (world.agents[0], NINE, NINE + timedelta(minutes=15))
    routed = list(Event.objects.filter(name="lead.routed", data__from_queue=True).order_by("id"))
    assert [e.client_id for e in routed] == [first.pk, second.pk]  # in the order they arrived
    assert routed[0].data["why"][0] == "waited in the queue for 420 min"
    assert Notification.objects.filter(user=world.agents[0], kind="client_assigned").count() == 2


def test_an_agent_checking_in_takes_the_queue_at_once(day_shift):
    world = day_shift
    with time_machine.travel(NIGHT, tick=False):
        lead = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
        assert lead.owner is None
        night_owl = world.agents[2]
        agent_availability_set(actor=world.admin, user=night_owl, status=AvailabilityStatus.AVAILABLE)
        assert lead_queue_route() == {"routed": 1, "waiting": 0}
    lead.refresh_from_db()
    assert lead.owner == night_owl


def test_agents_on_leave_or_absent_leave_the_lead_waiting(day_shift):
    world = day_shift
    with time_machine.travel(NIGHT, tick=False) as clock:
        lead = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
        agent_availability_set(actor=world.admin, user=world.agents[0], status=AvailabilityStatus.ON_LEAVE)
        clock.move_to(NINE + timedelta(minutes=5))
        assert lead_queue_route() == {"routed": 0, "waiting": 1}
        clock.move_to(NINE + timedelta(hours=1))
        assert lead_queue_route()["routed"] == 1
    lead.refresh_from_db()
    assert lead.owner in world.agents[1:]


def test_a_registered_client_nobody_owns_stays_on_the_queue_page_until_owned(day_shift):
    world = day_shift
    with time_machine.travel(NIGHT, tick=False) as clock:
        lead = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
        client_stage_change(actor=None, client=lead, stage=Stage.REGISTERED, reason="registered in the trader's room")
        http = HttpClient()
        http.force_login(world.manager)
        page = http.get("/leads/assign/").content.decode()
        assert lead.full_name in page
        assert lead.full_name in http.get("/leads/assign/?unassigned=1").content.decode()
        clock.move_to(NINE)
        lead_queue_route()
    lead.refresh_from_db()
    assert lead.stage == Stage.REGISTERED and lead.owner == world.agents[0]
    assert lead.full_name not in http.get("/leads/assign/").content.decode()  # owned, and no longer a lead


def test_a_queued_lead_given_out_on_the_client_page_starts_its_sla_and_first_call(day_shift):
    from automation.services import automation_seed_playbook
    from crm import events
    from crm.models import Task

    world = day_shift
    automation_seed_playbook(brand=world.brand)
    early = NINE - timedelta(hours=2)
    with time_machine.travel(NIGHT, tick=False) as clock:
        lead = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
        events.dispatch_pending()
        clock.move_to(early)
        http = HttpClient()
        http.force_login(world.manager)
        response = http.post(f"/clients/{lead.code}/assign/", {"assign-owner": str(world.agents[1].code)})
        assert response.status_code == 302
        events.dispatch_pending()  # the assignment's handler emits "lead.routed" ...
        events.dispatch_pending()  # ... which the playbook's first call follows
    state = LeadContactState.objects.get(client=lead)
    assert (state.owner, state.assigned_at, state.due_at) == (world.agents[1], early, early + timedelta(minutes=15))
    task = Task.objects.get(client=lead)
    assert task.assignee == world.agents[1] and task.title.startswith("First call")
