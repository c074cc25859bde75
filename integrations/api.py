"""Outbound webhooks over the API: subscribers, their delivery log and replays (integrations.services).

An API key with `webhooks:manage` manages its own subscribers (it is their API client); a staff
session needs the right to administer API keys and names the key (`api_key`, its prefix) when it
creates one. Signing secrets are returned once, when made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from crm.api import (
    ApiError,
    Caller,
    Code,
    InputSchema,
    Name100,
    PageIn,
    Text16,
    Text80,
    Text500,
    caller_of,
    paginate,
    requires_scope,
)
from crm.exceptions import ValidationFailed
from crm.lib.pagination import Key
from crm.models import ApiKey
from integrations import services as outbound
from integrations.models import WebhookDelivery, WebhookSubscriber

router = Router(tags=["webhooks"])
SCOPE = "webhooks:manage"
ID_DESC = (Key("id", True, "int"),)


class SubscriberOut(Schema):
    code: UUID
    name: str
    api_key: str = Field(description="The API client's key prefix.")
    brand: str = Field(description="The brand's code.")
    url: str
    event_types: list[str]
    scopes: list[str]
    status: str
    pause_reason: str
    key_change_under_way: bool = Field(description="True while two secrets sign each delivery.")
    created_at: datetime


class SubscriberCreated(SubscriberOut):
    secret: str = Field(description="The signing secret, shown this once.")


class SubscriberIn(InputSchema):
    name: Name100
    url: Text500
    event_types: list[Text80] = Field(description="Event names from the catalogue (GET /events lists what happens).")
    scopes: list[Literal["personal_data"]] = Field(default_factory=list)
    api_key: Text16 | None = Field(None, description="Staff sessions: the prefix of the API key it belongs to.")


class SubscriberPatch(InputSchema):
    name: Name100 | None = None
    url: Text500 | None = None
    event_types: list[Text80] | None = None
    scopes: list[Literal["personal_data"]] | None = None
    status: Literal["active", "paused"] | None = None


class SecretOut(Schema):
    secret: str


class AttemptOut(Schema):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str
    response: str
    replay: bool


class DeliveryOut(Schema):
    delivery_id: UUID
    subscriber: UUID
    event_id: UUID
    event_name: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str
    last_response: str
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryDetail(DeliveryOut):
    body: str
    attempt_log: list[AttemptOut]


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryFilters(Schema):
    subscriber: Code | None = None
    status: Literal["pending", "sending", "failed", "delivered", "dead"] | None = None
    event_name: Text80 | None = None
    client: Code | None = None


def _who(caller: Caller) -> dict[str, Any]:
    return {"actor": caller.user, "api_key": caller.api_key}


def _acting(caller: Caller) -> dict[str, Any]:
    return {"actor": caller.user, "caller_key": caller.api_key}


def subscriber_out(sub: WebhookSubscriber) -> dict[str, Any]:
    return {"code": sub.code, "name": sub.name, "api_key": sub.api_key.prefix, "brand": sub.brand.code,
            "url": sub.url, "event_types": sub.event_types, "scopes": sub.scopes, "status": sub.status,
            "pause_reason": sub.pause_reason, "key_change_under_way": bool(sub.previous_secret),
            "created_at": sub.created_at}


def delivery_out(d: WebhookDelivery) -> dict[str, Any]:
    return {"delivery_id": d.delivery_id, "subscriber": d.subscriber.code, "event_id": outbound.delivery_event_uuid(d),
            "event_name": d.event_name, "status": d.status, "attempts": d.attempts,
            "last_status_code": d.last_status_code, "last_error": d.last_error, "last_response": d.last_response,
            "next_attempt_at": d.next_attempt_at if d.status in ("pending", "failed") else None,
            "delivered_at": d.delivered_at, "created_at": d.created_at}


@router.get("/webhooks/subscribers", response=list[SubscriberOut], url_name="api_webhook_subscriber_list",
            summary="List webhook subscribers")
@requires_scope(SCOPE)
def list_subscribers(request: HttpRequest) -> list[dict[str, Any]]:
    return [subscriber_out(s) for s in outbound.subscribers_for(**_who(caller_of(request)))]


@router.post("/webhooks/subscribers", response={201: SubscriberCreated}, url_name="api_webhook_subscriber_create",
             summary="Subscribe to events")
@requires_scope(SCOPE)
def create_subscriber(request: HttpRequest, payload: SubscriberIn) -> Status[dict[str, Any]]:
    """Deliveries of the chosen event types go to `url`, signed with the returned `secret`
    (X-CRM-Signature: t=...,v1=...). An API key subscribes for itself; a staff session names the key."""
    caller = caller_of(request)
    if caller.api_key is not None:
        key = caller.api_key
    else:
        found = ApiKey.objects.filter(prefix=payload.api_key or "", revoked_at__isnull=True).first()
        if found is None:
            raise ValidationFailed(fields={"api_key": [_("Give the prefix of an active API key.")]})
        key = found
    saved = outbound.subscriber_create(api_key=key, name=payload.name, url=payload.url,
                                       event_types=payload.event_types, scopes=payload.scopes, **_acting(caller))
    return Status(201, {**subscriber_out(saved.subscriber), "secret": saved.secret})


@router.get("/webhooks/subscribers/{uuid:code}", response=SubscriberOut, url_name="api_webhook_subscriber_detail",
            summary="Read a webhook subscriber")
@requires_scope(SCOPE)
def get_subscriber(request: HttpRequest, code: UUID) -> dict[str, Any]:
    return subscriber_out(outbound.subscriber_get(code=code, **_who(caller_of(request))))


@router.patch("/webhooks/subscribers/{uuid:code}", response=SubscriberOut, url_name="api_webhook_subscriber_update",
              summary="Change, pause or resume a webhook subscriber")
@requires_scope(SCOPE)
def update_subscriber(request: HttpRequest, code: UUID, payload: SubscriberPatch) -> dict[str, Any]:
    """Fields left out keep their value. `status: paused` stops sending (events keep queuing);
    `active` resumes, sending the queue in order."""
    caller = caller_of(request)
    sub = outbound.subscriber_get(code=code, **_who(caller))
    given = {k: getattr(payload, k) for k in payload.model_fields_set if k != "status"}
    if given:
        sub = outbound.subscriber_update(subscriber=sub, **given, **_acting(caller))
    if payload.status == "paused":
        sub = outbound.subscriber_pause(subscriber=sub, **_acting(caller))
    elif payload.status == "active":
        sub = outbound.subscriber_resume(subscriber=sub, **_acting(caller))
    return subscriber_out(outbound.subscriber_get(code=code, **_who(caller)))


@router.post("/webhooks/subscribers/{uuid:code}/rotate-secret", response=SecretOut,
             url_name="api_webhook_subscriber_rotate", summary="Start a key change")
@requires_scope(SCOPE)
def rotate_secret(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """A new secret signs every delivery beside the current one until you retire the old one."""
    caller = caller_of(request)
    sub = outbound.subscriber_get(code=code, **_who(caller))
    return {"secret": outbound.subscriber_rotate_secret(subscriber=sub, **_acting(caller))}


@router.post("/webhooks/subscribers/{uuid:code}/retire-secret", response=SubscriberOut,
             url_name="api_webhook_subscriber_retire", summary="End a key change")
@requires_scope(SCOPE)
def retire_secret(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """Only the newest secret signs from now on."""
    caller = caller_of(request)
    sub = outbound.subscriber_get(code=code, **_who(caller))
    if not outbound.subscriber_retire_secret(subscriber=sub, **_acting(caller)):
        raise ApiError(409, "no_key_change", _("No key change is under way."))
    return subscriber_out(outbound.subscriber_get(code=code, **_who(caller)))


@router.get("/webhooks/deliveries", response=DeliveryPage, url_name="api_webhook_delivery_list",
            summary="The webhook delivery log")
@requires_scope(SCOPE)
def list_deliveries(request: HttpRequest, filters: Query[DeliveryFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Newest first."""
    qs = outbound.deliveries_for(**_who(caller_of(request)), **filters.model_dump(exclude_none=True))
    result = paginate(qs, page, keys=ID_DESC)
    return {"items": [delivery_out(d) for d in result.items], "next_cursor": result.next_cursor}


@router.get("/webhooks/deliveries/{uuid:delivery_id}", response=DeliveryDetail,
            url_name="api_webhook_delivery_detail", summary="One delivery with its attempts")
@requires_scope(SCOPE)
def get_delivery(request: HttpRequest, delivery_id: UUID) -> dict[str, Any]:
    d = outbound.delivery_get(delivery_id=delivery_id, **_who(caller_of(request)))
    attempts = [{"number": a.number, "started_at": a.started_at, "duration_ms": a.duration_ms,
                 "status_code": a.status_code, "error": a.error, "response": a.response, "replay": a.replay}
                for a in d.attempt_log.order_by("number")]
    return {**delivery_out(d), "body": d.body, "attempt_log": attempts}


@router.post("/webhooks/deliveries/{uuid:delivery_id}/replay", response={202: DeliveryOut},
             url_name="api_webhook_delivery_replay", summary="Send a delivery again")
@requires_scope(SCOPE)
def replay_delivery(request: HttpRequest, delivery_id: UUID) -> Status[dict[str, Any]]:
    """Queued: the same delivery id is sent again as a new attempt, in its client's order."""
    caller = caller_of(request)
    d = outbound.delivery_get(delivery_id=delivery_id, **_who(caller))
    outbound.delivery_replay(delivery=d, **_acting(caller))
    return Status(202, delivery_out(outbound.delivery_get(delivery_id=delivery_id, **_who(caller))))
