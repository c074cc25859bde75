"""The sales pipeline of each brand: its statuses, and moving a client between them.

A client without a ClientPipeline row is at its brand's first active status. Every move emits
"lead.status_changed" with from/to and the reason: that stream is the pipeline's history.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import Brand, Client, User
from crm.permissions import user_can
from leads.models import CallOutcome, ClientPipeline, PipelineStatus

REASON_MAX = 500

# (key, label, is_won, is_lost, call outcomes that move a client there): the statuses every brand
# starts with. Labels are stored in English (brands rename them); gettext_noop marks them for the
# catalogue. A wrong number says nothing about the client's interest, so it moves nobody.
DEFAULT_STATUSES: tuple[tuple[str, str, bool, bool, tuple[str, ...]], ...] = (
    ("new", gettext_noop("New"), False, False, ()),
    ("contacted", gettext_noop("Contacted"), False, False, (CallOutcome.CONNECTED,)),
    ("no_answer", gettext_noop("No answer"), False, False,
     (CallOutcome.NO_ANSWER, CallOutcome.BUSY, CallOutcome.VOICEMAIL)),
    ("call_back", gettext_noop("Call back"), False, False, (CallOutcome.CALLBACK,)),
    ("interested", gettext_noop("Interested"), False, False, (CallOutcome.INTERESTED,)),
    ("registered", gettext_noop("Registered"), True, False, (CallOutcome.REGISTERED,)),
    ("not_interested", gettext_noop("Not interested"), False, True, (CallOutcome.NOT_INTERESTED,)),
)


@transaction.atomic
def pipeline_defaults_ensure(*, brand: Brand) -> int:
    """Create the default statuses the brand lacks (existing ones are left as the brand set them).
    Returns how many were created. Idempotent."""
    have = set(PipelineStatus.objects.filter(brand=brand).values_list("key", flat=True))
    # An outcome a status of the brand already claims stays with it.
    claimed = {o for outcomes in PipelineStatus.objects.filter(brand=brand).values_list("call_outcomes", flat=True)
               for o in outcomes}
    rows = [PipelineStatus(brand=brand, key=key, label=label, order=(i + 1) * 10, is_won=won, is_lost=lost,
                           call_outcomes=[str(o) for o in outcomes if o not in claimed])
            for i, (key, label, won, lost, outcomes) in enumerate(DEFAULT_STATUSES) if key not in have]
    PipelineStatus.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def pipeline_statuses(*, brand_id: int) -> list[PipelineStatus]:
    return list(PipelineStatus.objects.filter(brand_id=brand_id, is_active=True).order_by("order", "id"))


def pipeline_status_of(*, client: Client) -> PipelineStatus | None:
    """The client's current status (the brand's first active one when never moved)."""
    row = ClientPipeline.objects.filter(client_id=client.pk).select_related("status").first()
    if row is not None:
        return row.status
    return PipelineStatus.objects.filter(brand_id=client.brand_id, is_active=True).order_by("order", "id").first()


@transaction.atomic
def pipeline_move(*, actor: User | None, client: Client, status: str, reason: str = "") -> ClientPipeline:
    """Move `client` to the status with key `status` of its brand. Event "lead.status_changed"
    (from, to, reason); moving to the current status changes nothing and emits nothing."""
    if actor is not None and not user_can(actor, "crm.change_client"):
        raise NotAllowed(gettext("You are not allowed to change this client's pipeline status."))
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise ValidationFailed(fields={"reason": [gettext("Keep the reason under %(n)s characters.") % {"n": REASON_MAX}]})
    target = PipelineStatus.objects.filter(brand_id=client.brand_id, key=status, is_active=True).first()
    if target is None:
        raise ValidationFailed(fields={"status": [gettext("Choose a status of this brand's pipeline.")]})
    row = ClientPipeline.objects.select_for_update(of=("self",)).filter(client_id=client.pk).select_related("status").first()
    current = row.status if row is not None else pipeline_status_of(client=client)
    if row is not None and row.status_id == target.pk:
        return row
    now = timezone.now()
    if row is None:
        row = ClientPipeline(client=client)
    row.status, row.changed_at, row.changed_by = target, now, actor
    row.save()
    before = None if current is None else current.key
    emit("lead.status_changed", client=client, actor=actor, occurred_at=now, data={
        "from": before, "from_label": None if current is None else current.label,
        "to": target.key, "to_label": target.label, "reason": reason,
        "won": target.is_won, "lost": target.is_lost,
    })
    audit_record(action="lead.status_changed", obj=client, before={"status": before}, after={"status": target.key},
                 reason=reason, actor=actor)
    return row


@transaction.atomic
def pipeline_status_save(*, actor: User | None, brand: Brand, key: str, label: str, order: int = 0,
                         is_won: bool = False, is_lost: bool = False, is_active: bool = True,
                         call_outcomes: Sequence[str] | None = None) -> PipelineStatus:
    """Create the brand's status `key` or change its label, order, outcome flags, activity and the
    call outcomes that move a client to it (None keeps an existing status's outcomes). An outcome
    belongs to one status of a brand. Administrators only. Keys are kept forever (the event history
    names them); retire a status by deactivating it."""
    if actor is not None and not getattr(actor, "is_administrator", False):
        raise NotAllowed(gettext("Only administrators configure the pipeline."))
    from django.utils.text import slugify

    errors: dict[str, list[str]] = {}
    clean_key = slugify(key or "").replace("-", "_")[:40]
    if not clean_key:
        errors["key"] = [gettext("Use letters, digits and underscores.")]
    label = " ".join((label or "").split())
    if not label or len(label) > 80:
        errors["label"] = [gettext("Give a label of up to 80 characters.")]
    if is_won and is_lost:
        errors["is_lost"] = [gettext("A status cannot be both won and lost.")]
    if not isinstance(order, int) or order < 0:
        errors["order"] = [gettext("Give a whole number of zero or more.")]
    outcomes: list[str] | None = None
    if call_outcomes is not None:
        outcomes = sorted({str(o) for o in call_outcomes})
        unknown = [o for o in outcomes if o not in CallOutcome.values]
        if unknown:
            errors["call_outcomes"] = [gettext("Not a call outcome: %(v)s.") % {"v": ", ".join(unknown)}]
        else:
            # Locked so that two administrators cannot give one outcome to two statuses at once.
            others = (PipelineStatus.objects.select_for_update().filter(brand=brand, is_active=True)
                      .exclude(key=clean_key).filter(call_outcomes__overlap=outcomes))
            for other in others:
                taken = [str(CallOutcome(o).label) for o in outcomes if o in other.call_outcomes]
                errors.setdefault("call_outcomes", []).append(
                    gettext("%(outcomes)s already moves clients to “%(status)s”: take it off that status first.")
                    % {"outcomes": ", ".join(taken), "status": other.label})
    if errors:
        raise ValidationFailed(fields=errors)
    status = PipelineStatus.objects.select_for_update().filter(brand=brand, key=clean_key).first()
    before = None if status is None else {"label": status.label, "order": status.order, "is_won": status.is_won,
                                          "is_lost": status.is_lost, "is_active": status.is_active,
                                          "call_outcomes": status.call_outcomes}
    if status is None:
        status = PipelineStatus(brand=brand, key=clean_key)
    status.label, status.order, status.is_won, status.is_lost, status.is_active = label, order, is_won, is_lost, is_active
    if outcomes is not None:
        status.call_outcomes = outcomes
    status.save()
    audit_record(action="pipeline_status.saved", obj=status, before=before, after={
        "key": clean_key, "label": label, "order": order, "is_won": is_won, "is_lost": is_lost, "is_active": is_active,
        "call_outcomes": status.call_outcomes,
    }, actor=actor)
    return status


def pipeline_follow_call(*, actor: User | None, client: Client, outcome: str) -> ClientPipeline | None:
    """Move `client` to the status its brand maps the call `outcome` to, in the caller's transaction
    (call_log). The pipeline only moves forward: an outcome never takes a client back to an earlier
    status (a missed call after "Interested" leaves them interested) nor out of a won or lost one;
    a lost outcome ("Not interested") applies from any open status. None when nothing moved."""
    target = (PipelineStatus.objects.filter(brand_id=client.brand_id, is_active=True, call_outcomes__contains=[outcome])
              .order_by("order", "id").first())
    if target is None:
        return None
    current = pipeline_status_of(client=client)
    if current is not None:
        if current.pk == target.pk or current.is_won or current.is_lost:
            return None
        if not (target.is_won or target.is_lost) and (target.order, target.pk) <= (current.order, current.pk):
            return None
    label = CallOutcome(outcome).label if outcome in CallOutcome.values else outcome
    return pipeline_move(actor=actor, client=client, status=target.key,
                         reason=gettext("Call logged: %(outcome)s") % {"outcome": label})
