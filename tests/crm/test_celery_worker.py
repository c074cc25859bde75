"""Domain events delivered by a real Celery worker process, against the real test database.

The worker is `celery -A crm worker`, started with DATABASE_URL pointing at this run's test
database and the handlers of tests/crm/worker_handlers.py loaded through
CRM_EXTRA_HANDLER_MODULES. It consumes a queue of its own, so that any other worker on the same
Redis cannot take the test's messages.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import transaction

from crm import events, tasks
from crm.celery import app as celery_app
from crm.lib.redis import get_redis
from crm.models import DeliveryStatus, Event, EventDelivery, Notification
from integrations import services as outbound
from tests.crm import worker_handlers
from tests.crm.subprocess_env import celery_worker_running
from tests.factories import make_user
from tests.waiting import scaled

pytestmark = [pytest.mark.worker]

WAIT_SECONDS = 30


def _wait_for(check: Callable[[], bool], what: str, log: Path) -> None:
    started = time.monotonic()
    while time.monotonic() - started < scaled(WAIT_SECONDS):
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {time.monotonic() - started:.0f}s waiting for {what}; worker log:\n{log.read_text()[-4000:]}")


@pytest.fixture
def worker_queue() -> Iterator[str]:
    """Route this process's tasks (the dispatcher kick included) to a queue only our worker reads.

    A kick queues a task only while none is waiting: a flag an earlier test left (its task queued
    where no worker reads) would hold this test's kicks back, so both kicks' flags start cleared."""
    queue = f"crm-test-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    get_redis().delete(events.KICK_KEY, outbound.KICK_KEY)
    try:
        yield queue
    finally:
        celery_app.conf.task_default_queue = previous
        r = get_redis()
        r.delete(queue, *r.keys(f"_kombu.binding*.{queue}"))


@pytest.fixture
def celery_worker(transactional_db, worker_queue, tmp_path) -> Iterator[subprocess.Popen[bytes]]:
    # Depends on transactional_db so that the worker is stopped before the tables are flushed.
    with celery_worker_running(worker_queue, tmp_path / "worker.log",
                               CRM_EXTRA_HANDLER_MODULES="tests.crm.worker_handlers") as proc:
        yield proc


PING_HANDLER = "tests.crm.worker_handlers.notify_ping"


def test_worker_delivers_each_event_once_to_its_handler(celery_worker):
    log: Path = celery_worker.log_path
    user = make_user(role_code="sales_agent")

    # Single events, each in its own transaction (the request path)...
    singles = []
    for _ in range(20):
        with transaction.atomic():
            singles.append(events.emit(worker_handlers.WORKER_PING, data={"user_id": user.pk}))
    # ...and a burst committed at once (the import path).
    with transaction.atomic():
        events.emit_many({"name": worker_handlers.WORKER_PING, "data": {"user_id": user.pk}} for _ in range(300))
    expected = Event.objects.filter(name=worker_handlers.WORKER_PING).count()
    assert expected == 320

    def all_delivered() -> bool:
        if celery_worker.poll() is not None:
            pytest.fail(f"the worker exited with {celery_worker.returncode}:\n{log.read_text()[-4000:]}")
        ours = EventDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED, handler=PING_HANDLER)
        return ours.count() >= expected

    _wait_for(all_delivered, f"{expected} deliveries", log)

    # Deliver again, every way there is: more kicks to the worker, and a direct delivery here.
    for _ in range(3):
        tasks.events_dispatch_pending.apply_async()
    for event in singles[:5]:
        assert events.deliver_event(event) == 0
    _wait_for(lambda: get_redis().llen(celery_app.conf.task_default_queue) == 0, "the extra tasks", log)
    time.sleep(1.0)  # let the last one finish

    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    # (Other handlers, such as automation's wildcard subscriber, get the events too: count ours.)
    deliveries = list(
        EventDelivery.objects.filter(handler=PING_HANDLER).values_list("handler", "status", "attempts")
    )
    assert len(deliveries) == expected
    assert set(deliveries) == {("tests.crm.worker_handlers.notify_ping", DeliveryStatus.SUCCEEDED, 1)}
    effects = Counter(Notification.objects.filter(kind=worker_handlers.PING_KIND).values_list("title", flat=True))
    uuids = {str(u) for u in Event.objects.values_list("uuid", flat=True)}
    assert set(effects) == uuids
    assert set(effects.values()) == {1}, "some event took effect more than once"
