"""The dashboard: the user's clients by stage, their tasks due, their unread notifications."""

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
from crm.permissions import AuthedRequest, client_queryset_for_user

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


@login_required
@require_GET
def home(request: AuthedRequest) -> HttpResponse:
    user = request.user
    stages = _stage_counts(user)
    open_tasks = selectors.task_list_for_user(user=user, status="open")
    due = open_tasks.filter(due_at__lt=_end_of_today())
    now = timezone.now()
    context = {
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
