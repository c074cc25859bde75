"""A month of the event outbox archived (crm.lib.partitions) while rows elsewhere still point at its events:
refused while their work is under way (a webhook delivery open, a handler's delivery due for a retry);
once settled and archived, the pages that follow those references say "event archived" instead of
failing, and a replay or retry is refused with a message saying why."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from crm import events
from crm.lib.partitions import (
    PARTITIONED_TABLES,
    ArchiveResult,
    MonthlyTable,
    PartitionArchiveError,
    retention_pass,
)
from crm.models import DeliveryStatus, Event, EventDelivery, RoleCode
from integrations import services as outbound
from integrations.models import WebhookDelivery, WebhookDeliveryStatus
from integrations.services import apikey_create
from tests.crm.api_support import KeyClient, assert_error, new_key
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2026, 11, 27)
OLD = datetime(2012, 6, 5, 10, tzinfo=UTC)


def fails_downstream(event: Event) -> None:
    """A handler whose downstream is gone (its dotted name is its identity in delivery rows)."""
    raise RuntimeError("downstream unavailable")


@pytest.fixture
def world(settings, tmp_path):
    settings.PARTITION_ARCHIVE_DIR = tmp_path
    settings.CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = True
    settings.CRM_WEBHOOK_MAX_ATTEMPTS = 1
    settings.CRM_EVENT_MAX_ATTEMPTS = 2
    brand = make_brand()
    admin = make_user(role_code=RoleCode.ADMIN, email=f"archive-{uuid.uuid4().hex[:6]}@staff.example.com")
    key, _raw = apikey_create(actor=admin, brand=brand, name="BI tool", scopes=["events:read"])
    # Nothing listens on the discard port: every send fails, and with one attempt allowed gives up.
    sub = outbound.subscriber_create(actor=admin, api_key=key, name="BI", url="http://127.0.0.1:9/hooks",
                                     event_types=["task.completed"]).subscriber
    saved = {name: list(handlers) for name, handlers in events._registry.items()}
    events.subscribe("task.completed")(fails_downstream)
    declared = list(PARTITIONED_TABLES)
    for table in declared:
        PARTITIONED_TABLES.unregister(table.table)
    try:
        with PARTITIONED_TABLES.temporarily(MonthlyTable(table="crm_event", column="occurred_at",
                                                         retention_setting="EVENT_RETENTION_YEARS")):
            client = make_client(brand=brand)
            event = events.emit("task.completed", client=client, occurred_at=OLD,
                                data={"task": str(uuid.uuid4()), "title": "Call back"})
            events.deliver_event(event)
            yield {"admin": admin, "sub": sub, "event": event, "dir": tmp_path, "brand": brand}
    finally:
        PARTITIONED_TABLES.register(*declared)
        events._registry.clear()
        events._registry.update(saved)


def _archived() -> list[str]:
    return [r.candidate.partition for r in retention_pass(apply=True, today=TODAY) if isinstance(r, ArchiveResult)]


def _settle(world) -> tuple[WebhookDelivery, EventDelivery]:
    """The subscriber's delivery and the failing handler's both give up."""
    outbound.send_due()
    events.retry_due(now=timezone.now() + timedelta(days=1))
    webhook = WebhookDelivery.objects.get(subscriber=world["sub"], event=world["event"])
    handler = EventDelivery.objects.get(event=world["event"], handler__endswith="fails_downstream")
    assert (webhook.status, handler.status) == (WebhookDeliveryStatus.DEAD, DeliveryStatus.DEAD)
    return webhook, handler


def test_an_events_month_is_not_archived_while_deliveries_of_its_events_are_under_way(world):
    with pytest.raises(CommandError, match=r"the event outbox's 2012-06 still has work under way \(1 handler "
                                           r"deliveries failing and due to be retried\).*nothing was changed"):
        call_command("partitions_archive", "--apply", "--today", TODAY.isoformat())
    events.retry_due(now=timezone.now() + timedelta(days=1))  # the handler gives up
    with pytest.raises(PartitionArchiveError, match="1 webhook deliveries pending, being sent or failing"):
        retention_pass(apply=True, today=TODAY)
    assert Event.objects.filter(pk=world["event"].pk).exists()
    _settle(world)
    assert "crm_event_p201206" in _archived()
    assert not Event.objects.filter(pk=world["event"].pk).exists()


def test_the_webhook_log_says_a_deliverys_event_was_archived_and_its_replay_is_refused(world, client,
                                                                                       login_verified):
    webhook, _handler = _settle(world)
    _archived()
    login_verified(client, world["admin"])
    page = client.get("/admin-tools/webhooks/deliveries/")
    assert page.status_code == 200
    text = page.content.decode()
    assert str(webhook.delivery_id) in text and "event archived" in text
    detail = client.get(f"/admin-tools/webhooks/deliveries/{webhook.delivery_id}/")
    assert detail.status_code == 200 and "The event is archived" in detail.content.decode()
    # The subscriber's own page lists it too.
    assert client.get(reverse("webhook_subscriber_detail", args=[world["sub"].code])).status_code == 200

    response = client.post(f"/admin-tools/webhooks/deliveries/{webhook.delivery_id}/replay/")
    assert response.status_code == 302
    assert any("archived with its month" in str(m) for m in get_messages(response.wsgi_request))
    webhook.refresh_from_db()
    assert webhook.status == WebhookDeliveryStatus.DEAD and not webhook.replay_requested


def test_the_failed_deliveries_page_says_an_event_was_archived_and_its_retry_is_refused(world, client,
                                                                                        login_verified):
    _webhook, handler = _settle(world)
    _archived()
    login_verified(client, world["admin"])
    page = client.get("/admin-tools/deliveries/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"#{handler.event_id}" in text and "event archived" in text
    response = client.post(f"/admin-tools/deliveries/{handler.pk}/retry/")
    assert response.status_code == 302
    assert any("archived with its month" in str(m) for m in get_messages(response.wsgi_request))
    handler.refresh_from_db()
    assert handler.status == DeliveryStatus.DEAD and handler.attempts == 2
    # "Retry all" leaves it be rather than queue a retry that would find no event.
    assert events.delivery_retry_schedule(delivery_ids=[handler.pk]) == 0


def test_the_api_still_lists_a_delivery_whose_event_was_archived_and_refuses_its_replay(world):
    raw = new_key(world["brand"], scopes=["webhooks:manage", "events:read"])
    api_client = KeyClient(raw)
    created = api_client.post("/webhooks/subscribers", {"name": "API BI", "url": "http://127.0.0.1:9/hooks",
                                                        "event_types": ["task.completed"]})
    assert created.status_code == 201, created.content
    event = events.emit("task.completed", client=make_client(brand=world["brand"]), occurred_at=OLD + timedelta(days=1),
                        data={"task": str(uuid.uuid4()), "title": "Send the contract"})
    events.deliver_event(event)
    _settle(world)
    events.retry_due(now=timezone.now() + timedelta(days=1))
    assert "crm_event_p201206" in _archived()
    items = api_client.get("/webhooks/deliveries").json()["items"]
    assert [i["event_id"] for i in items] == [str(event.uuid)]
    body = assert_error(api_client.post(f"/webhooks/deliveries/{items[0]['delivery_id']}/replay", {}), 409,
                        "event_archived")
    assert "archived with its month" in body["message"]
