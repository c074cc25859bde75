"""Access helpers of the partner programme: fetch and authorise in one call. Missing and forbidden
look the same. Partners are seen by holders of "ib.view_partner" who work for their brand."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from crm.exceptions import NotFound
from crm.permissions import code_or_404, user_can, visible_brands
from ib.models import AttributionConflict, CommissionPlan, Partner, PartnerApplication
from ib.partner_auth import PartnerRequest as PartnerRequest  # re-exported (below)
from ib.partner_auth import partner_login_required as partner_login_required  # re-exported (below)

# PartnerRequest and partner_login_required: the partner portal's session, re-exported for the pages
# other apps add to the portal (support's tickets), as portal.permissions offers the trader's room's.


def partner_queryset_for_user(user: Any) -> QuerySet[Partner]:
    if not user_can(user, "ib.view_partner"):
        return Partner.objects.none()
    qs = Partner.objects.select_related("brand", "parent")
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand__in=visible_brands(user))


def partner_get_for_user(user: Any, code: Any, *, for_update: bool = False) -> Partner:
    qs = partner_queryset_for_user(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(code=code_or_404(code))
    except Partner.DoesNotExist:
        raise NotFound() from None


def conflict_get_for_user(user: Any, code: Any) -> AttributionConflict:
    if not user_can(user, "ib.manage_partners"):
        raise NotFound()
    qs = AttributionConflict.objects.select_related("client", "brand")
    if not (user.is_administrator or user.all_brands):
        qs = qs.filter(brand__in=visible_brands(user))
    try:
        return qs.get(code=code_or_404(code))
    except AttributionConflict.DoesNotExist:
        raise NotFound() from None


def plan_queryset_for_user(user: Any) -> QuerySet[CommissionPlan]:
    """Commission plans of the brands `user` works for (holders of "ib.manage_partners")."""
    if not user_can(user, "ib.manage_partners"):
        return CommissionPlan.objects.none()
    qs = CommissionPlan.objects.select_related("brand")
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand__in=visible_brands(user))


def application_queryset_for_user(user: Any) -> QuerySet[PartnerApplication]:
    """Partner applications of the brands `user` works for (holders of "ib.manage_partners")."""
    if not user_can(user, "ib.manage_partners"):
        return PartnerApplication.objects.none()
    qs = PartnerApplication.objects.select_related("brand", "partner", "decided_by")
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand__in=visible_brands(user))


def application_get_for_user(user: Any, code: Any) -> PartnerApplication:
    try:
        return application_queryset_for_user(user).get(code=code_or_404(code))
    except PartnerApplication.DoesNotExist:
        raise NotFound() from None
