"""The SLA clocks of real tickets: due times at opening, the pause while waiting for the client,
and the sweep's warnings, breaches and escalations, with time frozen and moved.

The desk works 09:00-18:00 Monday to Friday in Cyprus (UTC+2 in November); its normal priority
asks for a first response within 60 business minutes and a resolution within 480, and warns 15
business minutes before either is due."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation.models import AutomationRun, RunStatus
from automation.services import automation_rule_save
from crm import events
from crm.models import Event, Notification, RoleCode
from support import services
from support import tasks as support_tasks
from support.models import SupportDesk, Ticket, TicketStatus
from support.sla_services import calendar_for_desk, sla_sweep, ticket_sla_dues
from tests.factories import make_brand, make_client, make_user

CY = ZoneInfo("Europe/Nicosia")
FRIDAY_1755 = dt.datetime(2026, 11, 27, 17, 55, tzinfo=CY)
NINE_TO_SIX = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def cy(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=CY)


@pytest.fixture
def world(db, time_machine):
    time_machine.move_to(FRIDAY_1755, tick=False)
    brand = make_brand(name="Alpha Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    agent = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=brand, full_name="Sam Support")
    owner = make_user(role_code=RoleCode.SALES_AGENT, brand=brand, full_name="Olivia Owner")
    desk = services.desk_save(actor=manager, brand=brand, name="Cyprus support", code="cyprus",
                              time_zone="Europe/Nicosia", business_hours=NINE_TO_SIX, manager=manager,
                              support_address="support@alpha.example")
    services.desk_holiday_add(actor=manager, desk=desk, day=dt.date(2026, 12, 25), name="Christmas Day")
    policy(manager, desk)
    services.assignment_rule_save(actor=manager, desk=desk, order=1, assignee=agent)
    client = make_client(brand=brand, owner=owner, first_name="Amira", last_name="Haddad",
                         email="amira@example.com", country="CY", language="en")
    return SimpleNamespace(brand=brand, desk=desk, manager=manager, agent=agent, owner=owner, client=client,
                           time=time_machine)


def policy(manager, desk, *, first_response: int = 60, resolution: int = 480) -> None:
    services.sla_policy_save(actor=manager, desk=desk, priority="normal", first_response_minutes=first_response,
                             resolution_minutes=resolution, warn_before_minutes=15)


def open_ticket(w: SimpleNamespace, subject: str = "My withdrawal has not arrived") -> Ticket:
    return services.ticket_open(brand=w.brand, category="withdrawal", subject=subject,
                                body="I asked for 500 EUR on Monday.", channel="portal", client=w.client,
                                requester_email="amira@example.com", requester_name="Amira Haddad",
                                language="en", actor=None)


def at(w: SimpleNamespace, moment: dt.datetime) -> dict[str, int]:
    w.time.move_to(moment, tick=False)
    return sla_sweep().as_dict()


def notes(user, kind: str) -> list[str]:
    return list(Notification.objects.filter(user=user, kind=kind).order_by("pk").values_list("title", flat=True))


# --- due times -------------------------------------------------------------------------------------

def test_a_ticket_opened_friday_1755_is_due_for_its_first_response_monday_0955(world):
    ticket = open_ticket(world)
    assert ticket.first_response_due == cy(30, 9, 55)
    # 5 minutes on Friday and 475 on Monday.
    assert ticket.resolution_due == cy(30, 16, 55)
    ticket.refresh_from_db()
    assert (ticket.first_response_due, ticket.resolution_due) == ticket_sla_dues(ticket)


def test_a_priority_without_a_policy_runs_no_clock(world):
    ticket = services.ticket_open(brand=world.brand, category="withdrawal", subject="Where is it?", body="Hello",
                                  channel="portal", client=world.client, priority="urgent")
    assert (ticket.first_response_due, ticket.resolution_due) == (None, None)
    assert at(world, cy(30, 12)) == {"warned": 0, "breached": 0, "escalated": 0}


def test_the_desks_holidays_are_in_its_calendar(world):
    calendar = calendar_for_desk(world.desk)
    assert calendar.add_business_minutes(cy(24, 17, 30, month=12), 60) == cy(28, 9, 30, month=12)


# --- warnings and breaches ------------------------------------------------------------------------

def test_the_assignee_is_warned_once_before_the_first_response_is_due(world):
    ticket = open_ticket(world)
    assert at(world, cy(28, 12)) == {"warned": 0, "breached": 0, "escalated": 0}  # Saturday
    assert at(world, cy(30, 9, 39)) == {"warned": 0, "breached": 0, "escalated": 0}
    assert at(world, cy(30, 9, 40))["warned"] == 1
    assert at(world, cy(30, 9, 45))["warned"] == 0
    assert notes(world.agent, "support_sla_warning") == [f"First response due soon: {ticket.reference} "
                                                         "My withdrawal has not arrived"]
    ticket.refresh_from_db()
    assert ticket.first_response_warned_at == cy(30, 9, 40)
    assert ticket.first_response_breached_at is None


def test_the_warning_counts_business_minutes_over_a_weekend(world):
    # 20 minutes from Friday 17:50 is Monday 09:10; fifteen business minutes before it is Friday 17:55.
    policy(world.manager, world.desk, first_response=20)
    world.time.move_to(cy(27, 17, 50), tick=False)
    ticket = open_ticket(world)
    assert ticket.first_response_due == cy(30, 9, 10)
    assert at(world, cy(27, 17, 54))["warned"] == 0
    assert at(world, cy(27, 17, 55))["warned"] == 1
    assert at(world, cy(30, 9, 0))["warned"] == 0
    assert at(world, cy(30, 9, 10))["breached"] == 1


def test_a_breach_notifies_the_desk_manager_once_and_reaches_the_automation_stream(world):
    rule = automation_rule_save(actor=None, brand=world.brand, name="Breach: tell the owner",
                                trigger="support.ticket.breached", conditions=[],
                                actions=[{"type": "notify", "who": "owner",
                                          "title": "Support missed a deadline for {{ client.full_name }}"}])
    ticket = open_ticket(world)
    events.dispatch_pending()
    assert at(world, cy(30, 9, 54))["breached"] == 0
    assert at(world, cy(30, 9, 55)) == {"warned": 0, "breached": 1, "escalated": 1}
    assert at(world, cy(30, 10, 30)) == {"warned": 0, "breached": 0, "escalated": 0}

    assert notes(world.manager, "support_sla_breached") == [
        f"First response overdue: {ticket.reference} My withdrawal has not arrived"]
    ticket.refresh_from_db()
    assert ticket.first_response_breached_at == cy(30, 9, 55)
    assert ticket.escalated_at == cy(30, 9, 55)
    assert ticket.resolution_breached_at is None
    [event] = Event.objects.filter(name="support.ticket.breached", client=world.client)
    assert event.data["target"] == "first_response"
    assert event.data["ticket"] == ticket.reference
    assert dt.datetime.fromisoformat(event.data["due"]) == cy(30, 9, 55)
    assert event.data["assignee"]["name"] == "Sam Support"

    events.dispatch_pending()
    [run] = AutomationRun.objects.filter(rule=rule)
    assert run.status == RunStatus.FIRED
    assert notes(world.owner, "automation") == ["Support missed a deadline for Amira Haddad"]


def test_an_answer_in_time_stops_the_first_response_clock(world):
    ticket = open_ticket(world)
    world.time.move_to(cy(30, 9, 30), tick=False)
    services.ticket_reply_staff(ticket=ticket, body="We are looking into it.", actor=world.agent, status="open")
    assert at(world, cy(30, 10, 30)) == {"warned": 0, "breached": 0, "escalated": 0}
    # The resolution clock still runs: warned at 16:40, breached at 16:55, the manager told again.
    assert at(world, cy(30, 16, 40))["warned"] == 1
    assert at(world, cy(30, 16, 55)) == {"warned": 0, "breached": 1, "escalated": 1}
    ticket.refresh_from_db()
    assert ticket.first_response_breached_at is None
    assert ticket.resolution_breached_at == cy(30, 16, 55)
    assert notes(world.manager, "support_sla_breached") == [
        f"Resolution overdue: {ticket.reference} My withdrawal has not arrived"]


def test_waiting_for_the_client_stops_the_resolution_clock_until_they_answer(world):
    ticket = open_ticket(world)
    world.time.move_to(cy(30, 10, 0), tick=False)
    services.ticket_reply_staff(ticket=ticket, body="Which account?", actor=world.agent)  # waits for the client
    # Past the resolution due time (16:55) while waiting: no breach.
    assert at(world, cy(30, 17, 30)) == {"warned": 0, "breached": 0, "escalated": 0}
    world.time.move_to(cy(1, 10, 0, month=12), tick=False)
    services.ticket_reply_client(ticket=ticket, body="My EUR account.", client=world.client)
    ticket.refresh_from_db()
    assert ticket.status != TicketStatus.PENDING_CLIENT
    # Stopped Monday 10:00 to Tuesday 10:00: 8 + 1 business hours. 16:55 Monday plus 540 minutes.
    assert ticket.paused_minutes == 540
    assert ticket.resolution_due == cy(1, 16, 55, month=12)
    assert at(world, cy(1, 16, 54, month=12))["breached"] == 0
    assert at(world, cy(1, 16, 55, month=12))["breached"] == 1


def test_a_resolved_ticket_is_never_breached(world):
    ticket = open_ticket(world)
    world.time.move_to(cy(30, 9, 30), tick=False)
    services.ticket_reply_staff(ticket=ticket, body="Done: it arrived.", actor=world.agent)
    services.ticket_set_status(ticket=ticket, status=TicketStatus.RESOLVED, actor=world.agent)
    assert at(world, cy(4, 12, month=12)) == {"warned": 0, "breached": 0, "escalated": 0}


def test_the_sweep_reads_only_the_tickets_it_acts_on(world):
    for n in range(3):
        open_ticket(world, subject=f"Friday {n}")  # first response due Monday 09:55
    world.time.move_to(cy(30, 9, 0), tick=False)
    with CaptureQueriesContext(connection) as with_three:
        assert sla_sweep().as_dict() == {"warned": 0, "breached": 0, "escalated": 0}
    for n in range(30):
        open_ticket(world, subject=f"Monday {n}")  # due 10:00
    world.time.move_to(cy(30, 9, 1), tick=False)
    with CaptureQueriesContext(connection) as with_thirty_three:
        assert sla_sweep().as_dict() == {"warned": 0, "breached": 0, "escalated": 0}
    assert len(with_thirty_three) == len(with_three)
    # Missed warnings are not sent late: a clock already due is breached instead.
    assert at(world, cy(30, 9, 55)) == {"warned": 30, "breached": 3, "escalated": 3}


def test_a_desk_whose_hours_were_broken_behind_its_back_does_not_stop_the_others(world, caplog):
    ticket = open_ticket(world)
    other = services.desk_save(actor=world.manager, brand=world.brand, name="Night desk", code="night",
                               time_zone="Asia/Tokyo", business_hours=NINE_TO_SIX, manager=world.manager)
    policy(world.manager, other)
    SupportDesk.objects.filter(pk=other.pk).update(business_hours={"mon": [["18:00", "09:00"]]})
    assert at(world, cy(30, 9, 40))["warned"] == 1
    assert ticket.reference in notes(world.agent, "support_sla_warning")[0]
    assert "has no valid calendar" in caplog.text


def test_beat_runs_the_sweep_every_minute(world):
    open_ticket(world)
    world.time.move_to(cy(30, 9, 55), tick=False)
    assert support_tasks.sla_sweep() == {"warned": 0, "breached": 1, "escalated": 1}
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "support.tasks.sla_sweep"]
    assert [e["schedule"] for e in entries] == [60.0]
