"""In-app notifications: the list, marking read, and the bell the top bar polls.

The bell polls with the header `X-Background: 1`, so the idle-timeout middleware does not count
the poll as the user being active.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from crm import selectors, services
from crm.models import Notification
from crm.permissions import AuthedRequest
from crm.views.ui import render_page, safe_next, wants_partial

NOTIFICATIONS_SHOWN = 50


def bell_context(user: Any) -> dict[str, Any]:
    """Unread count and the newest unread notification (its id lets the page spot new arrivals)."""
    if user is None or not user.is_authenticated:
        return {"unread": 0, "newest": None}
    newest = selectors.notification_list(user=user, limit=1, unread_only=True)
    unread = selectors.notification_unread_count(user=user) if newest else 0
    return {"unread": unread, "newest": newest[0] if newest else None}


@login_required
@require_GET
def notification_badge(request: AuthedRequest) -> HttpResponse:
    response = render(request, "crm/notifications/_bell.html", bell_context(request.user))
    response["Cache-Control"] = "no-store"
    return response


def _list_context(request: AuthedRequest) -> dict[str, Any]:
    items = selectors.notification_list(user=request.user, limit=NOTIFICATIONS_SHOWN)
    return {"notifications": items, "has_unread": any(n.read_at is None for n in items),
            **bell_context(request.user)}


@login_required
@require_GET
def notification_list(request: AuthedRequest) -> HttpResponse:
    return render_page(request, "crm/notifications/list.html", _list_context(request), partial="notification-list")


def _parse_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@login_required
@require_POST
def notification_mark_read(request: AuthedRequest) -> HttpResponse:
    """Mark one notification (POST id) or all of the user's notifications read."""
    one = _parse_id(request.POST.get("id"))
    # The service only ever touches the user's own notifications, whatever ids it is given.
    services.notification_mark_read(user=request.user, ids=[one] if one is not None else None)
    if wants_partial(request):
        return render(request, "crm/notifications/list.html#notification-list",
                      {**_list_context(request), "bell_oob": True})
    return redirect("notification_list")


@login_required
@require_POST
def notification_open(request: AuthedRequest, notification_id: int) -> HttpResponse:
    """Mark one notification read and go to what it is about."""
    services.notification_mark_read(user=request.user, ids=[notification_id])
    # Only the user's own notification: another user's id finds nothing and lands on the list.
    target = (
        Notification.objects.filter(user_id=request.user.pk, pk=notification_id).values_list("url", flat=True).first()
        or ""
    )
    return redirect(safe_next(request, target, reverse("notification_list")))
