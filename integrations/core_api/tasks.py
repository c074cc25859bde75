"""Tasks: a staff session works with its own tasks; an API key with the tasks about its brand's clients."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from crm import services
from crm.api import Caller, PageIn, caller_of, client_for, paginate, requires_scope
from crm.exceptions import NotFound, ValidationFailed
from crm.models import Task
from crm.permissions import task_get_for_user
from crm.selectors import task_list_for_user
from integrations.core_api.clients import _staff_by_code
from integrations.core_api.schemas import TaskFilters, TaskIn, TaskOut, TaskPage, TaskPatch

router = Router(tags=["tasks"])

# Each operation keeps the id the API has published since this router lived in the core (as
# crm.api_routers.tasks): clients generated from the schema name their methods by it.
def _op(name: str) -> str:
    return f"crm_api_routers_tasks_{name}"



def _key_tasks(caller: Caller) -> QuerySet[Task]:
    assert caller.api_key is not None
    return Task.objects.filter(client__brand_id=caller.api_key.brand_id).select_related(
        "client", "assignee", "created_by"
    )


def _with_status(qs: QuerySet[Task], status: str) -> QuerySet[Task]:
    if status == "open":
        return qs.filter(done_at__isnull=True)
    if status == "done":
        return qs.filter(done_at__isnull=False)
    if status == "overdue":
        return qs.filter(done_at__isnull=True, due_at__lt=timezone.now())
    return qs


def task_for(caller: Caller, code: UUID) -> Task:
    """The task with `code` if the caller may open it, else NotFound."""
    if caller.api_key is None:
        return task_get_for_user(caller.user, code)
    task = _key_tasks(caller).filter(code=code).first()
    if task is None:
        raise NotFound()
    return task


def task_out(task: Task) -> dict[str, Any]:
    return {
        "code": task.code,
        "title": task.title,
        "description": task.description,
        "client": task.client.code if task.client is not None else None,
        "assignee": task.assignee.code,
        "created_by": task.created_by.code if task.created_by is not None else None,
        "due_at": task.due_at,
        "remind_at": task.remind_at,
        "done_at": task.done_at,
        "is_done": task.done_at is not None,
        "created_at": task.created_at,
    }


@router.get("/tasks", response=TaskPage, url_name="api_task_list", summary="List tasks",
            operation_id=_op("list_tasks"))
@requires_scope("tasks:read")
def list_tasks(request: HttpRequest, filters: Query[TaskFilters], page: Query[PageIn]) -> dict[str, Any]:
    """A staff session's own tasks (assigned to them); for an API key, the tasks about its brand's
    clients. Newest first."""
    caller = caller_of(request)
    if caller.api_key is not None:
        qs = _with_status(_key_tasks(caller), filters.status)
    else:
        qs = task_list_for_user(user=caller.user, status=filters.status).select_related("assignee")
    result = paginate(qs, page)
    return {"items": [task_out(t) for t in result.items], "next_cursor": result.next_cursor}


@router.get("/tasks/{uuid:code}", response=TaskOut, url_name="api_task_detail", summary="Get a task",
            operation_id=_op("get_task"))
@requires_scope("tasks:read")
def get_task(request: HttpRequest, code: UUID) -> dict[str, Any]:
    return task_out(task_for(caller_of(request), code))


@router.post("/tasks", response={201: TaskOut}, url_name="api_task_create", summary="Create a task",
             operation_id=_op("create_task"))
@requires_scope("tasks:write")
def create_task(request: HttpRequest, payload: TaskIn) -> Status[dict[str, Any]]:
    """Create a task for `assignee`, who must be able to see the client. Event `task.created`.

    API keys must name the client (one of their brand's) and the assignee."""
    caller = caller_of(request)
    errors: dict[str, list[str]] = {}
    if caller.api_key is not None:
        if payload.client is None:
            errors["client"] = [_("API keys create tasks about a client: give its code.")]
        if payload.assignee is None:
            errors["assignee"] = [_("Give the code of the staff member who is to do the task.")]
    if errors:
        raise ValidationFailed(fields=errors)
    client = None
    if payload.client is not None:
        try:
            client = client_for(caller, payload.client)
        except NotFound:
            raise ValidationFailed(fields={"client": [_("No client with this code is within your reach.")]}) from None
    assignee = _staff_by_code(payload.assignee, "assignee") if payload.assignee is not None else caller.user
    if assignee is None:  # not reached: an API key names the assignee (above), a session has its user
        raise ValidationFailed(fields={"assignee": [_("Give the code of the staff member who is to do the task.")]})
    task = services.task_create(
        actor=caller.user, title=payload.title, description=payload.description, client=client,
        assignee=assignee, due_at=payload.due_at, remind_at=payload.remind_at,
    )
    return Status(201, task_out(task))


@router.patch("/tasks/{uuid:code}", response=TaskOut, url_name="api_task_update", summary="Complete, reopen or reschedule a task",
              operation_id=_op("update_task"))
@requires_scope("tasks:write")
def update_task(request: HttpRequest, code: UUID, payload: TaskPatch) -> dict[str, Any]:
    """`done: true` completes the task (event `task.completed`), `done: false` reopens it
    (`task.reopened`); either is a no-op if the task is already in that state. `due_at` and
    `remind_at` reschedule it (`task.rescheduled`); a field left out keeps its value."""
    caller = caller_of(request)
    given = payload.model_fields_set
    with transaction.atomic():
        task = task_for(caller, code)
        if "due_at" in given or "remind_at" in given:
            services.task_reschedule(
                actor=caller.user, task=task,
                due_at=payload.due_at if "due_at" in given else task.due_at,
                remind_at=payload.remind_at if "remind_at" in given else task.remind_at,
            )
        if payload.done is True:
            services.task_complete(actor=caller.user, task=task)
        elif payload.done is False:
            services.task_reopen(actor=caller.user, task=task)
    return task_out(task_for(caller, code))
