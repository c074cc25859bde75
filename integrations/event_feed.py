"""The event feed: domain events in the order they were recorded, for integrations to follow (the
pull side of outbound webhooks, integrations.services).

Pages run oldest first by `id`; `next_cursor` is null once the caller has caught up. To follow
the feed, an integration remembers the `id` of the last event it processed and later asks again
with `after_id` set to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from crm.api import Caller, Code, IsoDatetime, PageIn, Text80, caller_of, paginate, requires_scope
from crm.lib.pagination import ID_ASC
from crm.models import Event
from crm.permissions import client_queryset_for_user
from integrations import event_access

router = Router(tags=["events"])


class EventOut(Schema):
    id: int = Field(description="Increasing; the feed is in this order.")
    uuid: UUID
    name: str
    client: UUID | None
    brand: str | None
    actor: UUID | None = Field(description="Code of the staff member who acted; null for API keys and the system.")
    data: dict[str, Any] = Field(description="The event's payload; personal data is masked.")
    redacted: list[str] = Field(description="Personal fields left out of `data`: a key needs the clients:read "
                                            "scope to read them.")
    occurred_at: datetime


class EventPage(Schema):
    items: list[EventOut]
    next_cursor: str | None


class EventFilters(Schema):
    name: Text80 | None = Field(None, description="Only events with this name, e.g. client.created.")
    client: Code | None = Field(None, description="Only events of this client.")
    since: IsoDatetime | None = Field(None, description="Only events that occurred at or after this time.")
    after_id: int | None = Field(None, ge=0, le=2**63 - 1, description="Only events after this `id` (to follow the feed).")


def _guarded_families(caller: Caller) -> list[str]:
    """The event families the caller may not read (integrations.event_access): a key's without their scope,
    a staff session's without the scope's permission."""
    if caller.api_key is not None:
        return event_access.guarded_families(held=caller.api_key.scopes)
    return event_access.staff_guarded_families(caller.user)


def _events_for(caller: Caller) -> QuerySet[Event]:
    """Events the caller may read: a key's brand's; for staff, those of clients they can see
    (administrators: every event); in either case none of a family the caller may not read
    (compliance's matters: tipping off)."""
    qs = Event.objects.select_related("client", "brand", "actor")
    for family in _guarded_families(caller):
        qs = qs.exclude(name__startswith=family)
    if caller.api_key is not None:
        return qs.filter(brand_id=caller.api_key.brand_id)
    user = caller.user
    if user is not None and user.is_administrator:
        return qs
    return qs.filter(client_id__in=client_queryset_for_user(user).values("pk"))


def _personal(caller: Caller) -> bool:
    """Whether the caller reads events' personal fields: staff, and a key that reads clients in full."""
    return caller.api_key is None or event_access.PERSONAL_FEED_SCOPE in caller.api_key.scopes


def event_out(event: Event, *, personal: bool = True) -> dict[str, Any]:
    data, redacted = event_access.data_redacted(event.name, event.data, personal=personal)
    return {
        "id": event.pk,
        "uuid": event.uuid,
        "name": event.name,
        "client": event.client.code if event.client is not None else None,
        "brand": event.brand.code if event.brand is not None else None,
        "actor": event.actor.code if event.actor is not None else None,
        "data": data,
        "redacted": redacted,
        "occurred_at": event.occurred_at,
    }


@router.get("/events", response=EventPage, url_name="api_event_list", summary="Read the event feed")
@requires_scope("events:read")
def list_events(request: HttpRequest, filters: Query[EventFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Events oldest first (by `id`). When `next_cursor` is null you have caught up: poll again
    later with `after_id` set to the last `id` you processed."""
    caller = caller_of(request)
    qs = _events_for(caller)
    if filters.name:
        qs = qs.filter(name=filters.name)
    if filters.client is not None:
        qs = qs.filter(client__code=filters.client)
    if filters.since is not None:
        qs = qs.filter(occurred_at__gte=filters.since)
    if filters.after_id is not None:
        qs = qs.filter(pk__gt=filters.after_id)
    result = paginate(qs, page, keys=ID_ASC)
    personal = _personal(caller)
    return {"items": [event_out(e, personal=personal) for e in result.items], "next_cursor": result.next_cursor}
