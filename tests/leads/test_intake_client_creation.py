"""A client the lead intake creates is created by the core's own path (crm.services.clients_creation,
the one client_create writes through): the same history row, audit row and event as client_create's."""

from __future__ import annotations

import pytest

from crm.audit import verify_chain
from crm.models import AuditLog, Client, Event, Notification
from crm.services import client_create
from leads.intake import IntakeMeta
from leads.models import Channel
from leads.services import lead_intake, lead_intake_batch
from plumbing.context import acting_as
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db

# What necessarily differs between two clients: who they are and when they were made.
OWN = {"id", "code", "created_at", "updated_at", "stage_changed_at", "history_id", "history_date"}
INTAKE_EVENT_KEYS = {"via", "channel", "touch", "score"}


def _history(client: Client) -> dict:
    [row] = client.history.values()
    return {k: v for k, v in row.items() if k not in OWN}


def _audit(client: Client) -> dict:
    row = AuditLog.objects.get(action="client.create", object_id=str(client.code))
    return {"object_type": row.object_type, "actor_id": row.actor_id, "actor_label": row.actor_label,
            "before": row.before, "after": row.after, "reason": row.reason, "source": row.source}


def _created(client: Client) -> Event:
    return Event.objects.get(client=client, name="client.created")


def _twins(world, *, channel=Channel.API, actor=None):
    """A lead taken in, and the same person made with client_create (same owner and desk)."""
    lead = lead_intake(brand=world.brand, channel=channel, data=lead_data(
        7, utm_source="google", utm_campaign="spring", referrer_code="IB42"), meta=IntakeMeta(actor=actor))
    by_intake = Client.objects.get(pk=lead.client.pk)
    by_hand = client_create(
        actor=actor, brand=world.brand, first_name=by_intake.first_name, last_name=by_intake.last_name,
        email=by_intake.email, phone=by_intake.phone, country=by_intake.country, owner=by_intake.owner,
        desk=by_intake.desk, source=by_intake.source, campaign=by_intake.campaign, utm_source="google",
        utm_campaign="spring", referrer_code="IB42")
    return by_intake, Client.objects.get(pk=by_hand.pk)


def test_the_intake_and_client_create_write_the_same_history_audit_and_event(world):
    by_intake, by_hand = _twins(world)

    assert by_intake.owner in world.agents and by_intake.desk == world.desk
    assert _history(by_intake) == _history(by_hand)
    for client in (by_intake, by_hand):
        record = client.history.get()
        assert (record.history_type, record.history_date, record.history_user) == ("+", client.created_at, None)
    assert _audit(by_intake) == _audit(by_hand)
    assert _audit(by_hand)["after"]["email"] == "a***@example.com"  # personal data masked, both ways
    intake_event, hand_event = _created(by_intake), _created(by_hand)
    assert (intake_event.actor_id, intake_event.brand_id) == (hand_event.actor_id, hand_event.brand_id)
    assert {k: v for k, v in intake_event.data.items() if k not in INTAKE_EVENT_KEYS} == hand_event.data
    assert intake_event.data["via"] == "lead_intake" and intake_event.data["channel"] == "api"
    # The intake's own audit row and routing event come on top of the core's.
    assert set(AuditLog.objects.filter(object_id=str(by_intake.code)).values_list("action", flat=True)) == {
        "client.create", "lead.intake"}
    assert list(Event.objects.filter(client=by_intake).order_by("id").values_list("name", flat=True)) == [
        "client.created", "lead.routed"]
    # Both owners hear of their client alike, in the same words.
    notes = Notification.objects.filter(user=by_intake.owner, kind="client_assigned").order_by("id")
    assert [(n.title, n.body) for n in notes] == [("A client was assigned to you", by_intake.full_name)] * 2
    assert verify_chain().ok


def test_an_import_by_a_manager_is_attributed_to_them_the_same_way(world):
    with acting_as(world.manager):
        by_intake, by_hand = _twins(world, channel=Channel.IMPORT, actor=world.manager)

    assert _history(by_intake) == _history(by_hand)
    assert by_intake.history.get().history_user == world.manager
    assert _audit(by_intake) == _audit(by_hand) and _audit(by_hand)["actor_id"] == world.manager.pk
    assert _created(by_intake).actor_id == _created(by_hand).actor_id == world.manager.pk


def test_a_batch_audits_each_new_client_and_the_chain_stays_whole(world):
    items = [lead_data(20 + i) for i in range(12)] + [lead_data(21, first_name="Again")]
    results = lead_intake_batch(brand=world.brand, channel=Channel.API, items=items)

    created = [r.client_code for r in results if r.status == "created"]
    assert len(created) == 12
    rows = AuditLog.objects.filter(action="client.create").order_by("id")
    assert [row.object_id for row in rows] == [str(code) for code in created]
    assert AuditLog.objects.filter(action="lead.intake_batch").count() == 1
    assert all(Client.objects.get(code=code).history.count() == 1 for code in created)
    assert Event.objects.filter(name="client.created", client__code__in=created).count() == 12
    assert verify_chain().ok
