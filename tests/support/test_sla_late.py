"""A clock stopped after its due time but before the sweep's next pass (it runs every minute) is still
a breach: the answer given at 09:55:30 to a ticket due at 09:55 is late, and so is a resolution after
its due time. Marked at the answer, with the sweep's event and the desk manager's notice, and once:
the sweep after it finds nothing more to do."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crm.models import Event, Notification
from support import services
from support.models import Ticket
from support.sla_services import sla_sweep
from tests.support.desk_world import build_desk_world, open_ticket

CY = ZoneInfo("Asia/Nicosia")  # the desk's time zone: 09:00-18:00 Monday to Friday, normal 60 and 480 minutes


def cy(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=CY)


@pytest.fixture
def world(db, time_machine):
    time_machine.move_to(cy(27, 17, 55), tick=False)  # a Friday, five minutes before closing
    world = build_desk_world()
    world.time = time_machine
    return world


def _breaches(ticket: Ticket) -> list[str]:
    return list(Event.objects.filter(name="support.ticket.breached", data__ticket=ticket.reference)
                .order_by("pk").values_list("data__target", flat=True))


def test_an_answer_after_the_due_time_before_the_sweep_is_a_breach_at_the_answer(world):
    ticket = open_ticket(world)
    assert ticket.first_response_due == cy(30, 9, 55)
    answer_at = cy(30, 9, 55) + dt.timedelta(seconds=30)
    world.time.move_to(answer_at, tick=False)
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="It left on Friday.")
    ticket.refresh_from_db()
    assert ticket.first_response_breached_at == answer_at and ticket.breached
    assert ticket.escalated_at == answer_at
    assert _breaches(ticket) == ["first_response"]
    assert Notification.objects.filter(user=world.manager, kind="support_sla_breached").count() == 1
    # The next minute's sweep: the clock is stopped and marked; nothing twice.
    world.time.move_to(cy(30, 9, 56), tick=False)
    assert sla_sweep().as_dict() == {"warned": 0, "breached": 0, "escalated": 0}
    assert _breaches(ticket) == ["first_response"]


def test_an_answer_in_time_is_no_breach(world):
    ticket = open_ticket(world)
    world.time.move_to(cy(30, 9, 54), tick=False)
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="On its way.", status="open")
    ticket.refresh_from_db()
    assert ticket.first_response_breached_at is None and not ticket.breached
    assert _breaches(ticket) == []


def test_a_late_first_answer_that_keeps_the_ticket_open_is_a_breach_too(world):
    ticket = open_ticket(world)
    services.ticket_set_status(ticket=ticket, status="open", actor=world.agent)
    world.time.move_to(cy(30, 9, 55) + dt.timedelta(seconds=20), tick=False)
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Checking.", status="open")
    ticket.refresh_from_db()
    assert ticket.status == "open" and ticket.first_response_breached_at is not None
    assert _breaches(ticket) == ["first_response"]


def test_a_resolution_after_its_due_time_before_the_sweep_is_a_breach_at_the_resolution(world):
    ticket = open_ticket(world)
    world.time.move_to(cy(30, 9, 30), tick=False)
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Looking.", status="open")
    assert ticket.resolution_due == cy(30, 16, 55)
    resolved_at = cy(30, 16, 55) + dt.timedelta(seconds=40)
    world.time.move_to(resolved_at, tick=False)
    services.ticket_set_status(ticket=ticket, status="resolved", actor=world.agent)
    ticket.refresh_from_db()
    assert ticket.resolution_breached_at == resolved_at and ticket.first_response_breached_at is None
    assert _breaches(ticket) == ["resolution"]
    world.time.move_to(cy(30, 16, 56), tick=False)
    assert sla_sweep().as_dict()["breached"] == 0


def test_a_resolution_in_time_or_a_pause_before_the_due_time_is_no_breach(world):
    ticket = open_ticket(world)
    world.time.move_to(cy(30, 9, 30), tick=False)
    # Waiting for the client from 09:30 stops the resolution clock long before it runs out.
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Which card?")
    world.time.move_to(cy(30, 17, 30), tick=False)
    services.ticket_set_status(ticket=ticket, status="resolved", actor=world.agent)
    ticket.refresh_from_db()
    assert ticket.resolution_breached_at is None and _breaches(ticket) == []
