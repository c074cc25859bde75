"""First contact: the window a new assignment opens, marking a lead contacted, and the SLA sweep."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from crm import services as crm_services
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import ValidationFailed
from crm.lib.payloads import client_url, desk_ref, user_ref
from crm.models import Client, Desk, Note, User
from crm.services import notify_user
from leads.models import DeskSla, LeadContactState, LeadScore, LeadTouch
from leads.routing import Router
from leads.scoring import LeadFacts
from plumbing import context


def _state_reset(client: Client, *, owner: User | None, desk: Desk | None, now: datetime) -> LeadContactState:
    """A new assignment starts a new first-contact window (unless the lead was contacted already).
    The window starts with an owner: a lead waiting in a desk's queue has no deadline yet."""
    sla = (DeskSla.objects.filter(desk_id=desk.pk, is_active=True).first()
           if desk is not None and owner is not None else None)
    due = now + timedelta(minutes=sla.minutes_to_first_contact) if sla is not None else None
    state = LeadContactState.objects.select_for_update().filter(client_id=client.pk).first()
    if state is None:
        return LeadContactState.objects.create(client=client, desk=desk, owner=owner, assigned_at=now, due_at=due)
    state.desk, state.owner = desk, owner
    if state.contacted_at is None:
        state.assigned_at, state.due_at, state.escalated_at = now, due, None
    state.save()
    return state


CONTACT_VIA: tuple[str, ...] = ("note", "call", "email", "sms", "chat", "meeting")


@transaction.atomic
def lead_mark_contacted(*, actor: User | None, client: Client, via: str, at: datetime | None = None) -> bool:
    """Record the first contact with the lead (a call, email, note...). Event "lead.contacted" with
    the minutes it took and whether the SLA was met. Returns False if it was contacted already."""
    if via not in CONTACT_VIA:
        raise ValidationFailed(fields={"via": [gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(CONTACT_VIA)}]})
    # A call logged as it ends may have begun before the lead was entered (the agent registered the
    # caller during the call): the lead cannot have been contacted before it existed.
    at = max(at or timezone.now(), client.created_at)
    state = LeadContactState.objects.select_for_update().filter(client_id=client.pk).first()
    if state is not None and state.contacted_at is not None:
        return False
    if state is None:
        state = LeadContactState(client=client, desk=client.desk, owner=client.owner, assigned_at=client.created_at)
    state.contacted_at, state.contacted_via, state.contacted_by = at, via, actor
    state.save()
    minutes = max(0, int((at - state.assigned_at).total_seconds() // 60))
    within = None if state.due_at is None else at <= state.due_at
    emit("lead.contacted", client=client, actor=actor, occurred_at=at,
         data={"via": via, "minutes": minutes, "within_sla": within, "by": user_ref(actor)})
    audit_record(action="lead.contacted", obj=client, after={"via": via, "at": at}, actor=actor)
    return True


SLA_BATCH = 200


def _latest_touch(client: Client) -> LeadTouch | None:
    return LeadTouch.objects.filter(client_id=client.pk).order_by("-created_at", "-id").first()


def _latest_score(client: Client) -> int:
    row = LeadScore.objects.filter(client_id=client.pk).order_by("-computed_at", "-id").values_list("score", flat=True).first()
    return int(row or 0)


def lead_sla_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Escalate leads whose first contact is overdue: once per assignment, the desk's escalation
    contact (or manager) is notified and "lead.sla_breached" emitted; desks with auto_reassign
    route the lead again, to someone else. Leads whose owner wrote a note meanwhile count as
    contacted instead. Safe to run concurrently and repeatedly: each breach fires once."""
    now = now or timezone.now()
    counts = {"escalated": 0, "reassigned": 0, "contacted": 0}
    while True:
        with transaction.atomic():
            due = list(
                LeadContactState.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(contacted_at__isnull=True, escalated_at__isnull=True, due_at__isnull=False, due_at__lte=now)
                .select_related("client", "client__brand", "client__owner", "client__desk", "desk", "desk__manager",
                                "owner")
                .order_by("due_at", "id")[:SLA_BATCH]
            )
            for state in due:
                _sla_handle(state, now, counts)
        if len(due) < SLA_BATCH:
            return counts


def _sla_handle(state: LeadContactState, now: datetime, counts: dict[str, int]) -> None:
    client = state.client
    if state.owner_id:
        note_at = (Note.objects.filter(client_id=client.pk, author_id=state.owner_id, created_at__gte=state.assigned_at)
                   .order_by("created_at").values_list("created_at", flat=True).first())
        if note_at is not None:
            lead_mark_contacted(actor=state.owner, client=client, via="note", at=note_at)
            counts["contacted"] += 1
            return
    sla = (DeskSla.objects.select_related("escalate_to").filter(desk_id=state.desk_id).first()
           if state.desk_id is not None else None)
    escalate_to = (sla.escalate_to if sla is not None else None) or (state.desk.manager if state.desk else None)
    auto = bool(sla and sla.auto_reassign)
    state.escalated_at = now
    state.escalations += 1
    state.save(update_fields=["escalated_at", "escalations"])
    emit("lead.sla_breached", client=client, actor=None, occurred_at=now, data={
        "owner": user_ref(state.owner), "desk": desk_ref(state.desk), "due_at": state.due_at,
        "minutes": sla.minutes_to_first_contact if sla else None, "escalated_to": user_ref(escalate_to),
        "auto_reassign": auto,
    })
    counts["escalated"] += 1
    notify_user(escalate_to, kind="lead_sla_breached", title=gettext_noop("First-contact SLA missed: %(name)s"),
                params={"name": client.full_name},
                body=state.owner.full_name if state.owner else "", url=client_url(client))
    if not auto:
        return
    router = Router(client.brand, now=now)
    touch = _latest_touch(client)
    facts = LeadFacts.of_client(client, touch).with_score(_latest_score(client))
    decision = router.route(facts, exclude=[client.owner_id] if client.owner_id else [])
    if decision.owner is None or decision.owner.pk == client.owner_id:
        return
    with context.acting_as(None, source="task"):
        crm_services.client_assign(actor=None, client=client, owner=decision.owner, desk=decision.desk,
                                   reason=gettext("First-contact SLA missed: reassigned automatically"))
    router.save()
    _state_reset(client, owner=decision.owner, desk=decision.desk, now=now)
    emit("lead.routed", client=client, actor=None, occurred_at=now, data=decision.as_event_data())
    counts["reassigned"] += 1
