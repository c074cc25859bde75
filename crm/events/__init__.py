"""Domain events: a transactional outbox whose handlers take effect once per (event, handler).

    emit("kyc.approved", client=client, data={...})      # inside the caller's transaction

writes an Event row. After the transaction commits, a Celery task delivers every undispatched
event to the handlers registered for its name:

    @subscribe("kyc.approved")                           # in <app>/handlers.py
    def notify_owner(event: Event) -> None: ...

Delivery runs in one transaction per batch of events, with the batch's event rows locked
(other dispatchers skip them). Each handler runs in its own savepoint; its EventDelivery row
is written in the same transaction, so a handler's database effects and the record that it ran
commit or roll back together. A handler that already has a delivery row for an event is never
given that event again by the dispatcher: delivering an event twice has no second effect, and a
pass that dies half-way leaves nothing behind. Failures are recorded and retried with exponential
backoff by beat (`retry_due`); after CRM_EVENT_MAX_ATTEMPTS attempts they are marked dead and
shown to administrators, who can retry them.

"Once" holds for a handler's database writes. Work outside the database (mail, HTTP) belongs in
`transaction.on_commit`, which fires only when the writes are committed. A handler that must
call out inline (to learn whether it worked, like an outbound webhook) is at-least-once: a pass
that dies after the call but before its commit runs it again, so it sends `event.uuid` as an
idempotency key.

A kick after each commit wakes a worker within milliseconds; the beat sweep every few seconds is
the safety net for lost kicks.

A handler that does the same small write for every event (queue an outbound webhook), or that
has nothing to do for most events (automation), may take the batch instead:
`@subscribe("*", batch=True)` gets a list of events and runs once per batch, in one savepoint,
after the per-event handlers (so it sees what they did), with no acting user (a batch spans many:
a handler that acts per event sets the actor itself). Each event still gets its own delivery
row. If the call fails, the savepoint is rolled back and the handler is given each event of the
batch alone, so one bad event fails (and is retried) alone, as it would for a per-event handler.
Retries and `deliver_event` give a batch handler a list of one.

Every event is declared, with its typed payload, in the catalogue (crm.events.catalogue,
`<app>/event_types.py`); emit refuses or logs an event that does not fit its declaration.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import traceback
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from crm.events import catalogue
from crm.events.catalogue import EventContractError, declare  # noqa: F401  (the apps' one import)
from crm.lib.bulk import gather
from crm.lib.enqueue import task_named
from crm.lib.partitions import partitions_for
from plumbing import context

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from crm.models import Event, EventDelivery

logger = logging.getLogger(__name__)

HandlerFn = Callable[[Any], None]


@dataclass(frozen=True)
class Handler:
    name: str
    fn: HandlerFn
    batch: bool = False  # fn takes a list of events (see the module's docstring)
    # The fields of event.client the handler reads (None: it may read any). The dispatcher loads
    # only the fields its batch's handlers read; any other is still there, read when first used.
    client_fields: frozenset[str] | None = None

    def call(self, events: list[Event]) -> None:
        if self.batch:
            self.fn(events)
        else:
            for event in events:
                self.fn(event)


_registry: dict[str, list[Handler]] = defaultdict(list)
_wildcard: list[Handler] = []


def handler_name(fn: HandlerFn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def subscribe(*event_names: str, batch: bool = False,
              client_fields: Iterable[str] | None = None) -> Callable[[HandlerFn], HandlerFn]:
    """Register a handler for the named events ("*" for every event); with `batch`, it is called
    with a list of events (a dispatch batch's events of those names) instead of one.

    `client_fields` names the fields of `event.client` the handler reads, if only a few (a
    subscriber of every event that needs a client's code, or none of its fields): the dispatcher
    then need not read whole client rows for the events only such handlers get.

    The handler's dotted name is its identity in delivery records: renaming or moving a handler
    makes it a new handler (and its old failed deliveries die on their next retry).
    """
    fields = None if client_fields is None else frozenset(client_fields)

    def register(fn: HandlerFn) -> HandlerFn:
        h = Handler(handler_name(fn), fn, batch, fields)
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
    """The handlers of `event_name`, each once even if it subscribed by name and by "*"."""
    out: list[Handler] = []
    names: set[str] = set()
    for h in [*_registry.get(event_name, ()), *_wildcard]:
        if h.name not in names:
            names.add(h.name)
            out.append(h)
    return out


def handler_by_name(name: str) -> Handler | None:
    for h in [*(h for hs in _registry.values() for h in hs), *_wildcard]:
        if h.name == name:
            return h
    return None


def all_handler_names() -> list[str]:
    return sorted({h.name for hs in [*_registry.values(), _wildcard] for h in hs})


def autodiscover_handlers() -> None:
    """Import `<app>.handlers` for every installed app, then the modules named in
    settings.CRM_EXTRA_HANDLER_MODULES (called from CrmConfig.ready)."""
    for config in apps.get_app_configs():
        module = f"{config.name}.handlers"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    for module in getattr(settings, "CRM_EXTRA_HANDLER_MODULES", ()):
        importlib.import_module(module)


def subscriptions_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """System check (crm.E101): every handler listens to a declared event, so that a typo or an
    event its owner renamed fails at startup instead of silently never running."""
    from django.core.checks import Error

    errors = []
    for name, handlers in sorted(_registry.items()):
        if catalogue.event_type(name) is not None:
            continue
        for h in handlers:
            errors.append(Error(
                f"{h.name} subscribes to {name!r}, which no app declares.",
                hint="Declare the event with its payload in the owning app's event_types.py "
                     "(crm.events.declare), or fix the name.",
                obj=h.name, id="crm.E101",
            ))
    return errors


def catalogue_overview() -> catalogue.Catalogue:
    """The event catalogue (crm.events.catalogue.catalogue_overview) with the handlers registered here."""
    return catalogue.catalogue_overview(
        handlers={name: sorted(h.name for h in hs) for name, hs in _registry.items() if hs},
        wildcard_handlers=sorted(h.name for h in _wildcard))


def autodiscover_event_types() -> None:
    """Import `<app>.event_types` for every installed app (before the handlers: CrmConfig.ready)."""
    catalogue.autodiscover()


def contract_check(name: str, data: Any) -> None:
    """Hold event `name` with stored `data` (JSON types) to its declaration in the catalogue.

    With settings.CRM_EVENTS_STRICT (tests, DEBUG) a mismatch raises EventContractError naming
    the field. Without, it is logged as an error and the event is still written: the emitting
    service's change (a deposit, say) has happened and its record must not be lost; the log and
    the catalogue page show the drift to fix.
    """
    problem = catalogue.payload_problem(name, data)
    if problem is None:
        return
    field, message = problem
    if settings.CRM_EVENTS_STRICT:
        raise EventContractError(name, message, field=field)
    logger.error("event does not fit its contract: %s", message, extra={"event": name, "field": field})


def _json_safe(data: dict[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))
    return result


def _pk(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    pk: int = value.pk
    return pk


def emit(
    name: str,
    *,
    client: Any = None,
    brand: Any = None,
    actor: Any = None,
    data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Record event `name` in the current transaction; it is delivered after commit.

    Outside a transaction (autocommit) the row is committed at once and the kick sent at once.
    `actor` defaults to the acting user of the current request or task; `brand` to the client's.
    """
    from crm.models import Event

    ctx = context.current()
    if actor is None:
        actor = ctx.user if getattr(ctx.user, "pk", None) else None
    if brand is None and client is not None:
        brand = client.brand_id
    stored = _json_safe(data)
    contract_check(name, stored)
    occurred_at = occurred_at or timezone.now()
    partitions_for(Event._meta.db_table, [occurred_at])
    event = Event(
        name=name,
        client=client,
        brand_id=_pk(brand),
        actor=actor,
        data=stored,
        occurred_at=occurred_at,
        request_id=ctx.request_id,
    )
    if not gather(event):  # within crm.lib.bulk.rows_gathered: written with the others, unsaved until then
        event.save(force_insert=True)
    kick_after_commit()
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
        stored = _json_safe(row.get("data"))
        contract_check(row["name"], stored)
        events.append(Event(
            name=row["name"], client=client, brand_id=_pk(brand),
            actor=row.get("actor") or default_actor, data=stored,
            occurred_at=row.get("occurred_at") or now, request_id=ctx.request_id,
        ))
    if not events:
        return 0
    partitions_for(Event._meta.db_table, {e.occurred_at for e in events})
    Event.objects.bulk_create(events, batch_size=1000)
    kick_after_commit()
    return len(events)


def event_row(name: str, *, client_id: int | None, brand_id: int | None, actor_id: int | None,
              data: dict[str, Any], at: datetime, request_id: str) -> dict[str, Any]:
    """The outbox row `emit` writes, as plain values for the bulk writers (crm.lib.bulk.write), which
    call kick_after_commit once they have written theirs. `data` holds JSON types only (codes as
    text) and is held to the event's declared payload as emit holds it."""
    contract_check(name, data)
    return {"uuid": uuid.uuid4(), "name": name, "client_id": client_id, "brand_id": brand_id, "actor_id": actor_id,
            "data": data, "occurred_at": at, "created_at": at, "dispatched_at": None, "request_id": request_id}


def event_rows_ready(rows: Iterable[dict[str, Any]]) -> None:
    """Before the bulk writers write `event_row`s: the outbox's monthly partitions of their times exist."""
    events_ready(row["occurred_at"] for row in rows)


def events_ready(moments: Iterable[datetime]) -> None:
    """Before events of these times are written in bulk: the outbox's monthly partitions for them exist
    (crm.lib.partitions; the months ahead are made daily, older ones when history is loaded)."""
    from crm.models import Event

    partitions_for(Event._meta.db_table, set(moments))


KICK_KEY = "crm:events:kick"
# One dispatch task waits in the queue at a time: the kick sets this flag and queues a task only
# if it was not set; a dispatcher clears it as it starts scanning, so an event committed after
# that scan began always queues a fresh task. The flag's lifetime only bounds how long a lost
# task message (a broker restart) holds the kicks back; beat's sweep delivers meanwhile.
KICK_PENDING_MS = 10_000


def kick_dispatcher(*, countdown: float = 0.05) -> bool:
    """Ask a worker to dispatch soon, unless a dispatch task is already waiting (a burst of commits
    queues one task, not one each, so the tasks that send what they queue are not starved).
    Returns whether a task was queued."""
    from crm.lib.redis import queue_once

    try:
        return queue_once(KICK_KEY, task_named("crm.tasks.events_dispatch_pending"), countdown=countdown, pending_ms=KICK_PENDING_MS)
    except (RedisError, BrokerError):
        # The beat sweep delivers anyway; a committed request must not fail over a kick.
        logger.warning("could not kick the event dispatcher; beat will deliver", exc_info=True)
        return False


def kick_after_commit() -> None:
    """Kick the dispatcher after commit: once per transaction, however many events it emits.

    A kick still pending in this transaction's commit hooks is enough for every later event:
    Django discards a hook only when a savepoint that was open at registration is rolled back,
    and any such savepoint that is still open encloses the new event too, so it would be rolled
    back with it. (Hooks of released savepoints stay pending.) Outside a transaction the kick
    runs at once.
    """
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(entry[1] is kick_dispatcher for entry in conn.run_on_commit):
        return
    transaction.on_commit(kick_dispatcher, robust=True)


def _rearm_kick() -> None:
    from crm.lib.redis import get_redis

    try:
        get_redis().delete(KICK_KEY)
    except RedisError:
        logger.warning("could not clear the dispatcher kick flag", exc_info=True)


def _backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling each time, at most 6 hours."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def _attempt(handler: Handler, event: Event) -> str | None:
    """Run one handler on one event in a savepoint. None on success, else the error text.

    On failure the savepoint is rolled back: none of the handler's writes (nor its on_commit
    callbacks) remain. The caller must be inside a transaction and records the outcome in it.
    """
    try:
        with transaction.atomic():
            with context.acting_as(event.actor, source="task", request_id=event.request_id or None):
                handler.call([event])
    except Exception:  # a handler's failure is recorded and retried, never lost nor propagated
        logger.warning("event handler failed", exc_info=True,
                       extra={"handler": handler.name, "event_id": event.pk, "event": event.name})
        return traceback.format_exc(limit=8)[-4000:]
    return None


def _attempt_batch(handler: Handler, events: list[Event]) -> dict[int, str | None]:
    """Run a batch handler on `events` in one savepoint; if that fails, on each event alone.
    Returns each event's error text (None: it succeeded)."""
    if len(events) > 1:
        try:
            with transaction.atomic():
                handler.call(events)
        except Exception:  # noqa: BLE001 - the events are given one by one below, which records the error
            logger.info("batch event handler failed; giving it the events one by one", exc_info=True,
                        extra={"handler": handler.name, "events": len(events)})
        else:
            return {event.pk: None for event in events}
    return {event.pk: _attempt(handler, event) for event in events}


def _failure_fields(attempts: int, error: str, now: datetime) -> dict[str, Any]:
    from crm.models import DeliveryStatus

    dead = attempts >= settings.CRM_EVENT_MAX_ATTEMPTS
    return {
        "status": DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED,
        "attempts": attempts,
        "last_error": error,
        "next_attempt_at": None if dead else now + _backoff(attempts),
        "delivered_at": None,
    }


class Receipt(NamedTuple):
    """A new EventDelivery row, as plain values (written by _receipts_write, many in one INSERT)."""

    event_id: int
    handler: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    updated_at: datetime


_RECEIPTS_SQL = """
INSERT INTO crm_eventdelivery (event_id, handler, status, attempts, last_error, next_attempt_at, delivered_at,
                               updated_at)
SELECT * FROM json_to_recordset(%s::json)
  AS v(event_id bigint, handler text, status text, attempts int, last_error text, next_attempt_at timestamptz,
       delivered_at timestamptz, updated_at timestamptz)
"""


def _receipts_write(rows: list[Receipt]) -> None:
    """Save new delivery rows in one INSERT (a batch's rows are a thousand or so: the ORM's bulk_create spent
    more time building model instances than PostgreSQL spent writing). The rows go as one JSON parameter,
    which orjson writes in C: arrays, one per column, were quoted element by element in Python."""
    if not rows:
        return
    with transaction.get_connection().cursor() as cur:
        cur.execute(_RECEIPTS_SQL, [orjson.dumps([row._asdict() for row in rows]).decode()])


# The delivery rows the events already have: one index probe per event whatever the statistics
# say (OFFSET 0 keeps the subquery from being flattened into a join). As an IN list, planned on a
# table grown since it was last analysed (as in a burst), it was a sequential scan of every
# delivery row, per batch.
_SEEN_SQL = """
SELECT d.event_id, d.handler FROM unnest(%s::bigint[]) AS e(id)
CROSS JOIN LATERAL (SELECT event_id, handler FROM crm_eventdelivery WHERE event_id = e.id OFFSET 0) d
"""


def _deliver_new(events: list[Event]) -> list[Receipt]:
    """Give each event to those of its handlers that have no delivery row for it yet.

    Returns the new delivery rows, unsaved: the caller holds the events' row locks and saves the
    rows (_receipts_write) in the same transaction as the handlers' savepoints.
    """
    from crm.models import DeliveryStatus

    plan = [(event, handlers_for(event.name)) for event in events]
    if not any(handlers for _, handlers in plan):
        return []
    # Deliveries recorded by an earlier pass (deliver_event, or a pass that committed them but
    # not dispatched_at) are never repeated.
    seen: dict[int, set[str]] = defaultdict(set)
    with transaction.get_connection().cursor() as cur:
        cur.execute(_SEEN_SQL, [[e.pk for e in events]])
        for event_id, name in cur.fetchall():
            seen[event_id].add(name)
    rows: list[Receipt] = []

    def record(event: Event, handler: Handler, error: str | None) -> None:
        now = timezone.now()
        if error is None:
            rows.append(Receipt(event.pk, handler.name, DeliveryStatus.SUCCEEDED.value, 1, "", None, now, now))
        else:
            failed = _failure_fields(1, error, now)
            rows.append(Receipt(event.pk, handler.name, str(failed["status"]), failed["attempts"],
                                failed["last_error"], failed["next_attempt_at"], failed["delivered_at"], now))

    for event, handlers in plan:
        for handler in handlers:
            if handler.batch or handler.name in seen[event.pk]:
                continue
            record(event, handler, _attempt(handler, event))
    # Then the batch handlers, once over the batch's events that are theirs, in event order.
    batched: dict[str, tuple[Handler, list[Event]]] = {}
    for event, handlers in plan:
        for handler in handlers:
            if handler.batch and handler.name not in seen[event.pk]:
                batched.setdefault(handler.name, (handler, []))[1].append(event)
    for handler, their_events in batched.values():
        errors = _attempt_batch(handler, their_events)
        for event in their_events:
            record(event, handler, errors[event.pk])
    return rows


def _client_fields(event_name: str) -> frozenset[str] | None:
    """The client fields the handlers of `event_name` read (None: any)."""
    wanted: set[str] = set()
    for handler in handlers_for(event_name):
        if handler.client_fields is None:
            return None
        wanted |= handler.client_fields
    return frozenset(wanted)


def _attach_clients(events: list[Event]) -> None:
    """Give each event its client, as select_related would, reading only the fields its handlers
    read (whole rows for events that a handler without `client_fields` gets). Each event gets an
    instance of its own; a field not read here is read when first used, as for `.only()`."""
    from django.db import router

    from crm.models import Client, Event

    wanted: dict[int, frozenset[str] | None] = {}
    for event in events:
        if event.client_id is None:
            continue
        fields = _client_fields(event.name)
        if event.client_id in wanted:
            known = wanted[event.client_id]
            fields = None if known is None or fields is None else known | fields
        wanted[event.client_id] = fields
    if not wanted:
        return
    whole = [pk for pk, fields in wanted.items() if fields is None]
    partial = [pk for pk, fields in wanted.items() if fields is not None]
    named: set[str] = set()
    for pk in partial:
        named |= wanted[pk] or set()
    concrete = Client._meta.concrete_fields
    some = [f.attname for f in concrete if f.primary_key or f.name in named or f.attname in named]
    rows: dict[int, tuple[list[str], tuple[Any, ...]]] = {}
    for ids, columns in ((whole, [f.attname for f in concrete]), (partial, some)):
        if ids:
            for values in Client.objects.filter(pk__in=ids).values_list(*columns):
                rows[values[0]] = (columns, values)
    db = router.db_for_read(Client)
    cache = Event._meta.get_field("client")
    for event in events:
        if event.client_id in rows:
            columns, values = rows[event.client_id]
            cache.set_cached_value(event, Client.from_db(db, columns, values))


def deliver_event(event: Event) -> int:
    """Give `event` to each of its handlers that has not had it yet; returns how many ran.

    Safe to call any number of times and concurrently with the dispatcher: the event row is
    locked, and handlers with a delivery row (succeeded, failed or dead) are skipped.
    """
    from crm.models import Event

    with transaction.atomic():
        locked = (
            Event.objects.select_for_update(of=("self",))
            .select_related("actor", "client")
            .get(pk=event.pk)
        )
        rows = _deliver_new([locked])
        _receipts_write(rows)
        if locked.dispatched_at is None:
            Event.objects.filter(pk=locked.pk).update(dispatched_at=timezone.now())
    return len(rows)


def dispatch_pending(*, batch_size: int = 500, max_batches: int | None = None) -> int:
    """Deliver undispatched events in id order, in batches; returns how many were dispatched.

    Per batch: one locking SELECT, one SELECT of the events' clients (of the fields their
    handlers read: _attach_clients), one SELECT of earlier deliveries, a savepoint per handler,
    one INSERT of all delivery rows and one UPDATE of dispatched_at. Concurrent dispatchers skip
    each other's locked rows, so several workers can run this at once.
    """
    from crm.models import Event

    _rearm_kick()
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            events = list(
                # of=self: lock only the events, never the joined client and user rows (and
                # PostgreSQL refuses FOR UPDATE on the nullable side of those outer joins).
                Event.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(dispatched_at__isnull=True)
                .select_related("actor")
                .order_by("id")[:batch_size]
            )
            if not events:
                break
            _attach_clients(events)
            _receipts_write(_deliver_new(events))
            Event.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
        total += len(events)
        batches += 1
        if len(events) < batch_size:
            break
    return total


def _retry(delivery: EventDelivery, now: datetime) -> bool:
    """Run a failed or dead delivery's handler again, updating its row. Returns success."""
    from crm.models import EVENT_DELIVERY_STATES, DeliveryStatus

    handler = handler_by_name(delivery.handler)
    if handler is None:
        EVENT_DELIVERY_STATES.move(delivery, DeliveryStatus.DEAD, save=("updated_at",), also={
            "next_attempt_at": None, "last_error": f"handler {delivery.handler} is no longer registered"})
        return False
    # Refused before the handler runs: a delivery that succeeded is never run again.
    EVENT_DELIVERY_STATES.check(delivery, DeliveryStatus.SUCCEEDED)
    error = _attempt(handler, delivery.event)
    if error is None:
        fields: dict[str, Any] = {
            "status": DeliveryStatus.SUCCEEDED, "attempts": delivery.attempts + 1,
            "delivered_at": timezone.now(), "next_attempt_at": None, "last_error": "",
        }
    else:
        fields = _failure_fields(delivery.attempts + 1, error, now)
    status = fields.pop("status")
    EVENT_DELIVERY_STATES.move(delivery, status, also=fields, save=("updated_at",))
    return error is None


def retry_due(*, limit: int = 200, max_batches: int = 25, now: datetime | None = None) -> int:
    """Retry failed deliveries whose backoff has elapsed. Returns how many were attempted.

    A delivery that fails again is rescheduled after `now`, so one call never retries it twice.
    """
    from crm.models import DeliveryStatus, EventDelivery

    now = now or timezone.now()
    count = 0
    for _ in range(max_batches):
        with transaction.atomic():
            due = list(
                EventDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=DeliveryStatus.FAILED, next_attempt_at__lte=now)
                .select_related("event", "event__actor", "event__client")
                .order_by("next_attempt_at", "id")[:limit]
            )
            for delivery in due:
                _retry(delivery, now)
        count += len(due)
        if len(due) < limit:
            break
    return count


def delivery_retry_now(*, delivery_id: int, reason: str = "") -> bool:
    """An administrator's retry of a failed or dead delivery: runs it at once. Returns success.

    A dead delivery that fails again stays dead (with the new error); one that already
    succeeded is left alone. Raises NotFound for an unknown id, Conflict when its event was archived.
    """
    from crm.audit import audit_record
    from crm.exceptions import Conflict, NotFound
    from crm.models import DeliveryStatus, EventDelivery

    with transaction.atomic():
        delivery = EventDelivery.objects.select_for_update(of=("self",)).filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound()
        if delivery.status == DeliveryStatus.SUCCEEDED:
            return True
        if event_archived(delivery.event_id):
            raise Conflict(gettext("This delivery's event was archived with its month (past the event retention): "
                                   "its handler cannot run again unless that month is reattached."),
                           code="event_archived")
        before = {"status": delivery.status, "attempts": delivery.attempts}
        ok = _retry(delivery, timezone.now())
        audit_record(action="event_delivery.retry", obj=delivery, before=before,
                     after={"status": delivery.status, "attempts": delivery.attempts}, reason=reason)
        return ok


def delivery_retry_schedule(*, delivery_ids: Iterable[int], reason: str = "") -> int:
    """Queue failed and dead deliveries for a retry by a worker as soon as possible.

    For "retry all" on the administrators' page: the handlers run in the worker, not in the
    request. Returns how many deliveries were queued.
    """
    from django.db.models import Exists, OuterRef

    from crm.audit import audit_record
    from crm.models import EVENT_DELIVERY_STATES, DeliveryStatus, Event, EventDelivery

    ids = sorted(set(delivery_ids))
    now = timezone.now()
    # Set-based: only the deliveries that may become failed (EVENT_DELIVERY_STATES) are queued; one
    # that succeeded meanwhile is left as it is.
    retryable = EVENT_DELIVERY_STATES.sources(DeliveryStatus.FAILED)
    with transaction.atomic():
        # A delivery whose event was archived is left as it is: a retry would find no event.
        queued = list(
            EventDelivery.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, status__in=retryable)
            .filter(Exists(Event.objects.filter(pk=OuterRef("event_id"))))
            .values_list("pk", flat=True)
        )
        if not queued:
            return 0
        EventDelivery.objects.filter(pk__in=queued, status__in=retryable).update(
            status=DeliveryStatus.FAILED, next_attempt_at=now, updated_at=now,
        )
        audit_record(action="event_delivery.retry_scheduled", object_type="crm.eventdelivery",
                     after={"ids": queued}, reason=reason)
        transaction.on_commit(lambda: _send_retry_task(task_named("crm.tasks.events_retry_due")), robust=True)
    return len(queued)


def _send_retry_task(task: Any) -> None:
    try:
        task.apply_async()
    except BrokerError:
        logger.warning("could not queue the retry task; beat will retry the deliveries", exc_info=True)


# --- reads for the administrators' page ---------------------------------------------------------

def delivery_problems(*, status: str = "", handler: str = "") -> QuerySet[EventDelivery]:
    """Failed and dead deliveries, most recently changed first; `status` narrows to one of them."""
    from crm.models import DeliveryStatus, EventDelivery

    qs = EventDelivery.objects.exclude(status=DeliveryStatus.SUCCEEDED)
    if status:
        qs = qs.filter(status=status)
    if handler:
        qs = qs.filter(handler=handler)
    # Not joined to the event (a join would hide deliveries whose event was archived): the page
    # loads the events of the rows it shows (deliveries_with_events).
    return qs.order_by("-updated_at", "-id")


def delivery_problem_handlers() -> list[str]:
    """Handler names to filter the problems by: those with problems plus every registered one."""
    from crm.models import DeliveryStatus, EventDelivery

    with_problems = (
        EventDelivery.objects.exclude(status=DeliveryStatus.SUCCEEDED)
        .order_by().values_list("handler", flat=True).distinct()
    )
    return sorted({*with_problems, *all_handler_names()})


# --- archive of the outbox's months -------------------------------------------------------------

def events_archive_check(cur: Any, candidate: Any) -> None:
    """Before a month of the outbox goes to its file (a crm.lib.partitions ArchiveHook): refused while
    any of its events is still to be handed to the handlers, or a handler's delivery of one failed
    and will be retried (that retry would find no event). Deliveries that gave up may go with it:
    their pages then say the event is archived. A month detached already was checked then."""
    from crm.lib.partitions import PartitionArchiveError, month_range
    from crm.models import DeliveryStatus, Event, EventDelivery

    if not candidate.attached:
        return
    start, end = month_range(candidate.month)
    undispatched = Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end,
                                        dispatched_at__isnull=True).count()
    retrying = EventDelivery.objects.filter(status=DeliveryStatus.FAILED, event__occurred_at__gte=start,
                                            event__occurred_at__lt=end).count()
    under_way = [text for count, text in (
        (undispatched, f"{undispatched} events not yet handed to their handlers"),
        (retrying, f"{retrying} handler deliveries failing and due to be retried")) if count]
    if under_way:
        raise PartitionArchiveError(archive_refusal(candidate.month, under_way))


def outbox_archive_guard(name: str, check: Callable[[Any, Any], None]) -> None:
    """For an app whose rows point at events: `check(cur, candidate)` refuses to archive a month of
    the outbox (raising crm.lib.partitions.PartitionArchiveError) while that app's work on its events is
    under way (see crm.lib.partitions.ArchiveHook)."""
    from crm.lib.partitions import ARCHIVE_HOOKS, ArchiveHook
    from crm.models import Event

    ARCHIVE_HOOKS.register(ArchiveHook(table=Event._meta.db_table, name=name, check=check))


def archive_refusal(month: date, under_way: list[str]) -> str:
    """The message refusing to archive the outbox's `month` while `under_way` (what is still pending)."""
    return (f"the event outbox's {month:%Y-%m} still has work under way ({'; '.join(under_way)}): it can be "
            f"archived once that is delivered or given up; nothing was changed")


def event_archived(event_id: int) -> bool:
    """Whether the event `event_id` points at is gone from the outbox (its month archived to a file):
    what follows such a reference says so instead of failing."""
    from crm.models import Event

    return not Event.objects.filter(pk=event_id).exists()


def events_by_id(ids: Iterable[int]) -> dict[int, Event]:
    """The events of `ids` still in the outbox (with their clients), in one query: for pages listing
    rows that point at events, some of which may have gone to the archive with their month."""
    from crm.models import Event

    wanted = {int(i) for i in ids}
    return Event.objects.select_related("client").in_bulk(wanted) if wanted else {}


def deliveries_with_events(deliveries: list[EventDelivery]) -> list[EventDelivery]:
    """Each delivery with its event (and client) in one query, and `event_archived` set: true where
    the event's month was archived (no event to show, and none to retry)."""
    events = events_by_id(d.event_id for d in deliveries)
    for delivery in deliveries:
        event = events.get(delivery.event_id)
        delivery.event_archived = event is None  # type: ignore[attr-defined]  # for the page only
        if event is not None:
            delivery.event = event
    return deliveries
