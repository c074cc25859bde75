"""Hand work to a Celery task by its name, so that a service never imports its app's tasks.

A task module imports the services it calls; a service that imported the task back would close a
circle in the import graph (tests/test_architecture.py fails on one). So a service names the task
instead, as Celery itself does on the wire:

    task_send_on_commit("compliance.tasks.risk_score_client", client_id, trigger)
    task_named("kyc.tasks.submission_check").delay(submission_id)   # a caller that handles the broker's errors

The name is the task's registered name (the module's path and the function's name, or the `name=`
its decorator gives), so Celery's routing by name (crm/queues.py) and eager mode in tests work as
with the task object: the task is looked up in the app's registry, its module imported first when
this process has not loaded it yet.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from celery import current_app
from django.db import transaction


def task_named(name: str) -> Any:
    """The Celery task registered as `name`; its module ("compliance.tasks") imported when needed.
    KeyError for a name no task bears."""
    tasks = current_app.tasks
    if name not in tasks:
        import_module(name.rpartition(".")[0])
    return tasks[name]


def task_send_on_commit(name: str, *args: Any, robust: bool = False, **kwargs: Any) -> None:
    """Queue task `name` with `args` and `kwargs` once the caller's transaction commits (at once
    outside one). `robust`: a failure to queue is logged by Django, not raised to the committer."""
    transaction.on_commit(lambda: task_named(name).delay(*args, **kwargs), robust=robust)
