"""Domain events: a transactional outbox with at-most-once effects per handler.

    emit("kyc.approved", client=client, data={...})      # inside the caller's transaction

writes an Event row. After the transaction commits, a Celery task delivers every undelivered
event to the handlers registered for its name:

    @subscribe("kyc.approved")                           # in <app>/handlers.py
    def notify_owner(event: Event) -> None: ...

Each handler runs in a savepoint together with the insert of its EventDelivery row, so its
database effects and the record that it ran commit or roll back together. A handler that
already has a SUCCEEDED delivery for an event is skipped: delivering an event twice has no
second effect. Failures are recorded and retried with exponential backoff by beat; after
CRM_EVENT_MAX_ATTEMPTS they are marked dead and shown to administrators, who can retry them.
Handlers must do external work (mail, HTTP) through `transaction.on_commit`.
"""

from __future__ import annotations

import importlib
import logging
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from crm.lib import context

logger = logging.getLogger(__name__)

HandlerFn = Callable[[Any], None]


@dataclass(frozen=True)
class Handler:
    name: str
    fn: HandlerFn


_registry: dict[str, list[Handler]] = defaultdict(list)
_wildcard: list[Handler] = []


def handler_name(fn: HandlerFn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def subscribe(*event_names: str) -> Callable[[HandlerFn], HandlerFn]:
    """Register a handler for the named events ("*" for every event)."""

    def register(fn: HandlerFn) -> HandlerFn:
        h = Handler(handler_name(fn), fn)
        for name in event_names:
            target = _wildcard if name == "*" else _registry[name]
            if all(existing.name != h.name for existing in target):
                target.append(h)
        return fn

    return register


def unsubscribe(fn: HandlerFn) -> None:
    name = handler_name(fn)
    for handlers in [*_registry.values(), _wildcard]:
        handlers[:] = [h for h in handlers if h.name != name]


def handlers_for(event_name: str) -> list[Handler]:
    return [*_registry.get(event_name, []), *_wildcard]


def handler_by_name(name: str) -> Handler | None:
    for h in [*(h for hs in _registry.values() for h in hs), *_wildcard]:
        if h.name == name:
            return h
    return None


def autodiscover_handlers() -> None:
    """Import `<app>.handlers` for every installed app (called from CrmConfig.ready)."""
    for config in apps.get_app_configs():
        module = f"{config.name}.handlers"
        if importlib.util.find_spec(config.name) is None:
            continue
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def _json_safe(data: dict[str, Any] | None) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))


def emit(
    name: str,
    *,
    client: Any = None,
    brand: Any = None,
    actor: Any = None,
    data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Any:
    """Record event `name` in the current transaction; it is delivered after commit.

    `actor` defaults to the acting user of the current request or task.
    """
    from crm.models import Event

    ctx = context.current()
    if actor is None:
        actor = ctx.user if getattr(ctx.user, "pk", None) else None
    if brand is None and client is not None:
        brand = client.brand_id
    event = Event.objects.create(
        name=name,
        client=client,
        brand_id=brand if isinstance(brand, int) else getattr(brand, "pk", None),
        actor=actor,
        data=_json_safe(data),
        occurred_at=occurred_at or timezone.now(),
        request_id=ctx.request_id,
    )
    transaction.on_commit(kick_dispatcher)
    return event


def emit_many(rows: Iterable[dict[str, Any]]) -> int:
    """Bulk emit for imports and sync: each row has the keyword arguments of `emit`."""
    from crm.models import Event

    ctx = context.current()
    now = timezone.now()
    default_actor = ctx.user if getattr(ctx.user, "pk", None) else None
    events = []
    for row in rows:
        client = row.get("client")
        brand = row.get("brand") or (client.brand_id if client is not None else None)
        events.append(Event(
            name=row["name"], client=client,
            brand_id=brand if isinstance(brand, int) or brand is None else brand.pk,
            actor=row.get("actor") or default_actor, data=_json_safe(row.get("data")),
            occurred_at=row.get("occurred_at") or now, request_id=ctx.request_id,
        ))
    Event.objects.bulk_create(events, batch_size=1000)
    transaction.on_commit(kick_dispatcher)
    return len(events)


KICK_KEY = "crm:events:kick"


def kick_dispatcher() -> None:
    """Ask a worker to dispatch soon. Debounced in Redis: a burst of commits sends one message."""
    from crm.lib.redis import get_redis
    from crm.tasks import events_dispatch_pending

    try:
        if get_redis().set(KICK_KEY, "1", nx=True, px=250):
            events_dispatch_pending.apply_async(countdown=0.05)
    except Exception:  # noqa: BLE001 - the beat sweep delivers anyway; never fail the committed request
        logger.warning("could not kick the event dispatcher; beat will deliver", exc_info=True)



def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def _run_handler(handler: Handler, event: Any, delivery: Any) -> bool:
    """Run one handler in a savepoint with its delivery row. Returns success."""
    from crm.models import DeliveryStatus, EventDelivery

    now = timezone.now()
    try:
        with transaction.atomic():
            with context.acting_as(event.actor, source="task", request_id=event.request_id or None):
                handler.fn(event)
            if delivery is None:
                EventDelivery.objects.create(
                    event=event, handler=handler.name, status=DeliveryStatus.SUCCEEDED,
                    attempts=1, delivered_at=now,
                )
            else:
                delivery.status = DeliveryStatus.SUCCEEDED
                delivery.attempts += 1
                delivery.delivered_at = now
                delivery.next_attempt_at = None
                delivery.last_error = ""
                delivery.save(update_fields=["status", "attempts", "delivered_at", "next_attempt_at",
                                             "last_error", "updated_at"])
        return True
    except Exception:  # noqa: BLE001 - a handler's failure is recorded and retried, never lost
        error = traceback.format_exc(limit=8)[-4000:]
        logger.warning("event handler failed", extra={"handler": handler.name, "event_id": event.pk})
        attempts = (delivery.attempts if delivery else 0) + 1
        dead = attempts >= settings.CRM_EVENT_MAX_ATTEMPTS
        fields = {
            "status": DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED,
            "attempts": attempts,
            "last_error": error,
            "next_attempt_at": None if dead else now + _backoff(attempts),
        }
        if delivery is None:
            EventDelivery.objects.create(event=event, handler=handler.name, **fields)
        else:
            for key, value in fields.items():
                setattr(delivery, key, value)
            delivery.save(update_fields=[*fields, "updated_at"])
        return False


def deliver_event(event: Any) -> None:
    """Give `event` to each of its handlers that has not yet had it. Safe to call any number of times."""
    from crm.models import EventDelivery

    done = set(EventDelivery.objects.filter(event=event).values_list("handler", flat=True))
    for handler in handlers_for(event.name):
        if handler.name not in done:
            _run_handler(handler, event, None)


def dispatch_pending(*, batch_size: int = 500, max_batches: int | None = None) -> int:
    """Deliver undispatched events in id order, in batches; returns how many were dispatched.

    Concurrent dispatchers skip each other's locked rows, so several workers can run this.
    """
    from crm.models import Event, EventDelivery

    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            events = list(
                Event.objects.select_for_update(skip_locked=True)
                .filter(dispatched_at__isnull=True)
                .select_related("actor", "client")
                .order_by("id")[:batch_size]
            )
            if not events:
                break
            # Deliveries already recorded (a previous, interrupted pass): those handlers are skipped.
            seen: dict[int, set[str]] = defaultdict(set)
            for event_id, name in EventDelivery.objects.filter(event__in=events).values_list("event_id", "handler"):
                seen[event_id].add(name)
            for event in events:
                for handler in handlers_for(event.name):
                    if handler.name not in seen[event.pk]:
                        _run_handler(handler, event, None)
            Event.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
        total += len(events)
        batches += 1
        if len(events) < batch_size:
            break
    return total


def retry_due(*, limit: int = 200, now: datetime | None = None) -> int:
    """Retry failed deliveries whose backoff has elapsed. Returns how many were attempted."""
    from crm.models import DeliveryStatus, EventDelivery

    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        due = list(
            EventDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.FAILED, next_attempt_at__lte=now)
            .select_related("event", "event__actor", "event__client")
            .order_by("next_attempt_at")[:limit]
        )
        for delivery in due:
            handler = handler_by_name(delivery.handler)
            if handler is None:
                delivery.status = DeliveryStatus.DEAD
                delivery.last_error = f"handler {delivery.handler} is no longer registered"
                delivery.save(update_fields=["status", "last_error", "updated_at"])
                continue
            _run_handler(handler, delivery.event, delivery)
            count += 1
    return count


def delivery_retry_now(*, delivery_id: int) -> bool:
    """An administrator's retry of a failed or dead delivery: runs it at once. Returns success."""
    from crm.audit import audit_record
    from crm.models import DeliveryStatus, EventDelivery

    with transaction.atomic():
        delivery = (
            EventDelivery.objects.select_for_update()
            .select_related("event", "event__actor", "event__client")
            .get(pk=delivery_id)
        )
        if delivery.status == DeliveryStatus.SUCCEEDED:
            return True
        handler = handler_by_name(delivery.handler)
        audit_record(action="event_delivery.retry", object_type="event_delivery", object_id=str(delivery.pk),
                     before={"status": delivery.status, "attempts": delivery.attempts})
        if handler is None:
            return False
        return _run_handler(handler, delivery.event, delivery)
