"""The support desk's panel at the top of the dashboard, for the people who work the desk (support
agents and desk managers): their open tickets with the soonest due first, how many of them missed
their SLA or fall due within the hour, and the tickets of their queues nobody has taken. Each
figure links to the queue filtered the same way (support.desk_selectors.ticket_queue does both)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from support.desk_selectors import ticket_queue

PANEL_ROWS = 5
DUE_SOON = dt.timedelta(hours=1)


def _due_between(start: dt.datetime, end: dt.datetime) -> Q:
    """The ticket's next due time (the first response until given, then the resolution, as the
    queue orders them) falls in [start, end)."""
    return (Q(first_response_at__isnull=True, first_response_due__gte=start, first_response_due__lt=end)
            | Q(first_response_at__isnull=False, resolution_due__gte=start, resolution_due__lt=end))


def support_home_context(request: Any) -> dict[str, Any] | None:
    user = request.user
    now = timezone.now()
    mine = ticket_queue(user=user, now=now, assignee="me")
    rows = list(mine[:PANEL_ROWS])
    queue = reverse("support_queue")
    return {
        "rows": rows,
        "now": now,
        "mine": mine.count(),
        "missed": ticket_queue(user=user, now=now, assignee="me", breached=True).count(),
        "due_soon": mine.filter(_due_between(now, now + DUE_SOON)).count(),
        "unassigned": ticket_queue(user=user, now=now, assignee="none").count(),
        "url_mine": f"{queue}?assignee=me",
        "url_missed": f"{queue}?assignee=me&breached=on",
        "url_unassigned": f"{queue}?assignee=none",
    }
