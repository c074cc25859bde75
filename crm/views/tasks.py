"""My tasks: open / overdue / done, completed and reopened in place with htmx."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from crm import selectors, services
from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.permissions import AuthedRequest, task_get_for_user
from crm.views.ui import raise_for_domain_error, render_page, safe_next, wants_partial
from crm.views.ui.forms import TASK_STATUS_CHOICES

TASK_PAGE_SIZE = 50
TASK_STATUSES = tuple(key for key, _label in TASK_STATUS_CHOICES)


@login_required
@require_GET
def task_list(request: AuthedRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    if status not in TASK_STATUSES:
        status = "open"
    tasks = selectors.task_list_for_user(user=request.user, status=status)
    page = Paginator(tasks, TASK_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "status": status,
        "statuses": TASK_STATUS_CHOICES,
        "page_obj": page,
        "tasks": page.object_list,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
    }
    return render_page(request, "crm/tasks/list.html", context, partial="task-table")


def _toggle(request: AuthedRequest, code: Any, *, done: bool) -> HttpResponse:
    try:
        task = task_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    try:
        if done:
            task = services.task_complete(actor=request.user, task=task)
        else:
            task = services.task_reopen(actor=request.user, task=task)
    except (NotFound, NotAllowed) as error:
        raise_for_domain_error(error)
        raise
    except DomainError as error:
        # e.g. completing a task someone else just completed: say so, show the task as it is.
        messages.error(request, error.message)
        task = task_get_for_user(request.user, code)
    if wants_partial(request):
        return render(request, "crm/tasks/_task.html",
                      {"task": task, "show_client": request.POST.get("view") != "client"})
    return redirect(safe_next(request, request.POST.get("next"), reverse("task_list")))


@login_required
@require_POST
def task_complete(request: AuthedRequest, code: Any) -> HttpResponse:
    return _toggle(request, code, done=True)


@login_required
@require_POST
def task_reopen(request: AuthedRequest, code: Any) -> HttpResponse:
    return _toggle(request, code, done=False)
