"""A desk's first-contact SLA (administrators)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import FieldErrors
from crm.models import Desk, User
from leads.config import config_changed
from leads.models import DeskSla
from leads.services.common import _require_admin, _snapshot


@transaction.atomic
def desk_sla_save(*, actor: User | None, desk: Desk, minutes_to_first_contact: int, escalate_to: User | None = None,
                  auto_reassign: bool = False, is_active: bool = True) -> DeskSla:
    """Set the desk's first-contact SLA. Applies to leads assigned from now on."""
    _require_admin(actor)
    errors = FieldErrors()
    if isinstance(minutes_to_first_contact, bool) or not isinstance(minutes_to_first_contact, int) \
            or not 1 <= minutes_to_first_contact <= 7 * 24 * 60:
        errors.add("minutes_to_first_contact", gettext("Give minutes from 1 to 10080 (a week)."))
    if escalate_to is not None and (not isinstance(escalate_to, User) or not escalate_to.is_active):
        errors.add("escalate_to", gettext("Choose an active member of staff."))
    errors.raise_if_any()
    sla = DeskSla.objects.select_for_update().filter(desk_id=desk.pk).first()
    fields = ("minutes_to_first_contact", "escalate_to", "auto_reassign", "is_active")
    before = _snapshot(sla, fields) if sla is not None else None
    sla = sla or DeskSla(desk=desk)
    sla.minutes_to_first_contact, sla.escalate_to = minutes_to_first_contact, escalate_to
    sla.auto_reassign, sla.is_active = bool(auto_reassign), bool(is_active)
    sla.save()
    audit_record(action="desk_sla.save", obj=sla, object_id=str(desk.code), before=before,
                 after=_snapshot(sla, fields), actor=actor)
    config_changed(desk.brand_id)
    return sla
