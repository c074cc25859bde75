"""clients_creation, the core's path for many clients at once (client_create is a creation of one),
and audit_record_many, which writes their audit rows as audit_record would one by one."""

from __future__ import annotations

import pytest
from django.db import transaction

from crm.audit import AuditEntry, audit_record, audit_record_many, audit_seal, verify_chain
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Client, Event, Notification, RoleCode
from crm.services import NewClient, clients_creation
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    brand = make_brand()
    desk = make_desk(brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    outsider = make_user(role_code=RoleCode.SALES_AGENT)  # works for another brand
    return brand, desk, agent, outsider


def _create(brand, items, **kwargs):
    with transaction.atomic(), clients_creation(actor=None, brand=brand, **kwargs) as creation:
        return creation.add(items)


def test_many_clients_get_a_row_a_history_row_an_event_an_audit_row_and_their_owner_a_notification(shop):
    brand, desk, agent, _ = shop
    rows = _create(brand, [NewClient(first_name=f"Lena {i}", email=f"lena{i}@example.com", owner=agent, desk=desk)
                           for i in range(3)])

    clients = list(Client.objects.filter(brand=brand).order_by("id"))
    assert [c.pk for c in clients] == [r["id"] for r in rows]
    assert {(c.owner_id, c.desk_id, c.stage) for c in clients} == {(agent.pk, desk.pk, "lead")}
    assert all(c.history.filter(history_type="+").count() == 1 for c in clients)
    assert Event.objects.filter(name="client.created", client__in=clients).count() == 3
    audit = AuditLog.objects.filter(action="client.create").order_by("id")
    assert [a.object_id for a in audit] == [str(c.code) for c in clients]
    assert audit[0].after["email"] == "l***@example.com" and audit[0].after["owner"] == agent.pk
    assert Notification.objects.filter(user=agent, kind="client_assigned").count() == 3
    assert verify_chain().ok


@pytest.mark.parametrize(("item", "field"), [
    ({"first_name": ""}, "first_name"),
    ({"first_name": "x" * 101}, "first_name"),
    ({"first_name": "Lena", "country": "GBR"}, "country"),
    ({"first_name": "Lena", "tags": "vip"}, "tags"),
])
def test_a_value_that_does_not_fit_is_refused_by_name_and_nothing_is_written(shop, item, field):
    brand, *_ = shop
    with pytest.raises(ValidationFailed) as caught:
        _create(brand, [NewClient(first_name="Ok"), NewClient(**item)])
    assert f"clients.1.{field}" in caught.value.fields
    assert not Client.objects.exists() and not AuditLog.objects.filter(action="client.create").exists()


def test_an_owner_or_desk_of_another_brand_is_refused(shop):
    brand, desk, _, outsider = shop
    with pytest.raises(ValidationFailed) as caught:
        _create(brand, [NewClient(first_name="Lena", owner=outsider, desk=make_desk())])
    assert set(caught.value.fields) == {"owner", "desk"}
    assert not Client.objects.exists()


def test_an_inactive_brand_and_a_member_of_staff_who_may_not_add_clients_are_refused(shop):
    brand, *_ = shop
    dealer = make_user(role_code=RoleCode.DEALER, brand=brand)
    with pytest.raises(NotAllowed), clients_creation(actor=dealer, brand=brand):
        pass
    brand.is_active = False
    brand.save()
    with pytest.raises(ValidationFailed) as caught, clients_creation(actor=None, brand=brand):
        pass
    assert "brand" in caught.value.fields


def test_audit_rows_written_together_are_what_audit_record_writes_one_by_one(shop):
    brand, _, agent, _ = shop
    values = {"after": {"n": 1, "big": 1e20, "when": "2026-01-05", "tags": ["a", "b"]}, "reason": "why"}
    with transaction.atomic():
        one = audit_record(action="test.one", object_type="x", object_id="1", actor=agent, **values)
        audit_record_many([AuditEntry(action="test.one", object_type="x", object_id="2", actor=agent, **values),
                           AuditEntry(action="test.two", object_type="x", object_id="3", before={"n": 2})])
    audit_seal()  # rows are chained after commit (crm.audit); before, the links were set on insert
    rows = list(AuditLog.objects.filter(action__startswith="test.").order_by("seq"))
    assert [r.object_id for r in rows] == ["1", "2", "3"]
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert (rows[1].after, rows[1].actor_id, rows[1].reason) == (one.after, agent.pk, "why")
    assert rows[2].after is None and rows[2].before == {"n": 2}
    assert verify_chain().ok
