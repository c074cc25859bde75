"""The transactional outbox: each handler takes effect once per event, failures retry with
backoff and die after CRM_EVENT_MAX_ATTEMPTS, and administrators can retry them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import events
from crm.lib.redis import get_redis
from crm.models import AuditLog, DeliveryStatus, Event, EventDelivery, Notification
from plumbing import context
from tests.commits import queued
from tests.factories import make_user

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


class UserData(TypedDict):
    user_id: int


# The throwaway events these tests emit, declared like any app's (emit refuses undeclared ones).
for _name in ("test.happened", "test.first", "test.second", "test.doomed", "test.bad", "test.good", "test.broken",
              "test.one", "test.two"):
    events.declare(_name, payload=UserData)

# Handlers are module-level functions (their dotted name is their identity in delivery rows);
# what they do is steered by this dict, reset for every test.
STATE: dict[str, object] = {}


class WorkerKilled(BaseException):
    """Stands in for the worker process dying half-way through a batch (not an Exception:
    the dispatcher must not catch it as a handler failure)."""


def notify(event: Event) -> None:
    Notification.objects.create(user_id=event.data["user_id"], kind="test_effect",
                                title=event.name, body=str(event.pk))


def notify_again(event: Event) -> None:
    Notification.objects.create(user_id=event.data["user_id"], kind="test_effect_2",
                                title=event.name, body=str(event.pk))


def flaky(event: Event) -> None:
    """Writes its effect, then fails while STATE["failures_left"] > 0."""
    Notification.objects.create(user_id=event.data["user_id"], kind="test_flaky", title=event.name)
    left = int(STATE.get("failures_left", 0))  # type: ignore[call-overload]
    if left > 0:
        STATE["failures_left"] = left - 1
        raise RuntimeError(f"downstream unavailable ({left} failures left)")


def dies_once(event: Event) -> None:
    if not STATE.get("died"):
        STATE["died"] = True
        raise WorkerKilled


def record_actor(event: Event) -> None:
    STATE.setdefault("actors", []).append(context.current().user)  # type: ignore[union-attr]


def noop(event: Event) -> None:
    return None


def notify_all(batch: list[Event]) -> None:
    """A batch handler: one INSERT for the lot; fails on an event whose data says so."""
    STATE.setdefault("calls", []).append(len(batch))  # type: ignore[union-attr]
    Notification.objects.bulk_create([Notification(user_id=e.data["user_id"], kind="test_batch", title=e.name,
                                                   body=str(e.pk)) for e in batch])
    if any(e.name == "test.bad" for e in batch):
        raise RuntimeError("cannot take test.bad")


@pytest.fixture
def registry():
    """An empty handler registry for the test, restored afterwards."""
    saved = ({name: list(hs) for name, hs in events._registry.items()}, list(events._wildcard))
    events._registry.clear()
    events._wildcard.clear()
    STATE.clear()
    yield events
    events._registry.clear()
    events._registry.update(saved[0])
    events._wildcard[:] = saved[1]
    STATE.clear()


@pytest.fixture
def user(db):
    return make_user(role_code="sales_agent")


def _emit(name: str, user, **data) -> Event:
    with transaction.atomic():
        return events.emit(name, data={"user_id": user.pk, **data})


def _effects(kind: str = "test_effect") -> int:
    return Notification.objects.filter(kind=kind).count()


# --- effect once --------------------------------------------------------------------------------

def test_handler_effect_happens_once_when_the_event_is_delivered_twice(registry, user):
    registry.subscribe("test.happened")(notify)
    event = _emit("test.happened", user)

    assert events.deliver_event(event) == 1
    assert events.deliver_event(event) == 0

    assert _effects() == 1
    delivery = EventDelivery.objects.get(event=event)
    assert (delivery.status, delivery.attempts, delivery.handler) == (
        DeliveryStatus.SUCCEEDED, 1, events.handler_name(notify))
    event.refresh_from_db()
    assert event.dispatched_at is not None


def test_dispatcher_does_not_repeat_a_delivery_recorded_before_it_was_interrupted(registry, user):
    # A pass recorded the delivery, then died before marking the event dispatched.
    registry.subscribe("test.happened")(notify)
    event = _emit("test.happened", user)
    events.deliver_event(event)
    Event.objects.filter(pk=event.pk).update(dispatched_at=None)

    assert events.dispatch_pending() == 1

    assert _effects() == 1
    assert EventDelivery.objects.filter(event=event).count() == 1
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 0


def test_a_pass_killed_half_way_leaves_nothing_and_the_rerun_takes_effect_once(registry, user):
    registry.subscribe("test.happened")(notify)
    registry.subscribe("test.happened")(dies_once)
    first, second = _emit("test.happened", user), _emit("test.happened", user)

    with pytest.raises(WorkerKilled):
        events.dispatch_pending()
    # notify ran for the first event before the worker died: its effect went with the batch.
    assert _effects() == 0
    assert not EventDelivery.objects.exists()
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 2

    assert events.dispatch_pending() == 2
    assert events.dispatch_pending() == 0
    assert _effects() == 2
    for event in (first, second):
        assert set(EventDelivery.objects.filter(event=event).values_list("handler", "status")) == {
            (events.handler_name(notify), DeliveryStatus.SUCCEEDED),
            (events.handler_name(dies_once), DeliveryStatus.SUCCEEDED),
        }


# --- failures, backoff, dead --------------------------------------------------------------------

def test_failed_handler_is_recorded_with_backoff_and_retried_when_due(registry, user, time_machine):
    time_machine.move_to(T0, tick=False)
    registry.subscribe("test.happened")(flaky)
    STATE["failures_left"] = 1
    event = _emit("test.happened", user)

    events.dispatch_pending()

    delivery = EventDelivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == T0 + timedelta(seconds=30)
    assert "downstream unavailable" in delivery.last_error
    assert _effects("test_flaky") == 0  # the failed attempt's writes were rolled back

    time_machine.shift(29)
    assert events.retry_due() == 0
    time_machine.shift(1)
    assert events.retry_due() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SUCCEEDED, 2, "")
    assert delivery.next_attempt_at is None
    assert delivery.delivered_at == T0 + timedelta(seconds=30)
    assert _effects("test_flaky") == 1
    assert events.retry_due() == 0


def test_backoff_doubles_and_the_delivery_dies_after_max_attempts(registry, user, time_machine, settings):
    settings.CRM_EVENT_MAX_ATTEMPTS = 4
    time_machine.move_to(T0, tick=False)
    registry.subscribe("test.happened")(flaky)
    STATE["failures_left"] = 100
    event = _emit("test.happened", user)
    events.dispatch_pending()
    delivery = EventDelivery.objects.get(event=event)

    waits = []
    while delivery.status == DeliveryStatus.FAILED:
        wait = delivery.next_attempt_at - datetime.now(UTC)
        waits.append(int(wait.total_seconds()))
        time_machine.shift(wait)
        assert events.retry_due() == 1
        delivery.refresh_from_db()

    assert waits == [30, 60, 120]
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 4
    assert delivery.next_attempt_at is None
    time_machine.shift(timedelta(days=2))
    assert events.retry_due() == 0
    assert _effects("test_flaky") == 0


def test_one_failing_handler_does_not_block_another_of_the_same_event(registry, user):
    registry.subscribe("test.happened")(flaky)
    registry.subscribe("test.happened")(notify)
    STATE["failures_left"] = 1
    event = _emit("test.happened", user)

    events.dispatch_pending()

    by_handler = dict(EventDelivery.objects.filter(event=event).values_list("handler", "status"))
    assert by_handler == {
        events.handler_name(flaky): DeliveryStatus.FAILED,
        events.handler_name(notify): DeliveryStatus.SUCCEEDED,
    }
    assert _effects() == 1
    assert _effects("test_flaky") == 0
    assert Event.objects.get(pk=event.pk).dispatched_at is not None


def test_a_failure_in_one_event_does_not_hold_up_the_next_events(registry, user):
    registry.subscribe("test.bad")(flaky)
    registry.subscribe("test.good")(notify)
    STATE["failures_left"] = 1
    _emit("test.bad", user)
    _emit("test.good", user)
    _emit("test.good", user)

    assert events.dispatch_pending() == 3
    assert _effects() == 2


def test_a_delivery_whose_handler_was_removed_dies_on_retry(registry, user, time_machine):
    time_machine.move_to(T0, tick=False)
    registry.subscribe("test.happened")(flaky)
    STATE["failures_left"] = 1
    event = _emit("test.happened", user)
    events.dispatch_pending()
    registry.unsubscribe(flaky)

    time_machine.shift(60)
    events.retry_due()

    delivery = EventDelivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.DEAD
    assert "no longer registered" in delivery.last_error


# --- what gets delivered ------------------------------------------------------------------------

def test_events_emitted_in_a_rolled_back_transaction_are_never_delivered(
    registry, user, django_capture_on_commit_callbacks
):
    registry.subscribe("test.happened")(notify)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            events.emit("test.happened", data={"user_id": user.pk})
            raise RuntimeError("the service failed after emitting")

    assert callbacks == []  # no kick either
    assert not Event.objects.filter(name="test.happened").exists()
    assert events.dispatch_pending() == 0
    assert _effects() == 0


def test_wildcard_handler_receives_every_event_once(registry, user):
    registry.subscribe("*")(notify)
    registry.subscribe("test.one", "*")(notify_again)  # by name and by wildcard: still once
    one, two = _emit("test.one", user), _emit("test.two", user)

    assert events.dispatch_pending() == 2

    assert sorted(Notification.objects.filter(kind="test_effect").values_list("title", flat=True)) == [
        "test.one", "test.two"]
    assert sorted(Notification.objects.filter(kind="test_effect_2").values_list("title", flat=True)) == [
        "test.one", "test.two"]
    assert EventDelivery.objects.filter(event__in=[one, two]).count() == 4


def test_handler_acts_as_the_user_who_emitted_the_event(registry, user):
    registry.subscribe("test.happened")(record_actor)
    with context.acting_as(user, source="web"):
        event = _emit("test.happened", user)
    assert event.actor_id == user.pk

    events.dispatch_pending()

    assert [u.pk for u in STATE["actors"]] == [user.pk]  # type: ignore[union-attr]


def test_extra_handler_modules_from_settings_are_loaded(registry, settings, monkeypatch):
    monkeypatch.delitem(sys.modules, "tests.crm.worker_handlers", raising=False)  # import it afresh
    settings.CRM_EXTRA_HANDLER_MODULES = ["tests.crm.worker_handlers"]
    assert events.handlers_for("test.worker_ping") == []
    events.autodiscover_handlers()
    assert [h.name for h in events.handlers_for("test.worker_ping")] == [
        "tests.crm.worker_handlers.notify_ping"]


def test_dispatch_costs_no_query_per_event_beyond_the_handler_savepoint(registry, user):
    registry.subscribe("test.happened")(noop)
    for _ in range(40):
        _emit("test.happened", user)

    with CaptureQueriesContext(connection) as queries:
        assert events.dispatch_pending(batch_size=100) == 40

    sql = [q["sql"] for q in queries.captured_queries]
    # Per batch: lock-and-read the events, read earlier deliveries, insert the deliveries, mark
    # them dispatched. Per handler run: its savepoint (create and release), nothing else.
    assert len([q for q in sql if "SAVEPOINT" not in q]) <= 4, sql
    # (+2: under the test's own transaction the batch's atomic block is a savepoint too.)
    assert len([q for q in sql if "SAVEPOINT" in q]) in (2 * 40, 2 * 40 + 2)
    assert EventDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 40


def test_a_batch_handler_runs_once_per_batch_in_one_savepoint_and_records_each_event(registry, user):
    registry.subscribe("test.happened", batch=True)(notify_all)
    for _ in range(40):
        _emit("test.happened", user)

    with CaptureQueriesContext(connection) as queries:
        assert events.dispatch_pending(batch_size=100) == 40

    assert STATE["calls"] == [40]
    assert len([q for q in queries.captured_queries if "SAVEPOINT" in q["sql"]]) in (2, 4)
    assert _effects("test_batch") == 40
    assert EventDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 40


def test_a_batch_handler_failing_on_one_event_fails_that_event_alone_and_retries_it(registry, user, time_machine):
    registry.subscribe("test.good", "test.bad", batch=True)(notify_all)
    time_machine.move_to(T0, tick=False)
    good = [_emit("test.good", user) for _ in range(3)]
    bad = _emit("test.bad", user)

    assert events.dispatch_pending() == 4

    # The failed batch call left nothing; each event was then given alone.
    assert STATE["calls"] == [4, 1, 1, 1, 1]
    assert sorted(Notification.objects.filter(kind="test_batch").values_list("body", flat=True)) == sorted(
        str(e.pk) for e in good)
    by_event = {d.event_id: d for d in EventDelivery.objects.all()}
    assert [by_event[e.pk].status for e in good] == [DeliveryStatus.SUCCEEDED] * 3
    assert by_event[bad.pk].status == DeliveryStatus.FAILED and "cannot take test.bad" in by_event[bad.pk].last_error
    # Its retry gives it alone again (and it fails again: still its own failure, nobody else's).
    time_machine.move_to(T0 + timedelta(minutes=5))
    assert events.retry_due() == 1
    assert STATE["calls"][-1] == 1
    assert EventDelivery.objects.get(event=bad).attempts == 2


# --- the administrator's retry ------------------------------------------------------------------

def test_administrator_retry_runs_a_dead_delivery_again_once(registry, user, settings):
    settings.CRM_EVENT_MAX_ATTEMPTS = 1
    registry.subscribe("test.happened")(flaky)
    STATE["failures_left"] = 1
    event = _emit("test.happened", user)
    events.dispatch_pending()
    delivery = EventDelivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.DEAD

    admin = make_user(role_code="admin")
    with context.acting_as(admin, source="web"):
        assert events.delivery_retry_now(delivery_id=delivery.pk) is True
        assert events.delivery_retry_now(delivery_id=delivery.pk) is True  # already done: no effect

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert _effects("test_flaky") == 1
    audit = AuditLog.objects.get(action="event_delivery.retry")
    assert audit.actor_id == admin.pk
    assert audit.object_id == str(delivery.pk)
    assert audit.before == {"status": "dead", "attempts": 1}
    assert audit.after == {"status": "succeeded", "attempts": 2}


def test_administrator_retry_of_a_still_failing_delivery_keeps_it_dead_with_the_new_error(
    registry, user, settings
):
    settings.CRM_EVENT_MAX_ATTEMPTS = 1
    registry.subscribe("test.happened")(flaky)
    STATE["failures_left"] = 2
    event = _emit("test.happened", user)
    events.dispatch_pending()

    delivery = EventDelivery.objects.get(event=event)
    assert events.delivery_retry_now(delivery_id=delivery.pk) is False

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 2)
    assert "1 failures left" in delivery.last_error
    assert _effects("test_flaky") == 0


def test_retry_of_an_unknown_delivery_is_not_found(registry, db):
    from crm.exceptions import NotFound

    with pytest.raises(NotFound):
        events.delivery_retry_now(delivery_id=987654321)


def test_retry_schedule_queues_failed_and_dead_deliveries_for_the_worker(
    registry, user, settings, django_capture_on_commit_callbacks
):
    settings.CRM_EVENT_MAX_ATTEMPTS = 1
    registry.subscribe("test.happened")(flaky)
    registry.subscribe("test.happened")(notify)
    STATE["failures_left"] = 1
    event = _emit("test.happened", user)
    events.dispatch_pending()
    dead = EventDelivery.objects.get(event=event, status=DeliveryStatus.DEAD)
    succeeded = EventDelivery.objects.get(event=event, status=DeliveryStatus.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert events.delivery_retry_schedule(delivery_ids=[dead.pk, succeeded.pk]) == 1
    assert len(queued(callbacks)) == 1  # the retry task is sent after commit

    dead.refresh_from_db()
    assert dead.status == DeliveryStatus.FAILED
    assert events.retry_due() == 1
    dead.refresh_from_db()
    assert dead.status == DeliveryStatus.SUCCEEDED
    assert _effects("test_flaky") == 1
    assert _effects() == 1


# --- emit outside a transaction, and the kick -----------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_emit_in_autocommit_commits_at_once_and_kicks_the_dispatcher_once_per_window(registry, monkeypatch):
    from crm import tasks

    sent: list[dict] = []
    monkeypatch.setattr(tasks.events_dispatch_pending, "apply_async", lambda **kw: sent.append(kw))
    get_redis().delete(events.KICK_KEY)
    user = make_user(role_code="sales_agent")
    registry.subscribe("test.happened")(notify)

    assert not connection.in_atomic_block
    first = events.emit("test.happened", data={"user_id": user.pk})
    events.emit("test.happened", data={"user_id": user.pk})

    assert Event.objects.filter(pk=first.pk).exists()
    assert len(sent) == 1  # the second commit fell in the debounce window
    assert events.dispatch_pending() == 2  # which re-arms the kick
    assert _effects() == 2
    events.emit("test.happened", data={"user_id": user.pk})
    assert len(sent) == 2


@pytest.mark.django_db(transaction=True)  # the request commits, and the kick runs after it as in production
def test_a_redis_outage_does_not_fail_the_emitting_request(registry, user, client, login_verified, monkeypatch,
                                                           caplog):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from crm import tasks
    from crm.models import Note
    from tests.factories import make_client

    def down(*_a, **_k):
        raise RedisConnectionError("redis is down")

    kicks: list[dict] = []
    monkeypatch.setattr(tasks.events_dispatch_pending, "apply_async", lambda **kw: kicks.append(kw))
    amira = make_client(actor=user, first_name="Amira")
    registry.subscribe("note.added")(record_actor)
    login_verified(client, user)
    monkeypatch.setattr(get_redis(), "set", down)
    kicks.clear()  # the client's creation kicked while Redis was up
    # A note is a request that emits ("note.added"); the kick after its commit meets Redis down.
    response = client.post(reverse("client_note_add", args=[amira.code]), {"body": "Called, no answer."})
    assert kicks == [] and "could not kick the event dispatcher; beat will deliver" in caplog.text
    assert response.status_code == 302  # the person's request succeeded all the same
    assert Note.objects.get(client=amira).body == "Called, no answer."
    event = Event.objects.get(name="note.added", client=amira)
    assert event.dispatched_at is None and event.data["excerpt"] == "Called, no answer."
    events.dispatch_pending()  # beat's sweep delivers what the kick could not announce
    event.refresh_from_db()
    assert event.dispatched_at is not None and STATE["actors"] == [user]  # its handler ran, as the author


# --- the administrators' page -------------------------------------------------------------------

@pytest.fixture
def problems(registry, user, settings):
    """A dead delivery (flaky, about a client), a failed one (flaky_again) and a succeeded one (notify)."""
    from tests.factories import make_client

    settings.CRM_EVENT_MAX_ATTEMPTS = 3
    registry.subscribe("test.first")(flaky)
    registry.subscribe("test.second")(flaky_again)
    registry.subscribe("test.first")(notify)
    client = make_client(actor=user, first_name="Amira", last_name="Haddad")
    with transaction.atomic():
        first = events.emit("test.first", client=client, data={"user_id": user.pk})
    STATE["failures_left"] = 100
    second = _emit("test.second", user)
    events.dispatch_pending()
    dead = EventDelivery.objects.get(event=first, handler=events.handler_name(flaky))
    EventDelivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD, attempts=3, next_attempt_at=None)
    return {
        "dead": dead, "failed": EventDelivery.objects.get(event=second),
        "succeeded": EventDelivery.objects.get(event=first, handler=events.handler_name(notify)),
        "client": client,
    }


def flaky_again(event: Event) -> None:
    flaky(event)


@pytest.fixture
def admin_client(client, login_verified, db):
    login_verified(client, make_user(role_code="admin"))
    return client


def test_delivery_page_lists_failed_and_dead_deliveries(admin_client, problems):
    response = admin_client.get(reverse("delivery_list"))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="delivery-{problems["dead"].pk}"' in html
    assert f'id="delivery-{problems["failed"].pk}"' in html
    assert f'id="delivery-{problems["succeeded"].pk}"' not in html
    assert "tests.crm.test_events.flaky_again" in html
    assert "RuntimeError: downstream unavailable" in html  # the error's last line
    assert reverse("client_detail", args=[problems["client"].code]) in html
    assert reverse("delivery_retry", args=[problems["dead"].pk]) in html


def test_delivery_page_filters_by_status_and_handler(admin_client, problems):
    dead_only = admin_client.get(reverse("delivery_list"), {"status": "dead"}).content.decode()
    assert f'id="delivery-{problems["dead"].pk}"' in dead_only
    assert f'id="delivery-{problems["failed"].pk}"' not in dead_only

    by_handler = admin_client.get(
        reverse("delivery_list"), {"handler": "tests.crm.test_events.flaky_again"},
        HTTP_HX_REQUEST="true",
    )
    html = by_handler.content.decode()
    assert "<html" not in html  # htmx gets the table alone
    assert f'id="delivery-{problems["failed"].pk}"' in html
    assert f'id="delivery-{problems["dead"].pk}"' not in html


def test_retry_button_reruns_the_delivery_and_swaps_its_row(admin_client, problems):
    STATE["failures_left"] = 0
    dead = problems["dead"]

    response = admin_client.post(reverse("delivery_retry", args=[dead.pk]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(f'<tr id="delivery-{dead.pk}"')
    assert "badge-success" in html
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (DeliveryStatus.SUCCEEDED, 4)
    assert _effects("test_flaky") == 1


def test_retry_without_htmx_redirects_back_to_the_list(admin_client, problems):
    response = admin_client.post(reverse("delivery_retry", args=[problems["failed"].pk]),
                                 {"next": reverse("delivery_list") + "?status=failed"})
    assert response.status_code == 302
    assert response["Location"] == reverse("delivery_list") + "?status=failed"
    problems["failed"].refresh_from_db()
    assert problems["failed"].attempts == 2  # still failing: STATE says so


def test_retry_all_shown_queues_the_deliveries_for_the_worker(admin_client, problems, monkeypatch):
    from crm import tasks

    sent = []
    monkeypatch.setattr(tasks.events_retry_due, "apply_async", lambda *a, **k: sent.append(k))
    ids = [problems["dead"].pk, problems["failed"].pk, problems["succeeded"].pk]

    response = admin_client.post(reverse("delivery_retry_all"), {"ids": ids})

    assert response.status_code == 302
    statuses = dict(EventDelivery.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses == {problems["dead"].pk: "failed", problems["failed"].pk: "failed",
                        problems["succeeded"].pk: "succeeded"}
    assert not EventDelivery.objects.filter(pk__in=ids, status="failed", next_attempt_at__gt=timezone.now()).exists()


@pytest.mark.parametrize("role_code", ["sales_agent", "desk_manager", "compliance", "finance"])
def test_delivery_pages_are_not_found_for_anyone_but_administrators(client, login_verified, problems, role_code):
    login_verified(client, make_user(role_code=role_code))
    dead = problems["dead"]

    assert client.get(reverse("delivery_list")).status_code == 404
    assert client.post(reverse("delivery_retry", args=[dead.pk]), HTTP_HX_REQUEST="true").status_code == 404
    assert client.post(reverse("delivery_retry_all"), {"ids": [dead.pk]}).status_code == 404
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (DeliveryStatus.DEAD, 3)


def test_delivery_page_sends_anonymous_visitors_to_login(client, db):
    response = client.get(reverse("delivery_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_retrying_an_unknown_delivery_is_not_found(admin_client):
    assert admin_client.post(reverse("delivery_retry", args=[424242])).status_code == 404


def test_a_transaction_sends_one_kick_however_many_events_it_emits(registry, user,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            for _ in range(3):
                events.emit("test.happened", data={"user_id": user.pk})
            with transaction.atomic():  # a service's own savepoint, released
                events.emit("test.happened", data={"user_id": user.pk})
            events.emit_many([{"name": "test.happened", "data": {"user_id": user.pk}}] * 5)
    assert queued(callbacks) == [events.kick_dispatcher]


def test_an_event_emitted_after_a_rolled_back_savepoint_still_gets_its_kick(registry, user,
                                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            try:
                with transaction.atomic():  # the first kick is registered in here, then discarded
                    events.emit("test.doomed", data={"user_id": user.pk})
                    raise RuntimeError("the inner service failed")
            except RuntimeError:
                pass
            survivor = events.emit("test.happened", data={"user_id": user.pk})
    assert queued(callbacks) == [events.kick_dispatcher]
    assert list(Event.objects.filter(name__startswith="test.").values_list("pk", flat=True)) == [survivor.pk]


def test_a_dispatcher_task_with_a_long_backlog_takes_its_share_and_queues_itself_behind_other_work(
        registry, user, monkeypatch):
    from crm import tasks

    again: list[dict] = []
    monkeypatch.setattr(tasks.events_dispatch_pending, "apply_async", lambda **kw: again.append(kw))
    monkeypatch.setattr(tasks, "DISPATCH_BATCH_SIZE", 2)
    registry.subscribe("test.happened")(notify)
    for _ in range(9):
        _emit("test.happened", user)

    assert tasks.events_dispatch_pending() == 2 * tasks.DISPATCH_BATCHES_PER_TASK
    assert len(again) == 1  # more is waiting: back in the queue, behind what was queued meanwhile
    assert tasks.events_dispatch_pending() == 1
    assert len(again) == 1  # caught up: no more
    assert _effects() == 9


def read_client_code(batch: list[Event]) -> None:
    # What was read with the event (before touching a field not named), then the client's data.
    STATE["clients"] = [(e.client.get_deferred_fields(), e.client.code, e.client.email) for e in batch]


def read_whole_client(event: Event) -> None:
    STATE.setdefault("whole", []).append(event.client.get_deferred_fields())  # type: ignore[union-attr]


def test_the_dispatcher_reads_the_client_fields_its_handlers_name_and_whole_rows_otherwise(registry, user):
    from tests.factories import make_client

    registry.subscribe("test.happened", batch=True, client_fields=["code"])(read_client_code)
    clients = [make_client(email=f"reader{i}@example.com") for i in range(3)]
    for c in clients:
        with transaction.atomic():
            events.emit("test.happened", client=c, data={"user_id": user.pk})
    events.dispatch_pending()  # (with the clients' own events)

    seen = STATE["clients"]
    assert all("email" in deferred and "code" not in deferred for deferred, _code, _email in seen)
    # The handler reads each event's own client: the field named, and any other when used.
    assert [(code, email) for _deferred, code, email in seen] == [(c.code, c.email) for c in clients]

    # A handler that names no fields may read any: its events come with whole client rows.
    registry.subscribe("test.happened")(read_whole_client)
    with transaction.atomic():
        events.emit("test.happened", client=clients[0], data={"user_id": user.pk})
    events.dispatch_pending()
    assert STATE["whole"] == [set()]
