"""Agents' availability and shifts, which routing follows."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import time

from django.db import transaction
from django.utils.translation import gettext
from kombu.exceptions import OperationalError as BrokerError

from crm.audit import audit_record
from crm.exceptions import FieldErrors, NotAllowed
from crm.lib.enqueue import task_named
from crm.models import Brand, Desk, RoleCode, User
from leads.config import config_changed
from leads.models import AgentAvailability, AvailabilityStatus
from leads.services.common import _snapshot, text_field

AVAILABILITY_FIELDS = ("status", "shift_start", "shift_end", "shift_days", "note")
logger = logging.getLogger(__name__)


@transaction.atomic
def agent_availability_set(*, actor: User | None, user: User, status: str, shift_start: time | None = None,
                           shift_end: time | None = None, shift_days: Iterable[int] = (), note: str = "") -> AgentAvailability:
    """Whether routing may give `user` leads, and their own shift (in their time zone; without one the
    desk's hours apply). Administrators set anyone's; desk managers those of their desks' agents."""
    if actor is not None and not actor.is_administrator:
        managed = Desk.objects.filter(manager_id=actor.pk).values_list("pk", flat=True)
        if actor.role_code != RoleCode.DESK_MANAGER or user.desk_id not in set(managed):
            raise NotAllowed()
    errors = FieldErrors()
    if status not in AvailabilityStatus.values:
        errors.add("status", gettext("Choose a valid status."))
    if (shift_start is None) != (shift_end is None):
        errors.add("shift_end", gettext("Give both the start and the end of the shift, or neither."))
    if shift_start is not None and shift_start == shift_end:
        errors.add("shift_end", gettext("The shift must not start and end at the same time."))
    days = sorted({int(d) for d in shift_days or ()})
    if any(d < 1 or d > 7 for d in days):
        errors.add("shift_days", gettext("Days are 1 (Monday) to 7 (Sunday)."))
    note = text_field(note, "note", 200, errors=errors)
    errors.raise_if_any()
    availability = AgentAvailability.objects.select_for_update().filter(user_id=user.pk).first()
    before = _snapshot(availability, AVAILABILITY_FIELDS) if availability is not None else None
    availability = availability or AgentAvailability(user=user)
    availability.status, availability.shift_start, availability.shift_end = status, shift_start, shift_end
    availability.shift_days, availability.note, availability.updated_by = days, note, actor
    availability.save()
    audit_record(action="agent_availability.set", obj=availability, object_id=str(user.code), before=before,
                 after=_snapshot(availability, AVAILABILITY_FIELDS), actor=actor)
    brand_ids = set(Brand.objects.values_list("pk", flat=True)) if user.all_brands else set(
        user.brands.values_list("pk", flat=True))
    if user.desk is not None:
        brand_ids.add(user.desk.brand_id)
    for brand_id in brand_ids:
        config_changed(brand_id)
    if status == AvailabilityStatus.AVAILABLE:
        # An agent checking in takes the leads waiting for them now, not at the next minute's sweep.
        transaction.on_commit(_queue_route_soon, robust=True)
    return availability


def _queue_route_soon() -> None:
    try:
        task_named("leads.tasks.lead_queue_route").apply_async()
    except BrokerError:
        logger.warning("could not queue the desk queues' routing; the minute sweep will", exc_info=True)
