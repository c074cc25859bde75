"""The sales pipeline of each brand: its statuses, and moving a client between them.

A client without a ClientPipeline row is at its brand's first active status. Every move emits
"lead.status_changed" with from/to and the reason: that stream is the pipeline's history.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import Brand, Client, User
from crm.permissions import user_can
from leads.models import ClientPipeline, PipelineStatus

REASON_MAX = 500

# (key, label, is_won, is_lost): the statuses every brand starts with. Labels are stored in English
# (brands rename them); gettext_noop marks them for the catalogue.
DEFAULT_STATUSES: tuple[tuple[str, str, bool, bool], ...] = (
    ("new", gettext_noop("New"), False, False),
    ("contacted", gettext_noop("Contacted"), False, False),
    ("no_answer", gettext_noop("No answer"), False, False),
    ("call_back", gettext_noop("Call back"), False, False),
    ("interested", gettext_noop("Interested"), False, False),
    ("registered", gettext_noop("Registered"), True, False),
    ("not_interested", gettext_noop("Not interested"), False, True),
)


@transaction.atomic
def pipeline_defaults_ensure(*, brand: Brand) -> int:
    """Create the default statuses the brand lacks (existing ones are left as the brand set them).
    Returns how many were created. Idempotent."""
    have = set(PipelineStatus.objects.filter(brand=brand).values_list("key", flat=True))
    rows = [PipelineStatus(brand=brand, key=key, label=label, order=(i + 1) * 10, is_won=won, is_lost=lost)
            for i, (key, label, won, lost) in enumerate(DEFAULT_STATUSES) if key not in have]
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
    row = ClientPipeline.objects.select_for_update().filter(client_id=client.pk).select_related("status").first()
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
                         is_won: bool = False, is_lost: bool = False, is_active: bool = True) -> PipelineStatus:
    """Create the brand's status `key` or change its label, order, outcome flags and activity.
    Administrators only. Keys are kept forever (the event history names them); retire a status
    by deactivating it."""
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
    if errors:
        raise ValidationFailed(fields=errors)
    status = PipelineStatus.objects.select_for_update().filter(brand=brand, key=clean_key).first()
    before = None if status is None else {"label": status.label, "order": status.order, "is_won": status.is_won,
                                          "is_lost": status.is_lost, "is_active": status.is_active}
    if status is None:
        status = PipelineStatus(brand=brand, key=clean_key)
    status.label, status.order, status.is_won, status.is_lost, status.is_active = label, order, is_won, is_lost, is_active
    status.save()
    audit_record(action="pipeline_status.saved", obj=status, before=before, after={
        "key": clean_key, "label": label, "order": order, "is_won": is_won, "is_lost": is_lost, "is_active": is_active,
    }, actor=actor)
    return status
