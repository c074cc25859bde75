"""A desk's SLA setup is read once per process (support.desk_cache) and a change to it applies to the
next ticket opened: a policy's targets, a holiday, an assignment rule. Tickets opened while nothing
changes read none of it again (a new mail opens a ticket: three of its round trips).

The desk works 09:00-18:00 Monday to Friday in Cyprus; tickets are opened on Friday 27 November 2026
at 17:55, five business minutes before the weekend."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import RoleCode
from support import services
from support.models import AssignmentRule, Ticket
from tests.factories import make_brand, make_client, make_user

CY = ZoneInfo("Europe/Nicosia")
NINE_TO_SIX = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
SETUP_TABLES = ("support_slapolicy", "support_deskholiday", "support_assignmentrule")


@pytest.fixture
def world(db, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 27, 17, 55, tzinfo=CY), tick=False)
    brand = make_brand(name="Alpha Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    agent = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=brand, full_name="Sam Support")
    desk = services.desk_save(actor=manager, brand=brand, name="Cyprus support", code="cyprus",
                              time_zone="Europe/Nicosia", business_hours=NINE_TO_SIX, manager=manager,
                              support_address="support@alpha.example")
    client = make_client(brand=brand, first_name="Amira", last_name="Haddad", email="amira@example.com",
                         country="CY", language="en")
    world = SimpleNamespace(brand=brand, desk=desk, manager=manager, agent=agent, client=client)
    first_response(world, 60)
    return world


def first_response(w: SimpleNamespace, minutes: int) -> None:
    services.sla_policy_save(actor=w.manager, desk=w.desk, priority="normal", first_response_minutes=minutes,
                             resolution_minutes=480)


def open_ticket(w: SimpleNamespace) -> Ticket:
    """On the desk, as a mail to its mailbox opens one."""
    return services.ticket_open(brand=w.brand, desk=w.desk, category="withdrawal", subject="My withdrawal has not arrived",
                                body="I asked for 500 EUR on Monday.", channel="portal", client=w.client,
                                requester_email="amira@example.com", language="en", actor=None)


def test_a_changed_policy_holiday_or_rule_applies_to_the_next_ticket(world):
    first = open_ticket(world)
    assert first.first_response_due == dt.datetime(2026, 11, 30, 9, 55, tzinfo=CY)
    assert first.assignee is None

    first_response(world, 120)
    assert open_ticket(world).first_response_due == dt.datetime(2026, 11, 30, 10, 55, tzinfo=CY)

    services.desk_holiday_add(actor=world.manager, desk=world.desk, day=dt.date(2026, 11, 30), name="Bank holiday")
    assert open_ticket(world).first_response_due == dt.datetime(2026, 12, 1, 10, 55, tzinfo=CY)

    rule = services.assignment_rule_save(actor=world.manager, desk=world.desk, order=1, assignee=world.agent)
    assert open_ticket(world).assignee == world.agent

    services.assignment_rule_delete(actor=world.manager, rule=AssignmentRule.objects.get(pk=rule.pk))
    assert open_ticket(world).assignee is None


def test_a_rules_person_who_left_is_passed_over_although_the_rule_is_cached(world):
    services.assignment_rule_save(actor=world.manager, desk=world.desk, order=1, assignee=world.agent)
    assert open_ticket(world).assignee == world.agent

    world.agent.is_active = False
    world.agent.save(update_fields=["is_active"])
    assert open_ticket(world).assignee is None


def test_tickets_opened_while_the_setup_stays_read_none_of_it_again(world):
    services.assignment_rule_save(actor=world.manager, desk=world.desk, order=1, language="ar", assignee=world.agent)
    open_ticket(world)
    with CaptureQueriesContext(connection) as queries:
        ticket = open_ticket(world)
    read = [q["sql"] for q in queries.captured_queries if any(f'"{t}"' in q["sql"] for t in SETUP_TABLES)]
    assert read == []
    assert ticket.first_response_due == dt.datetime(2026, 11, 30, 9, 55, tzinfo=CY)
