"""Merging duplicates: both histories on the survivor, the merged client closed and pointing there."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from crm.exceptions import Conflict, NotAllowed, ValidationFailed
from crm.lib.fieldcrypt import keyed_hash
from crm.models import AuditLog, Client, Event, Note, Stage
from crm.selectors import client_timeline
from crm.services import note_add, task_create
from leads.models import Channel, ClientMerge, ContactKey, LeadTouch
from leads.services import client_merge, lead_intake
from tests.factories import make_client
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(world):
    keep = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    # The same person typed differently by an agent: another email and phone.
    dup = make_client(actor=world.agents[1], brand=world.brand, first_name="Amira", last_name="Haddad1",
                      email="amira.h@example.com", phone="+442070009999")
    note_add(actor=world.agents[1], client=dup, body="Wants to trade gold")
    task_create(actor=world.agents[1], title="Call back", assignee=world.agents[1], client=dup)
    lead_intake(brand=world.brand, channel=Channel.FORM, data=lead_data(2, email="amira.h@example.com",
                                                                         phone="+442070009999", consent=True))
    from crm import events

    events.dispatch_pending()  # the staff-made client gets its contact keys
    return keep, Client.objects.get(pk=dup.pk)


def test_merge_moves_both_histories_to_the_survivor(world, pair):
    keep, dup = pair
    dup_events = set(Event.objects.filter(client=dup).values_list("pk", flat=True))
    record = client_merge(actor=world.manager, keep=keep, merge=dup, reason="Same person, two emails")
    assert record.kept_code == keep.code and record.merged_code == dup.code
    assert record.moved["touches"] == 1 and record.moved["notes"] == 1 and record.moved["tasks"] == 1
    timeline = {e.pk for e in client_timeline(client=keep, limit=200)}
    assert dup_events <= timeline
    assert {e.name for e in client_timeline(client=keep, limit=200)} >= {"client.merged", "lead.touched", "note.added"}
    assert LeadTouch.objects.filter(client=keep).count() == 2
    dup.refresh_from_db()
    assert dup.stage == Stage.CLOSED and "merged" in dup.tags
    pointer = Note.objects.get(client=dup)
    assert str(keep.code) in pointer.body
    assert set(ContactKey.objects.filter(client=keep).values_list("value", flat=True)) >= {
        keyed_hash("amira.h@example.com", kind="email"), keyed_hash("+442070009999", kind="phone")}
    assert AuditLog.objects.filter(action="client.merge", object_id=str(keep.code)).exists()
    # a later lead with the duplicate's email lands on the survivor
    again = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(3, email="amira.h@example.com"))
    assert again.client.pk == keep.pk


def test_merge_needs_a_reason_permission_and_same_brand(world, pair):
    keep, dup = pair
    with pytest.raises(ValidationFailed):
        client_merge(actor=world.manager, keep=keep, merge=dup, reason=" ")
    with pytest.raises(NotAllowed):
        client_merge(actor=world.agents[0], keep=keep, merge=dup, reason="x")
    with pytest.raises(ValidationFailed):
        client_merge(actor=world.manager, keep=keep, merge=keep, reason="x")
    other_brand = make_client(actor=None, email="z@example.com")
    with pytest.raises(ValidationFailed):
        client_merge(actor=world.admin, keep=keep, merge=other_brand, reason="x")
    client_merge(actor=world.manager, keep=keep, merge=dup, reason="dup")
    with pytest.raises(Conflict):
        client_merge(actor=world.manager, keep=keep, merge=dup, reason="again")
    assert ClientMerge.objects.count() == 1


def test_the_merge_page_is_reachable_from_the_profile_for_assigners_only(world, pair):
    keep, dup = pair
    manager = HttpClient()
    manager.force_login(world.manager)
    tab = manager.get(f"/clients/{keep.code}/?tab=lead").content.decode()
    assert f"/leads/clients/{keep.code}/merge/" in tab
    page = manager.get(f"/leads/clients/{keep.code}/merge/").content.decode()
    assert str(dup.code) in page  # offered as a likely duplicate (same name)
    response = manager.post(f"/leads/clients/{keep.code}/merge/", {"other": str(dup.code), "reason": "same person"})
    assert response.status_code == 302
    assert ClientMerge.objects.filter(kept=keep, merged=dup).exists()
    agent = HttpClient()
    agent.force_login(keep.owner)
    assert agent.get(f"/leads/clients/{keep.code}/merge/").status_code == 404
    assert "/merge/" not in agent.get(f"/clients/{keep.code}/?tab=lead").content.decode()
