"""Celery queues per workload, so that each kind of background work can run on machines of its own.

A task goes to the queue of its workload (by its name; the table below), or to the default queue
(CELERY_TASK_DEFAULT_QUEUE, "celery"): domain-event dispatch and everything not listed. A workload's
queue is named `<default queue>.<workload>` ("celery.sync"), so that two CRMs sharing one Redis keep
their work apart by their default queue's name alone.

    default        event dispatch, automation, audit sealing, jobs sweep, anything else
    sync           trading platforms: deal and account sync, balance operations, reconciliation
    commissions    IB commission runs, settlements
    scoring        AML rules, risk scores, agent and trading-abuse monitoring
    screening      sanctions and PEP screening, watchlist re-screens (long: a whole list at a time)
    notifications  reminders, email
    deliveries     outbound webhooks, partner postbacks (external: a tenant's slow receiver waits here)
    reports        dashboards' read models, scheduled reports

Screening and deliveries are isolated: a long re-screen or a receiver that answers slowly holds
only a worker of its own queue, never the one that credits deposits, syncs platforms or runs beat's
heartbeat (`make run` and the production compose give each its own worker process).

A worker reads the queues it is given (`celery -A crm worker -Q ...`); `python -m crm.queues
[WORKLOAD ...]` prints the list for the workloads named (all of them when none), so that
`make worker` serves everything on one machine and `CELERY_WORKER_QUEUES=sync make worker` only the
platforms' sync on another. With CELERY_WORKLOAD_QUEUES off (the test settings' default) every task
goes to the default queue, as one worker per test reads only its own.

No Django import here: the runner computes a worker's queues before Django is set up.
"""

from __future__ import annotations

import os
import sys
from typing import Any

DEFAULT = "default"
# Workload -> task name prefixes, checked in this order (the first that matches wins).
WORKLOADS: dict[str, tuple[str, ...]] = {
    "sync": ("trading.tasks.",),
    "commissions": ("ib.tasks.commissions", "ib.tasks.settlements"),
    "scoring": ("compliance.tasks.aml", "compliance.tasks.risk", "compliance.tasks.jurisdictions", "monitoring."),
    "screening": ("compliance.tasks.screening",),
    "notifications": ("crm.tasks.task_reminders", "crm.email_templates."),
    "deliveries": ("integrations.tasks.webhooks", "ib.tasks.postback"),  # postback_send, postbacks_retry_due
    "reports": ("reports.",),
}


def default_queue() -> str:
    return os.environ.get("CELERY_TASK_DEFAULT_QUEUE") or "celery"


def workload_of(task_name: str) -> str:
    """The workload a task belongs to ("default" when no prefix matches)."""
    for workload, prefixes in WORKLOADS.items():
        if task_name.startswith(prefixes):
            return workload
    return DEFAULT


def queue_name(workload: str, *, default: str | None = None) -> str:
    """The queue of a workload: the default queue itself, or `<default>.<workload>`."""
    base = default if default is not None else default_queue()
    if workload == DEFAULT:
        return base
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}: one of {', '.join([DEFAULT, *WORKLOADS])}")
    return f"{base}.{workload}"


def worker_queues(workloads: list[str] | None = None, *, default: str | None = None) -> list[str]:
    """The queues a worker serving `workloads` (every workload when empty) reads."""
    chosen = workloads or [DEFAULT, *WORKLOADS]
    return [queue_name(w.strip(), default=default) for w in chosen if w.strip()]


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict[str, str] | None:
    """Celery's router (CELERY_TASK_ROUTES): the workload's queue, or None for the default queue."""
    from django.conf import settings

    if not getattr(settings, "CELERY_WORKLOAD_QUEUES", False):
        return None
    workload = workload_of(name)
    if workload == DEFAULT:
        return None
    return {"queue": queue_name(workload, default=settings.CELERY_TASK_DEFAULT_QUEUE)}


def main(argv: list[str]) -> int:
    named = argv or [w for w in (os.environ.get("CELERY_WORKER_QUEUES") or "").split(",") if w.strip()]
    try:
        print(",".join(worker_queues(named)))
    except ValueError as error:
        print(f"crm.queues: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
