"""Who sees what of monitoring. Fetch-and-authorise helpers: "missing" and "forbidden" look the same.

The rule that matters most: nobody ever sees an alert about themselves (nor its evidence page), whatever
their role; an agent sees nothing of monitoring at all."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from crm.models import Brand, Desk, RoleCode, User
from crm.permissions import code_or_404, desks_run_by, user_can
from monitoring.models import MonitoringAlert

AGENT_ROLES = (RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT)


def _active(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def brands_for(user: Any) -> QuerySet[Brand]:
    if not _active(user):
        return Brand.objects.none()
    if user.is_administrator or user.all_brands:
        return Brand.objects.all()
    return Brand.objects.filter(pk__in=user.brands.values("pk"))


def desks_managed_by(user: Any) -> QuerySet[Desk]:
    """The desks whose context `user` records: administrators every desk of their brands, a desk
    manager the desks they run; nobody else."""
    if not _active(user) or not user_can(user, "monitoring.add_cover"):
        return Desk.objects.none()
    qs = Desk.objects.filter(brand__in=brands_for(user))
    if user.is_administrator:
        return qs
    if user.role_code == RoleCode.DESK_MANAGER:
        return qs.filter(pk__in=desks_run_by(user).values("pk"))
    return qs.none()


def agents_managed_by(user: Any) -> QuerySet[User]:
    """The agents whose context `user` records (never `user` themselves)."""
    return (User.objects.filter(role__code__in=AGENT_ROLES, desk__in=desks_managed_by(user))
            .exclude(pk=getattr(user, "pk", 0) or 0).select_related("desk", "role").order_by("full_name", "pk"))


def alert_queryset_for_user(user: Any) -> QuerySet[MonitoringAlert]:
    """The alerts `user` may see: never one about themselves. Administrators and compliance officers
    every alert of their brands; a desk manager the alerts routed to them and those about the agents
    and clients of the desks they run; nobody else any."""
    qs = MonitoringAlert.objects.select_related("agent", "client", "partner", "routed_to", "brand")
    if not _active(user) or not user_can(user, "monitoring.view_monitoringalert"):
        return qs.none()
    qs = qs.filter(brand__in=brands_for(user)).exclude(agent_id=user.pk)
    if user.is_administrator or user.role_code == RoleCode.COMPLIANCE:
        return qs
    if user.role_code == RoleCode.DESK_MANAGER:
        desks = desks_run_by(user).values("pk")
        return qs.filter(Q(routed_to=user) | Q(agent__desk__in=desks) | Q(client__desk__in=desks))
    return qs.none()


def alert_get_for_user(user: Any, code: Any) -> MonitoringAlert:
    found = alert_queryset_for_user(user).filter(code=code_or_404(code)).first()
    if found is None:
        raise Http404("No such alert.")
    return found


def agent_activity_visible(user: Any, agent: User) -> bool:
    """Whether `user` may read `agent`'s activity (the evidence pages): not their own, and only an
    agent whose alerts they could see."""
    if not _active(user) or agent.pk == user.pk or not user_can(user, "monitoring.view_monitoringalert"):
        return False
    desk = agent.desk
    if desk is None or not brands_for(user).filter(pk=desk.brand_id).exists():
        return False
    if user.is_administrator or user.role_code == RoleCode.COMPLIANCE:
        return True
    if user.role_code == RoleCode.DESK_MANAGER:
        return desks_run_by(user).filter(pk=desk.pk).exists()
    return False
