"""A lead that waited in the queue off shift gets the playbook's first-call task once somebody is
given it by hand, and its First contact block says it is not assigned until then."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from automation.services import automation_seed_playbook
from crm import events
from crm.models import Event, Task
from leads.models import Channel
from leads.services import lead_intake, lead_reassign
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db

SATURDAY_NOON = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)


@pytest.fixture
def closed_desk(world):
    world.desk.work_days = [1, 2, 3, 4, 5]
    world.desk.save()
    automation_seed_playbook(brand=world.brand)
    return world


@time_machine.travel(SATURDAY_NOON, tick=False)
def test_a_lead_queued_off_shift_gets_its_first_call_task_when_assigned_later(closed_desk):
    client = lead_intake(brand=closed_desk.brand, channel=Channel.API, data=lead_data(1)).client
    events.dispatch_pending()
    assert client.owner is None
    assert not Task.objects.filter(client=client).exists()

    agent = closed_desk.agents[1]
    lead_reassign(actor=closed_desk.manager, client=client, owner=agent, reason="Monday's first lead")
    events.dispatch_pending()
    task = Task.objects.get(client=client)
    assert task.assignee == agent and task.title.startswith("First call")
    routed = Event.objects.filter(client=client, name="lead.routed").order_by("id")
    assert [e.data.get("manual", False) for e in routed] == [False, True]


@time_machine.travel(SATURDAY_NOON, tick=False)
def test_reassigning_a_contacted_lead_creates_no_first_call_task(closed_desk):
    from leads.services import lead_mark_contacted

    client = lead_intake(brand=closed_desk.brand, channel=Channel.API, data=lead_data(2)).client
    events.dispatch_pending()  # as the dispatcher does after each commit
    lead_reassign(actor=closed_desk.manager, client=client, owner=closed_desk.agents[0], reason="first")
    events.dispatch_pending()
    lead_mark_contacted(actor=closed_desk.agents[0], client=client, via="call")
    lead_reassign(actor=closed_desk.manager, client=client, owner=closed_desk.agents[1], reason="holiday cover")
    events.dispatch_pending()
    assert Task.objects.filter(client=client).count() == 1  # only the first owner's


@time_machine.travel(SATURDAY_NOON, tick=False)
def test_the_first_contact_block_says_not_assigned_while_the_lead_waits(closed_desk, client):
    lead = lead_intake(brand=closed_desk.brand, channel=Channel.API, data=lead_data(3)).client
    client.force_login(closed_desk.manager)
    url = reverse("client_detail", args=[lead.code]) + "?tab=lead"
    page = client.get(url).content.decode()
    block = page.split('id="lead-first-contact-assigned"')[1].split("</dd>")[0]
    assert "not assigned" in block and "Sales EN" in block
    lead_reassign(actor=closed_desk.manager, client=lead, owner=closed_desk.agents[0], reason="on it")
    block = client.get(url).content.decode().split('id="lead-first-contact-assigned"')[1].split("</dd>")[0]
    assert "not assigned" not in block and closed_desk.agents[0].full_name in block
