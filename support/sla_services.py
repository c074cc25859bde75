"""A ticket's SLA clocks: their due times, the pause while it waits for the client, and the sweep
that warns before a breach and escalates on one.

Two clocks run from the moment a ticket is opened, in business minutes of its desk's calendar
(support.sla: the desk's time zone, weekly hours and DeskHoliday rows), with the targets of the
desk's SLAPolicy for the ticket's priority (no policy: no clock, no due time):

- first response: due `first_response_minutes` after opening; stopped by the first staff answer
  (`first_response_at`, set by support.services).
- resolution: due `resolution_minutes` after opening, plus the business minutes the clock stood
  still. It stands still while the ticket is waiting for the client, resolved, closed or merged
  (`paused_at`), and runs while the ticket is new, open or on hold. When the ticket runs again
  (the client answers, a resolved ticket is reopened) the business minutes of the stop are added to
  `paused_minutes` (whole minutes, rounded) and the due time moves by them; a stop that began after
  the clock had run out adds nothing (the breach stands).

``sla_sweep`` (Celery beat, every minute; support.tasks.sla_sweep) then, each at most once per
ticket and clock:

- warns the assignee (the desk's manager for an unassigned ticket) when the due time is within the
  policy's `warn_before_minutes` business minutes (`*_warned_at`; 0 minutes: no warning);
- past the due time, marks the clock breached (`*_breached_at`), emits support.ticket.breached
  (automation rules and outbound webhooks see it) and escalates: the desk's manager is notified
  (`escalated_at`: the first escalation).

The sweep selects only the tickets it acts on, by indexed due times, in batches locked with SKIP
LOCKED, so two sweeps at once never act twice; it never loops over every open ticket.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from crm.events import emit
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue
from crm.services import notify_user
from support import desk_cache
from support.models import SLAPolicy, SupportDesk, Ticket, TicketStatus
from support.sla import BusinessCalendar

# The resolution clock runs in these statuses and stands still in the others.
CLOCK_RUNNING = frozenset({TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.ON_HOLD})
# The first-response clock runs until the first answer in every status a ticket is worked in.
FIRST_RESPONSE_RUNNING = frozenset({TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING_CLIENT,
                                    TicketStatus.ON_HOLD})
SWEEP_BATCH = 200
logger = logging.getLogger(__name__)

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"


# --- calendars and policies ------------------------------------------------------------------------

def calendar_for_desk(desk: SupportDesk) -> BusinessCalendar:
    """The desk's business calendar: its zone, weekly hours and every DeskHoliday of it (the holidays
    cached per process by support.desk_cache until a desk's setup changes).

    Raises crm.lib.validation.InvalidValue (naming time_zone or business_hours) when the desk's
    stored settings are not a calendar; the desk's own services validate them with
    support.sla.parse_business_hours before saving, so a saved desk always has one."""
    return desk_cache.desk_calendar(desk)


def sla_policy_for(*, desk: SupportDesk, priority: str) -> SLAPolicy | None:
    """The desk's SLA policy for `priority`, or None when it sets none (support.desk_cache: read once
    per process until a desk's setup changes; treat it as read-only)."""
    return desk_cache.desk_policies(desk.pk).get(priority)


def ticket_sla_dues(ticket: Ticket, *, calendar: BusinessCalendar | None = None,
                    policy: SLAPolicy | None = None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first_response_due, resolution_due) of `ticket` (saved or not: it needs its desk, priority,
    created_at and paused_minutes), UTC; (None, None) when its desk has no policy for its
    priority. The resolution due time includes the business minutes paused so far."""
    policy = policy if policy is not None else sla_policy_for(desk=ticket.desk, priority=ticket.priority)
    if policy is None:
        return None, None
    calendar = calendar if calendar is not None else calendar_for_desk(ticket.desk)
    opened = ticket.created_at
    return (calendar.add_business_minutes(opened, policy.first_response_minutes),
            calendar.add_business_minutes(opened, policy.resolution_minutes + ticket.paused_minutes))


def ticket_sla_apply(ticket: Ticket) -> list[str]:
    """Set `ticket`'s due times from its desk's policy and calendar (on opening, and again when its
    priority or desk changes); returns the fields changed, for the caller's save. A clock already
    answered or breached keeps its due time; a due time that moves later is warned about again."""
    first_due, resolution_due = ticket_sla_dues(ticket)
    changed: list[str] = []
    if ticket.first_response_at is None and ticket.first_response_breached_at is None:
        changed += _set_due(ticket, "first_response", first_due)
    if ticket.resolution_breached_at is None:
        changed += _set_due(ticket, "resolution", resolution_due)
    return changed


def _set_due(ticket: Ticket, clock: str, due: dt.datetime | None) -> list[str]:
    old = getattr(ticket, f"{clock}_due")
    if old == due:
        return []
    setattr(ticket, f"{clock}_due", due)
    changed = [f"{clock}_due"]
    if getattr(ticket, f"{clock}_warned_at") is not None and (due is None or old is None or due > old):
        setattr(ticket, f"{clock}_warned_at", None)
        changed.append(f"{clock}_warned_at")
    return changed


def ticket_sla_status_changed(ticket: Ticket, *, old: str, new: str, at: dt.datetime) -> list[str]:
    """Stop or restart `ticket`'s resolution clock for its move from status `old` to `new` at `at`
    (support.services calls it on every status change, before saving); returns the fields changed.

    Into a stopped status (waiting for the client, resolved, closed, merged) the clock stops at
    `at`. Back into a running one (new, open, on hold) the business minutes stopped are added to
    `paused_minutes` and the resolution due time moves by them, unless the stop began when the
    clock had already run out."""
    was_running, runs = old in CLOCK_RUNNING, new in CLOCK_RUNNING
    if was_running and not runs:
        if ticket.paused_at is None:
            ticket.paused_at = at
            return ["paused_at"]
        return []
    if runs and not was_running and ticket.paused_at is not None:
        paused_at, ticket.paused_at = ticket.paused_at, None
        changed = ["paused_at"]
        if ticket.resolution_due is not None and paused_at < ticket.resolution_due:
            calendar = calendar_for_desk(ticket.desk)
            stopped = round(calendar.business_minutes_between(paused_at, at))
            if stopped > 0:
                ticket.paused_minutes += stopped
                changed.append("paused_minutes")
                policy = sla_policy_for(desk=ticket.desk, priority=ticket.priority)
                if policy is not None and ticket.resolution_breached_at is None:
                    _, due = ticket_sla_dues(ticket, calendar=calendar, policy=policy)
                    changed += _set_due(ticket, "resolution", due)
        return changed
    return []


def ticket_sla_stopped_late(ticket: Ticket, *, at: dt.datetime) -> list[str]:
    """Mark breached at `at` the clocks of `ticket` (saved, locked) that stopped after their due time
    before the sweep's next pass could see them running: the first answer given late, the resolution
    clock stopped late (waiting for the client, resolved, closed). Each as the sweep does it (event
    support.ticket.breached, the desk's manager told), once. Returns the clocks marked."""
    late: list[str] = []
    if (ticket.first_response_breached_at is None and ticket.first_response_due is not None
            and ticket.first_response_at is not None and ticket.first_response_at > ticket.first_response_due):
        late.append(FIRST_RESPONSE)
    if (ticket.resolution_breached_at is None and ticket.resolution_due is not None
            and ticket.status not in CLOCK_RUNNING and ticket.status != TicketStatus.MERGED
            and ticket.paused_at is not None
            and ticket.paused_at > ticket.resolution_due):
        late.append(RESOLUTION)
    for clock in late:
        escalates = ticket.desk.manager is not None and ticket.escalated_at is None
        _breach(ticket, clock, at, SweepResult())
        setattr(ticket, f"{clock}_breached_at", at)
        if escalates:
            ticket.escalated_at = at
    return late


# --- the sweep ---------------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """What one sweep did: tickets warned, breached (per clock) and escalations sent."""

    warned: int = 0
    breached: int = 0
    escalated: int = 0
    tickets: list[str] = field(default_factory=list)  # the references breached, in order

    def as_dict(self) -> dict[str, int]:
        return {"warned": self.warned, "breached": self.breached, "escalated": self.escalated}


def sla_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Warn about tickets close to a breach and breach (and escalate) those past due, each once
    (see the module's docstring). Safe to run concurrently and repeatedly."""
    now = now or timezone.now()
    result = SweepResult()
    horizons = _warning_horizons(now)
    for clock in (FIRST_RESPONSE, RESOLUTION):
        if horizons:
            _sweep_batches(_warn_candidates(clock, horizons, now), clock,
                           lambda ticket, c=clock: _warn(ticket, c, now, result))
        _sweep_batches(_breach_candidates(clock, now), clock, lambda ticket, c=clock: _breach(ticket, c, now, result))
    return result


def _sweep_batches(candidates: QuerySet[Ticket], clock: str, act: Any) -> None:
    """Batches of the candidates, the soonest due first: in the order of the clock's running index
    (support.models.Ticket.Meta), so that PostgreSQL reads only the due ones from it (in id order
    it walked the primary key through every ticket when it expected many due)."""
    while True:
        with transaction.atomic():
            batch = list(candidates.select_for_update(skip_locked=True, of=("self",))
                         .select_related("desk", "desk__manager", "assignee", "client")
                         .order_by(f"{clock}_due", "pk")[:SWEEP_BATCH])
            for ticket in batch:
                act(ticket)
        if len(batch) < SWEEP_BATCH:
            return


def _warning_horizons(now: dt.datetime) -> list[tuple[int, str, dt.datetime]]:
    """(desk id, priority, horizon) per active policy that warns: a clock due at or before its
    horizon has at most `warn_before_minutes` business minutes left. The horizon is moved on past
    any closed hours after it, so a due time at the next opening is warned about with the others."""
    policies = (SLAPolicy.objects.filter(warn_before_minutes__gt=0, desk__active=True)
                .select_related("desk").order_by("desk_id", "priority"))
    calendars: dict[int, BusinessCalendar | None] = {}
    horizons = []
    for policy in policies:
        desk = policy.desk
        if desk.pk not in calendars:
            try:
                calendars[desk.pk] = calendar_for_desk(desk)
            except InvalidValue:
                # Saved desks are checked (support.services.desk_save); one changed behind its back
                # must not stop the warnings of every other desk.
                logger.exception("support desk %s has no valid calendar: no SLA warnings for it", desk.pk)
                calendars[desk.pk] = None
        calendar = calendars[desk.pk]
        if calendar is None:
            continue
        horizon = calendar.add_business_minutes(calendar.add_business_minutes(now, policy.warn_before_minutes), 0)
        horizons.append((desk.pk, policy.priority, horizon))
    return horizons


def _running(clock: str) -> Q:
    if clock == FIRST_RESPONSE:
        return Q(status__in=FIRST_RESPONSE_RUNNING, first_response_at__isnull=True,
                 first_response_breached_at__isnull=True, first_response_due__isnull=False)
    return Q(status__in=CLOCK_RUNNING, resolution_breached_at__isnull=True, resolution_due__isnull=False)


def _warn_candidates(clock: str, horizons: Iterable[tuple[int, str, dt.datetime]],
                     now: dt.datetime) -> QuerySet[Ticket]:
    """Not yet warned, due after `now` (one already due is breached instead) and by its horizon."""
    within = Q()
    for desk_id, priority, horizon in horizons:
        within |= Q(desk_id=desk_id, priority=priority, **{f"{clock}_due__lte": horizon})
    return Ticket.objects.filter(_running(clock), within, **{f"{clock}_warned_at__isnull": True,
                                                             f"{clock}_due__gt": now})


def _breach_candidates(clock: str, now: dt.datetime) -> QuerySet[Ticket]:
    return Ticket.objects.filter(_running(clock), **{f"{clock}_due__lte": now})


def _ticket_url(ticket: Ticket) -> str:
    """The staff page of the ticket ("support_ticket", by reference, like "support_complaint"), or ""
    while there is none."""
    try:
        return reverse("support_ticket", args=[ticket.reference])
    except NoReverseMatch:
        return ""


def _warn(ticket: Ticket, clock: str, now: dt.datetime, result: SweepResult) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(**{f"{clock}_warned_at": now})
    recipient = ticket.assignee or ticket.desk.manager
    title = (gettext_noop("First response due soon: %(reference)s %(subject)s") if clock == FIRST_RESPONSE
             else gettext_noop("Resolution due soon: %(reference)s %(subject)s"))
    notify_user(recipient, kind="support_sla_warning", title=title,
                params={"reference": ticket.reference, "subject": ticket.subject}, url=_ticket_url(ticket))
    result.warned += 1


def _breach(ticket: Ticket, clock: str, now: dt.datetime, result: SweepResult) -> None:
    due = getattr(ticket, f"{clock}_due")
    changes: dict[str, Any] = {f"{clock}_breached_at": now}
    manager = ticket.desk.manager
    if manager is not None and ticket.escalated_at is None:
        changes["escalated_at"] = now
    Ticket.objects.filter(pk=ticket.pk).update(**changes)
    emit("support.ticket.breached", client=ticket.client, brand=ticket.brand_id, actor=None, occurred_at=now, data={
        "ticket": ticket.reference, "subject": ticket.subject, "desk": ticket.desk.code,
        "priority": ticket.priority, "client": str(ticket.client.code) if ticket.client is not None else None,
        "target": clock, "due": due.isoformat(), "assignee": user_ref(ticket.assignee),
    })
    result.breached += 1
    result.tickets.append(ticket.reference)
    title = (gettext_noop("First response overdue: %(reference)s %(subject)s") if clock == FIRST_RESPONSE
             else gettext_noop("Resolution overdue: %(reference)s %(subject)s"))
    body = ticket.assignee.full_name if ticket.assignee is not None else ""
    if notify_user(manager, kind="support_sla_breached", title=title, body=body, url=_ticket_url(ticket),
                   params={"reference": ticket.reference, "subject": ticket.subject}) is not None:
        result.escalated += 1
