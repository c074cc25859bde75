"""Routing: rule order and conditions, availability (shift, leave, absence), strategies, queue."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine

from crm.exceptions import ValidationFailed
from crm.models import Event, Notification, RoleCode
from crm.services import client_assign
from leads.models import (
    AvailabilityStatus,
    Channel,
    RoutingPointer,
    RoutingStrategy,
    RoutingTarget,
    ScoringKind,
)
from leads.services import (
    agent_availability_set,
    lead_intake,
    lead_intake_batch,
    routing_rule_move,
    routing_rule_save,
    scoring_rule_save,
)
from tests.factories import make_desk, make_user
from tests.leads.conftest import ALWAYS_OPEN, lead_data

pytestmark = pytest.mark.django_db


def _route(world, n, **fields):
    result = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(n, **fields))
    return result.client, result.routing


def test_round_robin_is_fair_and_in_a_stable_order(world):
    owners = [_route(world, i)[0].owner for i in range(9)]
    assert owners == world.agents * 3


def test_round_robin_state_lives_in_the_database(world):
    _route(world, 1)
    pointer = RoutingPointer.objects.get(rule=world.fallback)
    assert pointer.last_agent == world.agents[0]
    _route(world, 2)
    pointer.refresh_from_db()
    assert pointer.last_agent == world.agents[1]


def test_single_leads_and_batches_share_one_rotation(world):
    first = [_route(world, i)[0].owner for i in range(2)]
    batch = lead_intake_batch(brand=world.brand, channel=Channel.API, items=[lead_data(n) for n in range(10, 14)])
    after = _route(world, 20)[0].owner
    assert first + [r.client.owner for r in batch] + [after] == (world.agents * 3)[:7]


def test_a_rotation_redis_lost_continues_from_the_pointer_row(world):
    from crm.lib.redis import get_redis
    from leads.routing import _rotation_key

    _route(world, 1)
    _route(world, 2)
    get_redis().delete(_rotation_key(world.fallback))  # Redis restarted without its data
    assert _route(world, 3)[0].owner == world.agents[2]


def test_without_redis_routing_locks_the_pointer_row_and_stays_fair(world, monkeypatch):
    import redis

    from leads import routing

    def unreachable():
        raise redis.ConnectionError("Redis is down")

    owners = [_route(world, 1)[0].owner]
    monkeypatch.setattr(routing, "get_redis", lambda: unreachable())
    owners += [_route(world, i)[0].owner for i in range(2, 5)]
    assert owners == world.agents + world.agents[:1]
    assert RoutingPointer.objects.get(rule=world.fallback).last_agent == world.agents[0]


def test_rules_are_tried_in_order_and_the_first_match_wins(world):
    desk_ar = make_desk(brand=world.brand, name="Sales AR", **ALWAYS_OPEN)
    arabic_agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk_ar)
    vip = world.agents[2]
    r1 = routing_rule_save(actor=world.admin, brand=world.brand, name="Arabic", target_kind=RoutingTarget.DESK,
                           target_desk=desk_ar, countries="AE, SA", languages=["ar"])
    routing_rule_save(actor=world.admin, brand=world.brand, name="Gulf VIP", target_kind=RoutingTarget.AGENT,
                      target_agent=vip, countries=["AE"])
    client, decision = _route(world, 1, country="AE", language="ar", phone="+971501234567")
    assert client.owner == arabic_agent and decision.rule == r1
    assert decision.why[:2] == ["country AE", "language ar"]
    # Put the VIP rule first: now it wins for the same kind of lead.
    routing_rule_move(actor=world.admin, rule=r1, direction="down")
    client, decision = _route(world, 2, country="AE", language="ar", phone="+971501234568")
    assert client.owner == vip and decision.rule.name == "Gulf VIP"
    # A lead matching neither goes to the fallback.
    client, decision = _route(world, 3, country="DE", phone="+4930123456")
    assert decision.rule == world.fallback and client.desk == world.desk


def test_conditions_on_campaign_source_referrer_and_score(world):
    scoring_rule_save(actor=world.admin, brand=world.brand, name="Tier 1", kind=ScoringKind.COUNTRY_TIER,
                      params={"countries": ["CH"]}, points=60)
    hot = routing_rule_save(actor=world.admin, brand=world.brand, name="Hot", target_kind=RoutingTarget.AGENT,
                            target_agent=world.agents[1], score_min=50)
    partner = routing_rule_save(actor=world.admin, brand=world.brand, name="IB", target_kind=RoutingTarget.AGENT,
                                target_agent=world.agents[2], referrer_codes=["ib7"], campaigns=["spring"],
                                sources=["affiliates"])
    assert _route(world, 1, country="CH", phone="+41446681800")[1].rule == hot
    assert _route(world, 2, referrer_code="IB7", campaign="Spring", source="Affiliates")[1].rule == partner
    assert _route(world, 3, referrer_code="IB7", campaign="Autumn", source="Affiliates")[1].rule == world.fallback


def test_an_agent_on_leave_is_skipped(world):
    agent_availability_set(actor=world.admin, user=world.agents[0], status=AvailabilityStatus.ON_LEAVE)
    owners = [_route(world, i)[0].owner for i in range(4)]
    assert world.agents[0] not in owners
    # The rotation passed over A with the reason, on the leads where A's turn came.
    skipped = [s for e in Event.objects.filter(name="lead.routed") for s in e.data["skipped"]]
    assert {"agent": str(world.agents[0].code), "name": world.agents[0].full_name, "reason": "on leave"} in skipped


def test_an_agent_whose_leave_date_has_not_passed_is_skipped(world):
    agent = world.agents[1]
    agent.on_leave_until = date.today() + timedelta(days=3)
    agent.save(update_fields=["on_leave_until"])
    owners = {_route(world, i)[0].owner for i in range(6)}
    assert agent not in owners and owners == {world.agents[0], world.agents[2]}


def test_an_absent_agent_is_skipped(world):
    agent_availability_set(actor=world.manager, user=world.agents[2], status=AvailabilityStatus.ABSENT)
    assert world.agents[2] not in {_route(world, i)[0].owner for i in range(6)}


@time_machine.travel(datetime(2025, 3, 5, 20, 0, tzinfo=UTC), tick=False)  # a Wednesday, 20:00 UTC
def test_an_agent_off_their_own_shift_is_skipped(world):
    # Agent A works 09:00-17:00 London time; B has an overnight shift 18:00-02:00; C follows the desk (24/7).
    agent_availability_set(actor=world.admin, user=world.agents[0], status=AvailabilityStatus.AVAILABLE,
                           shift_start=time(9), shift_end=time(17))
    agent_availability_set(actor=world.admin, user=world.agents[1], status=AvailabilityStatus.AVAILABLE,
                           shift_start=time(18), shift_end=time(2), shift_days=[1, 2, 3, 4, 5])
    owners = [_route(world, i)[0].owner for i in range(4)]
    assert owners == [world.agents[1], world.agents[2], world.agents[1], world.agents[2]]


@time_machine.travel(datetime(2025, 3, 8, 12, 0, tzinfo=UTC), tick=False)  # a Saturday
def test_when_the_desk_is_closed_the_lead_waits_in_its_queue_and_the_manager_is_told(world):
    world.desk.work_days = [1, 2, 3, 4, 5]
    world.desk.save()
    client, decision = _route(world, 1)
    assert client.owner is None and client.desk == world.desk and decision.queued
    assert all(s["reason"] == "off shift (desk closed)" for s in decision.skipped)
    note = Notification.objects.get(user=world.manager, kind="lead_queued")
    assert "Sales EN" in note.title
    assert Event.objects.get(client=client, name="lead.routed").data["queued"] is True


def test_a_rule_that_falls_through_lets_the_next_rule_take_the_lead(world):
    lonely = make_user(role_code=RoleCode.SALES_AGENT, desk=world.desk)
    agent_availability_set(actor=world.admin, user=lonely, status=AvailabilityStatus.ABSENT)
    routing_rule_save(actor=world.admin, brand=world.brand, name="Named", target_kind=RoutingTarget.AGENT,
                      target_agent=lonely, fall_through=True)
    client, decision = _route(world, 1)
    assert decision.rule == world.fallback and client.owner in world.agents


def test_least_loaded_gives_the_lead_to_the_agent_with_fewest_open_leads(world):
    routing_rule_save(actor=world.admin, brand=world.brand, name="Least loaded", target_kind=RoutingTarget.DESK,
                      target_desk=world.desk, strategy=RoutingStrategy.LEAST_LOADED, rule=world.fallback,
                      is_fallback=True)
    a, b, c = world.agents
    # A already has two leads, B one.
    for n, agent in ((100, a), (101, a), (102, b)):
        client, _ = _route(world, n)
        client_assign(actor=None, client=client, owner=agent)
    owners = [_route(world, i)[0].owner for i in range(3)]
    # C (0) first; then B and C tie at one and the rotation goes on after C, to B; then C again.
    assert owners == [c, b, c]


def test_weighted_strategy_follows_the_weights_without_bursts(world):
    a, b, c = world.agents
    routing_rule_save(actor=world.admin, brand=world.brand, name="Weighted", target_kind=RoutingTarget.DESK,
                      target_desk=world.desk, strategy=RoutingStrategy.WEIGHTED, rule=world.fallback, is_fallback=True,
                      weights={str(a.code): 3, str(b.code): 1, str(c.code): 0})
    results = lead_intake_batch(brand=world.brand, channel=Channel.API, items=[lead_data(i) for i in range(8)])
    owners = [r.client.owner for r in results]
    assert owners.count(a) == 6 and owners.count(b) == 2 and c not in owners
    assert owners[:4] != [a, a, a, b]  # smoothed: B is not left to the end of each cycle


def test_a_rule_must_target_an_agent_of_its_brand(world):
    outsider = make_user(role_code=RoleCode.SALES_AGENT)
    with pytest.raises(ValidationFailed) as caught:
        routing_rule_save(actor=world.admin, brand=world.brand, name="X", target_kind=RoutingTarget.AGENT,
                          target_agent=outsider)
    assert "target_agent" in caught.value.fields
    with pytest.raises(ValidationFailed) as caught:
        routing_rule_save(actor=world.admin, brand=world.brand, name="Second fallback", target_kind=RoutingTarget.DESK,
                          target_desk=world.desk, is_fallback=True)
    assert "is_fallback" in caught.value.fields
