"""The Celery app: system work (event dispatch, sync, scheduled jobs). Beat schedule is in settings.

Also wired here, because every Celery process imports this module:
- logging: Celery uses Django's LOGGING (JSON lines with request ids) instead of its own format;
- request ids: a task published while handling a request carries that request's id in a message
  header, and the worker restores it around the task, so one request can be followed into tasks;
- the worker heartbeat that /healthz reads (a bootstep on the worker's own timer).
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
import time
from typing import Any

from celery import Celery, bootsteps, signals
from redis.exceptions import RedisError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")

REQUEST_ID_HEADER = "crm_request_id"
PUBLISHED_AT_HEADER = "crm_published_at"

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


# --- logging -----------------------------------------------------------------------------------
@signals.setup_logging.connect
def _use_django_logging(**_: Any) -> None:
    # Connecting this signal stops Celery from installing its own handlers and format.
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# --- request ids across the broker -------------------------------------------------------------
@signals.before_task_publish.connect
def _attach_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    from plumbing import context

    request_id = context.current().request_id
    if headers is not None and request_id:
        headers.setdefault(REQUEST_ID_HEADER, request_id)
    if headers is not None:
        # When it was sent, for the wait-before-start metric (crm/metrics.py).
        headers.setdefault(PUBLISHED_AT_HEADER, time.time())


_task_contexts: dict[str, contextlib.ExitStack] = {}


@signals.task_prerun.connect
def _restore_request_id(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    from plumbing import context

    incoming = getattr(getattr(task, "request", None), REQUEST_ID_HEADER, None)
    stack = contextlib.ExitStack()
    # A task published outside any request gets a fresh id, so its own log lines still group together.
    stack.enter_context(context.acting_as(None, source="task", request_id=incoming or None))
    # Each task starts unpinned: an earlier task's writes do not keep this one's reads off the replica.
    from crm import dbrouter

    stack.enter_context(dbrouter.scope())
    if task_id is not None:
        _task_contexts[task_id] = stack
        _task_started[task_id] = time.perf_counter()
    _observe_wait(task)


@signals.task_postrun.connect
def _drop_request_id(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    stack = _task_contexts.pop(task_id, None) if task_id is not None else None
    if stack is not None:
        stack.close()
    started = _task_started.pop(task_id, None) if task_id is not None else None
    if started is not None and task is not None:
        from crm import metrics

        metrics.observe("crm_task_run_seconds", time.perf_counter() - started,
                        {"queue": _queue_of(task), "task": getattr(task, "name", "") or ""})


# --- task latency per queue (crm/metrics.py) -----------------------------------------------------
_task_started: dict[str, float] = {}


def _queue_of(task: Any) -> str:
    info = getattr(getattr(task, "request", None), "delivery_info", None) or {}
    return str(info.get("routing_key") or info.get("queue") or "")


def _observe_wait(task: Any) -> None:
    published = getattr(getattr(task, "request", None), PUBLISHED_AT_HEADER, None)
    if not isinstance(published, int | float):
        return  # run in process (apply) or sent by a client that sets no time
    from crm import metrics

    metrics.observe("crm_task_wait_seconds", max(0.0, time.time() - float(published)), {"queue": _queue_of(task)})


# --- worker heartbeat --------------------------------------------------------------------------
class HeartbeatStep(bootsteps.StartStopStep):
    """Beat `celery-worker:<hostname>` every INTERVAL_SECONDS from the worker's timer."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        from crm.lib import heartbeat

        self._beat(parent.hostname)
        self.tref = parent.timer.call_repeatedly(
            heartbeat.INTERVAL_SECONDS, self._beat, (parent.hostname,), priority=10
        )

    def stop(self, parent: Any) -> None:
        from crm.lib import heartbeat

        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        try:
            heartbeat.forget(heartbeat.CELERY_WORKER, parent.hostname)
        except RedisError:  # shutting down anyway; the key expires by itself
            logger.warning("could not clear the worker heartbeat", exc_info=True)

    @staticmethod
    def _beat(hostname: str) -> None:
        from crm.lib import heartbeat

        try:
            heartbeat.beat(heartbeat.CELERY_WORKER, hostname)
        except RedisError:
            # The broker is the same Redis: the worker reconnects by itself; /healthz shows the gap.
            logger.warning("worker heartbeat failed", exc_info=True)


app.steps["worker"].add(HeartbeatStep)


@signals.beat_init.connect
def _first_beat_heartbeat(sender: Any = None, **_: Any) -> None:
    # Interval entries first fire one interval after beat starts; send the heartbeat task at once
    # so that /healthz shows beat as alive as soon as a worker picks it up, not 30 s later.
    # (Celery logs a receiver's exception and carries on: beat then sends it on schedule.)
    app.send_task("crm.tasks.beat_heartbeat")
