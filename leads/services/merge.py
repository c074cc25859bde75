"""Merging duplicate clients."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext

from crm import services as crm_services
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import Conflict, NotAllowed, ValidationFailed
from crm.models import Client, Event, Note, Stage, Task, User
from crm.permissions import user_can
from leads import dedupe
from leads.models import ClientMerge, ContactKey, LeadContactState, LeadScore, LeadTouch
from leads.services.common import _require_reason

MERGED_TAG = "merged"


@transaction.atomic
def client_merge(*, actor: User | None, keep: Client, merge: Client, reason: str) -> ClientMerge:
    """Fold `merge` into `keep`: touches, notes, tasks, timeline events, scores and contact keys
    move to `keep`; `merge` is closed, tagged "merged" and given a note naming the survivor. Both
    histories then show on the survivor's timeline. Needs "crm.assign_client". Event "client.merged"."""
    if actor is not None and not user_can(actor, "crm.assign_client"):
        raise NotAllowed()
    reason = _require_reason(reason)
    if keep.pk == merge.pk:
        raise ValidationFailed(fields={"merge": [gettext("Choose a different client to merge.")]})
    if keep.brand_id != merge.brand_id:
        raise ValidationFailed(fields={"merge": [gettext("Only clients of the same brand can be merged.")]})
    # Lock both in id order, like every other multi-client writer.
    locked = {c.pk: c for c in Client.objects.select_for_update(of=("self",)).filter(pk__in=[keep.pk, merge.pk]).order_by("pk")}
    keep, merge = locked[keep.pk], locked[merge.pk]
    if ClientMerge.objects.filter(Q(merged_code=merge.code) | Q(merged_code=keep.code)).exists() \
            or MERGED_TAG in merge.tags or MERGED_TAG in keep.tags:
        raise Conflict(gettext("One of these clients has already been merged away."))

    dedupe.stored_keys_lock(keep.brand_id, [(k.kind, k.value) for k in ContactKey.objects.filter(client_id__in=[keep.pk, merge.pk])])
    kept_keys = set(ContactKey.objects.filter(client_id=keep.pk).values_list("kind", "value"))
    clash = [k.pk for k in ContactKey.objects.filter(client_id=merge.pk) if (k.kind, k.value) in kept_keys]
    ContactKey.objects.filter(pk__in=clash).delete()
    moved = {
        "touches": LeadTouch.objects.filter(client_id=merge.pk).update(client=keep),
        "notes": Note.objects.filter(client_id=merge.pk).update(client=keep),
        "tasks": Task.objects.filter(client_id=merge.pk).update(client=keep),
        "events": Event.objects.filter(client_id=merge.pk).update(client=keep),
        "scores": LeadScore.objects.filter(client_id=merge.pk).update(client=keep),
        "contact_keys": ContactKey.objects.filter(client_id=merge.pk).update(client=keep),
    }
    LeadContactState.objects.filter(client_id=merge.pk).delete()
    record = ClientMerge.objects.create(brand_id=keep.brand_id, kept=keep, merged=merge, kept_code=keep.code,
                                        merged_code=merge.code, actor=actor, reason=reason, moved=moved)
    crm_services.client_update(actor=None, client=merge, tags=[*merge.tags, MERGED_TAG], reason=reason)
    if merge.stage != Stage.CLOSED:
        crm_services.client_stage_change(actor=None, client=merge, stage=Stage.CLOSED, reason=reason)
    crm_services.note_add(actor=actor, client=merge, body=gettext(
        "Merged into %(name)s (client %(code)s). Reason: %(reason)s") % {
            "name": keep.full_name, "code": keep.code, "reason": reason})
    audit_record(action="client.merge", obj=keep, actor=actor, reason=reason, after={
        "kept": str(keep.code), "merged": str(merge.code), "moved": moved})
    emit("client.merged", client=keep, actor=actor, data={
        "merged": {"code": str(merge.code), "name": merge.full_name}, "moved": moved, "reason": reason})
    emit("client.merged_into", client=merge, actor=actor, data={
        "kept": {"code": str(keep.code), "name": keep.full_name}, "reason": reason})
    return record
