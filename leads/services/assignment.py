"""Giving leads to agents by hand: one or many, with a reason."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm import services as crm_services
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.payloads import desk_ref, user_ref
from crm.models import Client, Desk, Stage, User
from crm.models.locks import client_lock_queryset
from crm.permissions import assignment_refusal, user_can
from leads.models import LeadContactState
from leads.services.common import _require_reason
from leads.services.first_contact import _state_reset


def _assignable_by(actor: User | None, owner: User | None, desk: Desk | None) -> None:
    """Administrators assign to anyone; desk managers only within the desks they run."""
    if actor is None or actor.is_administrator:
        return
    if not user_can(actor, "crm.assign_client"):
        raise NotAllowed()
    # The core's rule, the same the API and every other assignment follow.
    target_desk = desk if desk is not None else (owner.desk if owner is not None else None)
    refusal = assignment_refusal(actor, owner=owner, desk=target_desk)
    if refusal:
        raise ValidationFailed(fields={"owner": [refusal]})


@transaction.atomic
def lead_reassign(*, actor: User | None, client: Client, owner: User | None, desk: Desk | None = None,
                  reason: str) -> Client:
    """Give the lead to `owner` (None: back to the desk's queue) with a reason, which the audit
    row and the "client.assigned" event keep. Restarts the first-contact window."""
    reason = _require_reason(reason)
    _assignable_by(actor, owner, desk)
    before = client.owner_id
    client = crm_services.client_assign(actor=actor, client=client, owner=owner, desk=desk, reason=reason)
    if client.owner_id != before or owner is None:
        now = timezone.now()
        state = _state_reset(client, owner=client.owner, desk=client.desk, now=now)
        if client.owner is not None and state.contacted_at is None and client.stage == Stage.LEAD:
            # Routing by hand is routing: what follows a routed lead (the playbook's first call on the
            # new owner's list) follows this one too, e.g. a lead that waited in the queue off shift.
            emit("lead.routed", client=client, actor=actor, occurred_at=now, data={
                "rule": None, "strategy": "", "owner": user_ref(client.owner),
                "desk": desk_ref(client.desk),
                "queued": False, "why": [gettext("assigned by hand: %(reason)s") % {"reason": reason}],
                "skipped": [], "manual": True,
            })
    return client


@transaction.atomic
def lead_reassign_bulk(*, actor: User | None, clients: Iterable[Client], owner: User | None,
                       desk: Desk | None = None, reason: str) -> int:
    """lead_reassign for each client, all or nothing. Returns how many changed hands."""
    reason = _require_reason(reason)
    changed = 0
    for client in clients:
        before = (client.owner_id, client.desk_id)
        client = lead_reassign(actor=actor, client=client, owner=owner, desk=desk, reason=reason)
        changed += (client.owner_id, client.desk_id) != before
    return changed


@transaction.atomic
def lead_owner_follow(*, client_id: int, owner_code: str, actor: User | None, reason: str = "") -> bool:
    """A client given an owner outside the lead pages (the client's page or list, the API, an
    automation rule: crm.services.client_assign, which knows nothing of leads) starts the lead's
    first-contact window then, and a lead not yet contacted gets its "lead.routed", which the
    playbook's first call follows, as lead_reassign does. Nothing when the lead pages did it
    already, when the client has had another owner since, or when it was never routed.
    Returns whether anything changed."""
    client = (client_lock_queryset().select_related("owner", "desk").filter(pk=client_id).first())
    if client is None or client.owner is None or str(client.owner.code) != owner_code:
        return False
    state = LeadContactState.objects.select_for_update().filter(client_id=client.pk).first()
    if state is None or state.owner_id == client.owner_id:
        return False
    now = timezone.now()
    state = _state_reset(client, owner=client.owner, desk=client.desk, now=now)
    if state.contacted_at is None and client.stage == Stage.LEAD:
        why = gettext("assigned by hand: %(reason)s") % {"reason": reason} if reason else gettext("assigned by hand")
        emit("lead.routed", client=client, actor=actor, occurred_at=now, data={
            "rule": None, "strategy": "", "owner": user_ref(client.owner), "desk": desk_ref(client.desk),
            "queued": False, "why": [why], "skipped": [], "manual": True,
        })
    return True
