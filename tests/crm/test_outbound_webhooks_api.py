"""Outbound webhooks through the API and the pages: an API client manages its own subscribers only,
bad input is a 422 naming the field in the one error shape, the log and replay work, the pages
are the administrators' (everyone else: 404), and the operations are in the OpenAPI schema."""

from __future__ import annotations

import uuid

import pytest

from crm.events import deliver_event, emit
from crm.models import ApiKey, RoleCode
from integrations import services as outbound
from integrations.assembly import api
from integrations.models import WebhookDelivery, WebhookDeliveryStatus
from tests.crm.api_support import KeyClient, assert_error, new_key
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hooks"  # nothing listens: deliveries fail, which these tests do not mind


def _key(brand, scopes=("webhooks:manage", "events:read")) -> tuple[KeyClient, ApiKey]:
    raw = new_key(brand, scopes=list(scopes))
    return KeyClient(raw), ApiKey.objects.get(prefix=raw.split("_")[1])


def test_an_api_client_subscribes_reads_its_own_subscribers_and_not_anothers():
    brand = make_brand()
    mine, _ = _key(brand)
    other, _ = _key(brand)
    created = mine.post("/webhooks/subscribers", {"name": "BI", "url": URL, "event_types": ["task.completed"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["status"] == "active"
    assert [s["code"] for s in mine.get("/webhooks/subscribers").json()] == [body["code"]]
    assert other.get("/webhooks/subscribers").json() == []
    assert_error(other.get(f"/webhooks/subscribers/{body['code']}"), 404, "not_found")
    assert_error(other.patch(f"/webhooks/subscribers/{body['code']}", {"status": "paused"}), 404)


def test_bad_input_is_a_422_naming_each_field():
    brand = make_brand()
    api_client, _ = _key(brand)
    response = api_client.post("/webhooks/subscribers", {"name": "BI", "url": "ftp://x", "event_types": ["nope.nope"],
                                                         "scopes": ["personal_data"]})
    body = assert_error(response, 422, "invalid")
    assert {"url", "event_types", "scopes"} <= set(body["fields"])


def test_a_key_without_the_scope_is_refused():
    brand = make_brand()
    api_client, _ = _key(brand, scopes=("events:read",))
    assert_error(api_client.get("/webhooks/subscribers"), 403, "missing_scope")


def test_the_log_lists_deliveries_and_a_replay_queues_the_same_delivery_id():
    brand = make_brand()
    api_client, key = _key(brand)
    sub = api_client.post("/webhooks/subscribers", {"name": "BI", "url": URL, "event_types": ["task.completed"]}).json()
    event = emit("task.completed", client=make_client(brand=brand), data={"task": str(uuid.uuid4()), "title": "x"})
    deliver_event(event)
    page = api_client.get("/webhooks/deliveries", {"subscriber": sub["code"]}).json()
    [item] = page["items"]
    assert item["event_id"] == str(event.uuid) and item["status"] == "pending"
    WebhookDelivery.objects.filter(delivery_id=item["delivery_id"]).update(status=WebhookDeliveryStatus.DEAD)
    replayed = api_client.post(f"/webhooks/deliveries/{item['delivery_id']}/replay")
    assert replayed.status_code == 202 and replayed.json()["delivery_id"] == item["delivery_id"]
    row = WebhookDelivery.objects.get(delivery_id=item["delivery_id"])
    assert row.status == WebhookDeliveryStatus.PENDING and row.replay_requested
    detail = api_client.get(f"/webhooks/deliveries/{item['delivery_id']}").json()
    assert '"name":"task.completed"' in detail["body"]


def test_rotation_through_the_api_then_retire():
    brand = make_brand()
    api_client, _ = _key(brand)
    code = api_client.post("/webhooks/subscribers", {"name": "BI", "url": URL,
                                                     "event_types": ["task.completed"]}).json()["code"]
    new = api_client.post(f"/webhooks/subscribers/{code}/rotate-secret").json()["secret"]
    assert new.startswith("whsec_")
    assert api_client.get(f"/webhooks/subscribers/{code}").json()["key_change_under_way"] is True
    assert_error(api_client.post(f"/webhooks/subscribers/{code}/rotate-secret"), 422)
    assert api_client.post(f"/webhooks/subscribers/{code}/retire-secret").json()["key_change_under_way"] is False
    assert_error(api_client.post(f"/webhooks/subscribers/{code}/retire-secret"), 409, "no_key_change")


def test_the_operations_are_in_the_schema_with_the_error_shape():
    schema = api.get_openapi_schema()
    paths = schema["paths"]
    for path in ("/api/v1/webhooks/subscribers", "/api/v1/webhooks/deliveries",
                 "/api/v1/webhooks/deliveries/{delivery_id}/replay"):
        assert path in paths, sorted(p for p in paths if "webhook" in p)
    op = paths["/api/v1/webhooks/subscribers"]["post"]
    assert op["responses"][422]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_the_pages_are_the_administrators_and_everyone_else_gets_404(client, login_verified):
    brand = make_brand()
    admin = make_user(role_code=RoleCode.ADMIN)
    _client, key = _key(brand)
    saved = outbound.subscriber_create(actor=admin, api_key=key, name="BI", url=URL, event_types=["task.completed"])
    deliver_event(emit("task.completed", client=make_client(brand=brand), data={"task": str(uuid.uuid4()),
                                                                                   "title": "x"}))
    delivery = WebhookDelivery.objects.get(subscriber=saved.subscriber)
    pages = ["/admin-tools/webhooks/", f"/admin-tools/webhooks/{saved.subscriber.code}/",
             "/admin-tools/webhooks/deliveries/", f"/admin-tools/webhooks/deliveries/{delivery.delivery_id}/",
             "/admin-tools/webhooks/new/"]
    login_verified(client, admin)
    for page in pages:
        assert client.get(page).status_code == 200, page
    filtered = client.get("/admin-tools/webhooks/deliveries/", {"status": "pending", "event_name": "task.completed"})
    assert str(delivery.delivery_id) in filtered.content.decode()
    assert str(delivery.delivery_id) not in client.get("/admin-tools/webhooks/deliveries/",
                                                       {"status": "dead"}).content.decode()
    for role in (RoleCode.DESK_MANAGER, RoleCode.COMPLIANCE):
        login_verified(client, make_user(role_code=role, brand=brand))
        for page in pages:
            assert client.get(page).status_code == 404, (role, page)
        assert client.post(f"/admin-tools/webhooks/deliveries/{delivery.delivery_id}/replay/").status_code == 404


def test_an_administrator_creates_a_subscriber_in_the_page_and_sees_the_secret_once(client, login_verified):
    brand = make_brand()
    admin = make_user(role_code=RoleCode.ADMIN)
    _client, key = _key(brand)
    login_verified(client, admin)
    response = client.post("/admin-tools/webhooks/new/", {"api_key": key.prefix, "name": "Dialer", "url": URL,
                                                          "event_types": ["client.created"]})
    assert response.status_code == 200
    assert 'data-testid="webhook-secret"' in response.content.decode()
    refused = client.post("/admin-tools/webhooks/new/", {"api_key": key.prefix, "name": "Dialer",
                                                         "url": "http://example.com/", "event_types": ["client.created"]})
    assert "https" in refused.content.decode()
