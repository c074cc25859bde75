"""The dashboard: the panels apps add for the user's work (crm.registry.HOME_PANELS, a support
agent's tickets), the user's clients by stage, their tasks due, their unread notifications."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from crm import selectors
from crm.models import Stage
from crm.permissions import AuthedRequest, client_queryset_for_user, user_can
from crm.registry import HOME_PANELS

DASHBOARD_TASKS = 8
DASHBOARD_NOTIFICATIONS = 5


def _end_of_today() -> datetime:
    """Midnight at the end of today in the user's (active) time zone."""
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))


def _stage_counts(user: Any) -> list[dict[str, Any]]:
    rows = dict(
        client_queryset_for_user(user).order_by().values("stage").annotate(n=Count("id")).values_list("stage", "n")
    )
    base = reverse("client_list")
    return [
        {"stage": value, "label": label, "count": rows.get(value, 0), "url": f"{base}?stage={value}"}
        for value, label in Stage.choices
    ]


def _panels(request: AuthedRequest) -> list[dict[str, Any]]:
    """The apps' panels for this user, in order, each with its context (None leaves it out)."""
    user = request.user
    role = user.role.code if user.role is not None else ""
    shown = []
    for panel in HOME_PANELS:
        if panel.roles and role not in panel.roles:
            continue
        if panel.permission is not None and not user_can(user, panel.permission):
            continue
        context = panel.context(request)
        if context is not None:
            shown.append({"key": panel.key, "template": panel.template, "context": context})
    return shown


@login_required
@require_GET
def home(request: AuthedRequest) -> HttpResponse:
    user = request.user
    stages = _stage_counts(user)
    open_tasks = selectors.task_list_for_user(user=user, status="open")
    due = open_tasks.filter(due_at__lt=_end_of_today())
    now = timezone.now()
    context = {
        "panels": _panels(request),
        "stages": stages,
        "client_total": sum(s["count"] for s in stages),
        "tasks_due": list(due[:DASHBOARD_TASKS]),
        "tasks_due_count": due.count(),
        "tasks_overdue_count": due.filter(due_at__lt=now).count(),
        "tasks_open_count": open_tasks.count(),
        "notifications": selectors.notification_list(user=user, limit=DASHBOARD_NOTIFICATIONS, unread_only=True),
        "unread_count": selectors.notification_unread_count(user=user),
        "now": now,
    }
    return render(request, "crm/home.html", context)
