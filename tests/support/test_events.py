"""Support's events on the domain event stream: declared in the catalogue, offered to automation
rules as triggers, readable by outbound webhooks and the event feed without a special scope, and the
payload of each ticket event fits its contract (no message text in it)."""

from __future__ import annotations

import pytest

from automation.selectors import known_event_names
from crm.events.catalogue import declared
from crm.models import Event
from integrations.event_access import event_allowed
from support import services
from tests.support.desk_world import build_desk_world, open_ticket

pytestmark = pytest.mark.django_db

NAMES = {"support.ticket.opened", "support.ticket.answered", "support.ticket.client_replied",
         "support.ticket.breached", "support.ticket.closed", "support.ticket.reopened", "support.ticket.rated",
         "support.complaint.registered", "support.complaint.acknowledged", "support.complaint.closed"}


def test_every_support_event_is_declared_a_trigger_and_readable_by_webhooks():
    assert NAMES <= {event.name for event in declared()}
    assert NAMES <= set(known_event_names())
    assert all(event_allowed(name, held=[]) for name in NAMES)


def test_ticket_events_carry_the_reference_and_never_the_message():
    world = build_desk_world()
    ticket = open_ticket(world)
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Secret internal wording", status="resolved")
    services.ticket_rate(ticket=ticket, rating=3)
    for event in Event.objects.filter(name__startswith="support.ticket."):
        assert event.data["ticket"] == ticket.reference
        assert "Secret" not in str(event.data) and "nothing has arrived" not in str(event.data)
    assert {e.name for e in Event.objects.filter(client=world.client)} >= {
        "support.ticket.opened", "support.ticket.answered", "support.ticket.closed", "support.ticket.rated"}
