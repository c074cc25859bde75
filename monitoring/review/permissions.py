"""Who may see a monitoring alert and decide it: whoever it is routed to (the agent's desk manager
or the brand's reporting officer), administrators, and compliance officers of the brand who hold
"monitoring.review_monitoringalert". Never the agent the alert is about, whatever their role: for
them, as for everyone else outside, the alert does not exist (a 404, like a code nobody has)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from crm.exceptions import NotFound
from crm.models import RoleCode, User
from crm.permissions import code_or_404, user_can
from monitoring.models import MonitoringAlert

REVIEW_PERMISSION = "monitoring.review_monitoringalert"
# Roles that oversee every desk's alerts of their brands (beside whoever an alert is routed to).
OVERSIGHT_ROLES = (RoleCode.COMPLIANCE,)


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def alert_queryset_for_reviewer(user: Any) -> QuerySet[MonitoringAlert]:
    """The alerts `user` may see and decide, in SQL (see the module docstring)."""
    qs = MonitoringAlert.objects.all()
    if not _active(user):
        return qs.none()
    qs = qs.exclude(Q(subject_kind="agent") & Q(agent_id=user.pk))  # never one's own
    if user.is_administrator:
        return qs
    visible = Q(routed_to_id=user.pk)
    if user.role_code in OVERSIGHT_ROLES and user_can(user, REVIEW_PERMISSION):
        brands = Q() if user.all_brands else Q(brand_id__in=User.brands.through.objects.filter(
            user_id=user.pk).values("brand_id"))
        visible |= brands
    return qs.filter(visible)


def alert_get_for_reviewer(user: Any, code: Any, *, for_update: bool = False) -> MonitoringAlert:
    """The alert with `code` if `user` may review it, else NotFound (missing and forbidden alike)."""
    qs = alert_queryset_for_reviewer(user).select_related("agent", "agent__desk", "client", "routed_to",
                                                          "decided_by", "brand")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(code=code_or_404(code))
    except MonitoringAlert.DoesNotExist:
        raise NotFound() from None
