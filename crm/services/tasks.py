"""Tasks: create, complete, reopen, reschedule, and the reminder sweep."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, NotAllowed
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Client, Task, User
from crm.permissions import client_visible_to, task_assignee_refusal, user_can
from crm.services.common import _require, _text, _url
from crm.services.notifications import notify_user

# How far a task's due time or reminder may lie from now: a task may be logged as overdue, but
# not from another decade (a typo of 1999 or 9999 would sort above or below every real task).
TASK_TIME_PAST = timedelta(days=366)
TASK_TIME_FUTURE = timedelta(days=5 * 366)


def _task_time(value: Any, field: str, errors: FieldErrors) -> datetime | None:
    moment = _aware(value, field, errors)
    if moment is None:
        return None
    now = timezone.now()
    if moment < now - TASK_TIME_PAST:
        errors.add(field, gettext("Choose a date within the last year, or leave it empty."))
        return None
    if moment > now + TASK_TIME_FUTURE:
        errors.add(field, gettext("Choose a date within the next five years."))
        return None
    return moment


def _task_url(task: Task) -> str:
    return _url("task_detail", task.code) or _url("task_list")


def _aware(value: Any, field: str, errors: FieldErrors) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors.add(field, gettext("Enter a valid date and time."))
            return None
    if not isinstance(value, datetime):
        errors.add(field, gettext("Enter a valid date and time."))
        return None
    if timezone.is_naive(value):
        errors.add(field, gettext("Give the time zone with the date and time."))
        return None
    return value


TASK_TITLE_MAX = 200
TASK_DESCRIPTION_MAX = 10_000


@transaction.atomic
def task_create(
    *,
    actor: User | None,
    title: str,
    assignee: User,
    client: Client | None = None,
    description: str = "",
    due_at: datetime | None = None,
    remind_at: datetime | None = None,
) -> Task:
    """Create a task for `assignee` (about `client` if given). Event "task.created".

    The assignee must be able to see the client. They are notified unless they created it.
    """
    _require(actor, "crm.add_task")
    errors = FieldErrors()
    for name, value, limit, required in (("title", title, TASK_TITLE_MAX, True),
                                         ("description", description, TASK_DESCRIPTION_MAX, False)):
        try:
            cleaned = text_clean(_text(value, name), field=name, max_length=limit, required=required)
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
            continue
        if name == "title":
            title = cleaned
        else:
            description = cleaned
    if not isinstance(assignee, User) or not assignee.is_active:
        errors.add("assignee", gettext("Choose an active member of staff."))
    elif (refusal := task_assignee_refusal(actor, assignee, brand_id=client.brand_id if client else None)):
        errors.add("assignee", refusal)
    elif client is not None and not client_visible_to(assignee, client):
        errors.add("assignee", gettext("This user cannot see the client."))
    due = _task_time(due_at, "due_at", errors)
    remind = _task_time(remind_at, "remind_at", errors)
    if due is not None and remind is not None and remind > due:
        errors.add("remind_at", gettext("The reminder must come before the due time."))
    errors.raise_if_any()

    task = Task.objects.create(
        client=client, title=title, description=description, assignee=assignee, created_by=actor,
        due_at=due, remind_at=remind,
    )
    audit_record(action="task.create", obj=task, after={
        "title": title, "assignee": assignee.pk, "client": str(client.code) if client else None,
        "due_at": due, "remind_at": remind,
    }, actor=actor)
    emit("task.created", client=client, actor=actor, data={
        "task": str(task.code), "title": title, "assignee": user_ref(assignee),
        "due_at": due.isoformat() if due else None,
    })
    notify_user(assignee, kind="task_assigned", title=gettext_noop("New task assigned to you"), body=title,
                url=_task_url(task), actor=actor)
    return task


def _lock_task(task: Task) -> None:
    task.refresh_from_db(from_queryset=Task.objects.select_for_update(of=("self",)))


def _check_task_actor(actor: User | None, task: Task) -> None:
    if actor is None or actor.pk in (task.assignee_id, task.created_by_id):
        return
    if not user_can(actor, "crm.change_task"):
        raise NotAllowed()


@transaction.atomic
def task_complete(*, actor: User | None, task: Task) -> Task:
    """Mark the task done. Event "task.completed". Completing a done task changes nothing."""
    _check_task_actor(actor, task)
    _lock_task(task)
    if task.done_at is not None:
        return task
    task.done_at = timezone.now()
    task.done_by = actor
    task.save(update_fields=["done_at", "done_by"])
    audit_record(action="task.complete", obj=task, before={"done_at": None}, after={"done_at": task.done_at},
                 actor=actor)
    emit("task.completed", client=task.client, actor=actor, data={"task": str(task.code), "title": task.title})
    return task


@transaction.atomic
def task_reopen(*, actor: User | None, task: Task) -> Task:
    """Mark a done task open again. Event "task.reopened". Reopening an open task changes nothing."""
    _check_task_actor(actor, task)
    _lock_task(task)
    if task.done_at is None:
        return task
    before = {"done_at": task.done_at, "done_by": task.done_by_id}
    task.done_at = None
    task.done_by = None
    task.save(update_fields=["done_at", "done_by"])
    audit_record(action="task.reopen", obj=task, before=before, after={"done_at": None, "done_by": None},
                 actor=actor)
    emit("task.reopened", client=task.client, actor=actor, data={"task": str(task.code), "title": task.title})
    return task


@transaction.atomic
def task_reschedule(*, actor: User | None, task: Task, due_at: datetime | None, remind_at: datetime | None) -> Task:
    """Set a task's due time and reminder (None clears either). Event "task.rescheduled".

    A new reminder time re-arms the reminder even if the old one was already sent.
    """
    _check_task_actor(actor, task)
    _lock_task(task)
    errors = FieldErrors()
    due = _task_time(due_at, "due_at", errors)
    remind = _task_time(remind_at, "remind_at", errors)
    if due is not None and remind is not None and remind > due:
        errors.add("remind_at", gettext("The reminder must come before the due time."))
    errors.raise_if_any()
    if (task.due_at, task.remind_at) == (due, remind):
        return task
    before = {"due_at": task.due_at, "remind_at": task.remind_at}
    fields = ["due_at", "remind_at"]
    if remind != task.remind_at:
        task.reminded_at = None
        fields.append("reminded_at")
    task.due_at, task.remind_at = due, remind
    task.save(update_fields=fields)
    audit_record(action="task.reschedule", obj=task, before=before, after={"due_at": due, "remind_at": remind},
                 actor=actor)
    emit("task.rescheduled", client=task.client, actor=actor, data={
        "task": str(task.code), "title": task.title, "due_at": due.isoformat() if due else None,
    })
    return task


REMINDER_BATCH = 200


def task_reminders_send(*, now: datetime | None = None) -> int:
    """Notify assignees of open tasks whose `remind_at` has passed; returns how many were sent.

    Each task is reminded once (`reminded_at`); batches commit one by one and concurrent runs
    skip each other's locked rows, so running it twice never sends twice.
    """
    now = now or timezone.now()
    sent = 0
    while True:
        with transaction.atomic():
            tasks = list(
                Task.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(done_at__isnull=True, reminded_at__isnull=True, remind_at__lte=now)
                .select_related("assignee", "client")
                .order_by("remind_at", "id")[:REMINDER_BATCH]
            )
            if not tasks:
                break
            for task in tasks:
                if notify_user(task.assignee, kind="task_reminder", title=gettext_noop("Task reminder"),
                               body=task.title, url=_task_url(task)) is not None:
                    sent += 1
            # A plain UPDATE: the reminder sweep is bookkeeping, not a change worth a history row.
            Task.objects.filter(pk__in=[t.pk for t in tasks]).update(reminded_at=now)
        if len(tasks) < REMINDER_BATCH:
            break
    return sent
