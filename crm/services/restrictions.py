"""Staff restrictions: a member of staff restricted now (no reveals, no exports, read-only) until a
manager lifts it. Kept in the core because the core's own pages and jobs enforce it (reveals,
exports, every change: crm.permissions.user_can and crm.middleware.StaffRestrictionMiddleware) and
higher apps (agent monitoring's "restrict now") call it. Each restriction is a row kept after it is
lifted (the history), and both steps are audited."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import Conflict, NotAllowed, ValidationFailed
from crm.lib.validation import InvalidValue, text_clean
from crm.models import StaffRestriction, User
from crm.permissions import staff_restriction_refusal

REASON_MAX = 2000


def _reason(value: str, field: str = "reason") -> str:
    try:
        return text_clean(value, field=field, max_length=REASON_MAX, required=True)
    except InvalidValue as exc:
        raise ValidationFailed(fields={exc.field: [exc.message]}) from None


def _check(actor: User | None, user: User) -> None:
    refusal = staff_restriction_refusal(actor, user)
    if refusal:
        raise NotAllowed(refusal)


@transaction.atomic
def staff_restrict(*, actor: User | None, user: User, reason: str, origin: str = "") -> StaffRestriction:
    """Restrict `user` from now on: no reveals, no exports, read-only, until lifted. Takes effect on
    their next request (and on any job of theirs not yet run). `reason` is required; `origin` names
    what led to it ("monitoring alert <code>"). Conflict if they are restricted already."""
    _check(actor, user)
    reason = _reason(reason)
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.restricted_since is not None:
        raise Conflict(gettext("%(name)s is restricted already.") % {"name": locked})
    now = timezone.now()
    try:
        with transaction.atomic():
            restriction = StaffRestriction.objects.create(user=locked, reason=reason, origin=origin[:200],
                                                          started_at=now, started_by=actor)
    except IntegrityError:  # an open row without the user's mark: never written by this module
        raise Conflict(gettext("%(name)s is restricted already.") % {"name": locked}) from None
    locked.restricted_since = now
    locked.save(update_fields=["restricted_since"])
    user.restricted_since = now
    audit_record(action="staff.restrict", obj=locked, actor=actor, reason=reason,
                 before={"restricted": False},
                 after={"restricted": True, "restriction": str(restriction.code), "origin": restriction.origin})
    return restriction


@transaction.atomic
def staff_restriction_lift(*, actor: User | None, user: User, reason: str) -> StaffRestriction:
    """Lift `user`'s open restriction (with a reason): their next request has their role's rights
    again. The restriction's row stays, with who lifted it, when and why. Conflict when there is none."""
    _check(actor, user)
    reason = _reason(reason)
    locked = User.objects.select_for_update().get(pk=user.pk)
    restriction = StaffRestriction.objects.select_for_update().filter(user=locked, lifted_at__isnull=True).first()
    if restriction is None:
        raise Conflict(gettext("%(name)s is not restricted.") % {"name": locked})
    restriction.lifted_at = max(timezone.now(), restriction.started_at)
    restriction.lifted_by = actor
    restriction.lift_reason = reason
    restriction.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    locked.restricted_since = None
    locked.save(update_fields=["restricted_since"])
    user.restricted_since = None
    audit_record(action="staff.restriction_lift", obj=locked, actor=actor, reason=reason,
                 before={"restricted": True, "restriction": str(restriction.code)},
                 after={"restricted": False})
    return restriction


def staff_restrictions_of(user: User) -> QuerySet[StaffRestriction]:
    """`user`'s restrictions, open and lifted, newest first (the history)."""
    return StaffRestriction.objects.filter(user=user).select_related("started_by", "lifted_by")


def staff_restriction_open(user: User) -> StaffRestriction | None:
    """`user`'s open restriction, if any."""
    return staff_restrictions_of(user).filter(lifted_at__isnull=True).first()
