"""Who may decide a monitoring alert: whoever may see it (monitoring.permissions: the desk manager of
the agent's desk or whoever it is routed to, compliance officers and administrators of the brand;
never the agent it is about, whatever their role) and holds "monitoring.review_monitoringalert".
For anyone else the alert does not exist (NotFound, like a code nobody has)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from crm.exceptions import NotFound
from crm.permissions import code_or_404, user_can
from monitoring.models import MonitoringAlert
from monitoring.permissions import alert_queryset_for_user

REVIEW_PERMISSION = "monitoring.review_monitoringalert"


def alert_queryset_for_reviewer(user: Any) -> QuerySet[MonitoringAlert]:
    """The alerts `user` may decide, in SQL."""
    if not user_can(user, REVIEW_PERMISSION):
        return MonitoringAlert.objects.none()
    return alert_queryset_for_user(user)


def alert_get_for_reviewer(user: Any, code: Any) -> MonitoringAlert:
    """The alert with `code` if `user` may decide it, else NotFound (missing and forbidden alike)."""
    found = alert_queryset_for_reviewer(user).select_related("agent__desk").filter(code=code_or_404(code)).first()
    if found is None:
        raise NotFound()
    return found
