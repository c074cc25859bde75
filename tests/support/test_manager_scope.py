"""A desk manager's tickets are those of their desks' clients as the clients are now (a condition on
each ticket's client, not a list taken once): a client moved to another desk takes its tickets to
that desk's manager. The queue's assignee list costs one query, whoever asks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import RoleCode
from crm.services.clients import client_assign
from support import permissions
from support.desk_selectors import queue_agents
from tests.factories import make_client, make_desk, make_user
from tests.support.desk_world import build_desk_world, open_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def floors(db: Any) -> SimpleNamespace:
    """Two sales desks of the brand, each with its manager and a seller; a client of the first."""
    world = build_desk_world()
    world.boss_a = make_user(role_code=RoleCode.DESK_MANAGER, brand=world.brand, full_name="Ada Floor")
    world.boss_b = make_user(role_code=RoleCode.DESK_MANAGER, brand=world.brand, full_name="Bea Floor")
    world.desk_a = make_desk(brand=world.brand, name="Floor A", manager=world.boss_a)
    world.desk_b = make_desk(brand=world.brand, name="Floor B", manager=world.boss_b)
    world.seller_a = make_user(role_code=RoleCode.SALES_AGENT, desk=world.desk_a, brand=world.brand)
    world.seller_b = make_user(role_code=RoleCode.SALES_AGENT, desk=world.desk_b, brand=world.brand)
    world.client = make_client(brand=world.brand, owner=world.seller_a, desk=world.desk_a)
    world.ticket = open_ticket(world, client=world.client, subject="Withdrawal pending")
    return world


def _sees(user: Any, ticket: Any) -> bool:
    return permissions.ticket_queryset_for_user(user).filter(pk=ticket.pk).exists()


def test_a_client_moved_to_another_desk_takes_its_tickets_to_that_desks_manager(
    floors: SimpleNamespace,
) -> None:
    assert _sees(floors.boss_a, floors.ticket) and not _sees(floors.boss_b, floors.ticket)
    client_assign(actor=floors.admin, client=floors.client, owner=floors.seller_b)
    assert not _sees(floors.boss_a, floors.ticket)
    assert _sees(floors.boss_b, floors.ticket)
    # Whoever the ticket is given to still sees it, wherever its client sits.
    floors.ticket.refresh_from_db()
    assert permissions.ticket_get_for_user(floors.boss_b, floors.ticket.reference).pk == floors.ticket.pk


def test_the_assignee_list_is_one_query_for_a_manager_and_for_anyone_else(floors: SimpleNamespace) -> None:
    for user, expect_agents in ((floors.manager, True), (floors.boss_a, False), (floors.seller_a, False)):
        user.refresh_from_db()
        assert user.is_administrator is False or user is floors.manager  # the role, read once a request
        with CaptureQueriesContext(connection) as queries:
            agents = queue_agents(user)
        assert len(queries) == 1, [q["sql"] for q in queries.captured_queries]
        assert (floors.agent in agents) is expect_agents
