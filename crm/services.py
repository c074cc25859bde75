"""Every write of the core: clients, notes, tasks, notifications, API keys, staff users.

Conventions: keyword-only arguments with the actor first; one transaction per call; input is
validated before anything is written and bad input raises ValidationFailed naming each field;
each change writes an audit row (before/after, with email and phone masked) and, where it
belongs on a timeline, a domain event. `actor=None` means the system (imports, tasks, seeding):
no permission check applies and the acting context supplies the audit actor.

Services trust that the caller fetched objects through the access helpers in crm.permissions
(so the actor can see them); they check what the actor may *do* and raise NotAllowed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import string
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from crm import apikey_cache, stages
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import Conflict, FieldErrors, NotAllowed, StageRefused, ValidationFailed
from crm.lib import context
from crm.lib.phone import phone_normalise
from crm.lib.validation import (
    InvalidValue,
    country_normalise,
    email_normalise,
    language_normalise,
    text_clean,
    timezone_normalise,
)
from crm.models import (
    AccessEvent,
    AccessKind,
    ApiKey,
    Brand,
    Classification,
    Client,
    ClientUserObjectPermission,
    Desk,
    Note,
    Notification,
    Role,
    RoleCode,
    Stage,
    Task,
    User,
)
from crm.permissions import (
    SHARE_PERMISSION,
    assignment_refusal,
    client_visible_to,
    task_assignee_refusal,
    user_can,
)
from crm.registry import API_SCOPES
from crm.selectors import mask_email, mask_phone

# --- shared helpers ------------------------------------------------------------------------------


def _now() -> datetime:
    # Some services take a `timezone` argument that shadows django.utils.timezone.
    return timezone.now()


def _require(actor: User | None, perm: str) -> None:
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()


def _user_in_brand(user: User, brand_id: int) -> bool:
    return user.is_administrator or user.all_brands or user.brands.filter(pk=brand_id).exists()


def _user_ref(user: User | None) -> dict[str, str] | None:
    return None if user is None else {"code": str(user.code), "name": user.full_name or user.email}


def _desk_ref(desk: Desk | None) -> dict[str, str] | None:
    return None if desk is None else {"code": str(desk.code), "name": desk.name}


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


# How far a task's due time or reminder may lie from now: a task may be logged as overdue, but
# not from another decade (a typo of 1999 or 9999 would sort above or below every real task).
TASK_TIME_PAST = timedelta(days=366)
TASK_TIME_FUTURE = timedelta(days=5 * 366)


def _task_time(value: Any, field: str, errors: FieldErrors) -> datetime | None:
    moment = _aware(value, field, errors)
    if moment is None:
        return None
    now = timezone.now()
    if moment < now - TASK_TIME_PAST:
        errors.add(field, gettext("Choose a date within the last year, or leave it empty."))
        return None
    if moment > now + TASK_TIME_FUTURE:
        errors.add(field, gettext("Choose a date within the next five years."))
        return None
    return moment


def _client_url(client: Client) -> str:
    return _url("client_detail", client.code) or _url("client_list")


def _task_url(task: Task) -> str:
    return _url("task_detail", task.code) or _url("task_list")


def _aware(value: Any, field: str, errors: FieldErrors) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors.add(field, gettext("Enter a valid date and time."))
            return None
    if not isinstance(value, datetime):
        errors.add(field, gettext("Enter a valid date and time."))
        return None
    if timezone.is_naive(value):
        errors.add(field, gettext("Give the time zone with the date and time."))
        return None
    return value


# --- clients: validation ------------------------------------------------------------------------

CLIENT_TEXT_LIMITS: dict[str, int] = {
    "first_name": 100, "last_name": 100, "source": 100, "campaign": 100, "utm_source": 100,
    "utm_medium": 100, "utm_campaign": 100, "utm_term": 100, "utm_content": 100, "referrer_code": 64,
}
# Fields client_update may change; stage, owner, desk and brand have their own services.
CLIENT_EDITABLE: frozenset[str] = frozenset({
    *CLIENT_TEXT_LIMITS, "email", "phone", "country", "language", "timezone", "date_of_birth", "tags",
})
CLIENT_AUDIT_FIELDS: tuple[str, ...] = (
    "brand", "stage", "first_name", "last_name", "email", "phone", "country", "language", "timezone",
    "date_of_birth", "owner", "desk", "source", "campaign", "utm_source", "utm_medium", "utm_campaign",
    "utm_term", "utm_content", "referrer_code", "tags",
)
# Personal data that never appears in clear in events (which reach webhooks) or audit rows.
MASKED_FIELDS: frozenset[str] = frozenset({"email", "phone"})
MAX_TAGS = 50
TAG_MAX_LENGTH = 50
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def _clean_dob(value: Any, field: str = "date_of_birth") -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidValue(field, gettext("Enter a valid date (YYYY-MM-DD).")) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidValue(field, gettext("Enter a valid date (YYYY-MM-DD)."))
    if value > timezone.localdate():
        raise InvalidValue(field, gettext("The date of birth cannot be in the future."))
    if value < EARLIEST_BIRTH_DATE:
        raise InvalidValue(field, gettext("Enter a date of birth after 1900."))
    return value


def _clean_tags(value: Any, field: str = "tags") -> list[str]:
    if value in (None, ""):
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidValue(field, gettext("Tags must be text."))
        tag = " ".join(item.split()).lower()
        if not tag:
            continue
        if len(tag) > TAG_MAX_LENGTH:
            raise InvalidValue(field, gettext("A tag has at most %(max)d characters.") % {"max": TAG_MAX_LENGTH})
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidValue(field, gettext("Use at most %(max)d tags.") % {"max": MAX_TAGS})
    return tags


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidValue(field, gettext("Enter text."))


def _clean_client_values(values: dict[str, Any], *, current_country: str, errors: FieldErrors) -> dict[str, Any]:
    """Normalised values for the client fields in `values`; problems go into `errors`."""
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name == "phone":
            continue  # needs the country: below
        try:
            if name in CLIENT_TEXT_LIMITS:
                cleaned[name] = text_clean(_text(value, name), field=name, max_length=CLIENT_TEXT_LIMITS[name],
                                           required=name == "first_name")
            elif name == "email":
                cleaned[name] = email_normalise(_text(value, name))
            elif name == "country":
                cleaned[name] = country_normalise(_text(value, name))
            elif name == "language":
                cleaned[name] = language_normalise(_text(value, name))
            elif name == "timezone":
                cleaned[name] = timezone_normalise(_text(value, name))
            elif name == "date_of_birth":
                cleaned[name] = _clean_dob(value)
            elif name == "tags":
                cleaned[name] = _clean_tags(value)
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
    if "phone" in values:
        # The client's country is the hint for numbers typed without a country code.
        region = cleaned.get("country", current_country) if "country" not in errors else current_country
        try:
            cleaned["phone"] = phone_normalise(_text(values["phone"], "phone"), region=region or None)
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
    return cleaned


def _mask(field: str, value: Any) -> Any:
    if field == "email":
        return mask_email(value)
    if field == "phone":
        return mask_phone(value)
    return value


def _client_snapshot(client: Client, fields: Iterable[str]) -> dict[str, Any]:
    """Audit before/after of `fields`, with email and phone masked."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(client, client._meta.get_field(name).attname)
        out[name] = _mask(name, value)
    return out


def _event_value(field: str, value: Any) -> Any:
    """A changed value as a timeline shows it: personal data masked, dates as ISO text."""
    if field in MASKED_FIELDS:
        return _mask(field, value)
    if field == "date_of_birth":
        return "****-**-**" if value else ""
    if isinstance(value, date):
        return value.isoformat()
    return value


def _check_owner(owner: Any, brand_id: int, errors: FieldErrors) -> None:
    if not isinstance(owner, User):
        errors.add("owner", gettext("Choose a member of staff."))
    elif not owner.is_active:
        errors.add("owner", gettext("This user is no longer active."))
    elif not _user_in_brand(owner, brand_id):
        errors.add("owner", gettext("This user does not work for the client's brand."))


def _check_desk(desk: Any, brand_id: int, errors: FieldErrors) -> None:
    if not isinstance(desk, Desk):
        errors.add("desk", gettext("Choose a desk."))
    elif desk.brand_id != brand_id:
        errors.add("desk", gettext("This desk belongs to another brand."))
    elif not desk.is_active:
        errors.add("desk", gettext("This desk is no longer active."))


def _lock_client(client: Client) -> None:
    """Lock the client's row and reload it, so that before/after reflect the committed state."""
    client.refresh_from_db(from_queryset=Client.objects.select_for_update(of=("self",)))


def _notify(user: User | None, *, kind: str, title: str, body: str = "", url: str = "",
            actor: User | None = None) -> Notification | None:
    """Notify `user` unless they are the actor (or inactive). `title` (marked with gettext_noop) is
    translated into the recipient's language, not the actor's."""
    if user is None or not user.is_active or (actor is not None and actor.pk == user.pk):
        return None
    with translation.override(user.language or settings.LANGUAGE_CODE):
        return notification_send(user=user, kind=kind, title=gettext(title), body=body, url=url)


# --- clients: services --------------------------------------------------------------------------


@transaction.atomic
def client_create(
    *,
    actor: User | None,
    brand: Brand,
    first_name: str,
    last_name: str = "",
    email: str = "",
    phone: str = "",
    country: str = "",
    language: str = "",
    timezone: str = "",
    date_of_birth: date | None = None,
    owner: User | None = None,
    desk: Desk | None = None,
    stage: str = Stage.LEAD,
    source: str = "",
    campaign: str = "",
    utm_source: str = "",
    utm_medium: str = "",
    utm_campaign: str = "",
    utm_term: str = "",
    utm_content: str = "",
    referrer_code: str = "",
    tags: Iterable[str] = (),
) -> Client:
    """Create a client of `brand`. Event "client.created".

    The phone is stored in E.164, using `country` as the hint for national numbers. An agent who
    creates a client without naming an owner becomes its owner (otherwise they could not see it);
    the desk defaults to the owner's desk in the same brand.
    """
    _require(actor, "crm.add_client")
    errors = FieldErrors()
    values = _clean_client_values(
        {
            "first_name": first_name, "last_name": last_name, "email": email, "phone": phone,
            "country": country, "language": language, "timezone": timezone, "date_of_birth": date_of_birth,
            "source": source, "campaign": campaign, "utm_source": utm_source, "utm_medium": utm_medium,
            "utm_campaign": utm_campaign, "utm_term": utm_term, "utm_content": utm_content,
            "referrer_code": referrer_code, "tags": tags,
        },
        current_country="",
        errors=errors,
    )
    if not isinstance(brand, Brand):
        errors.add("brand", gettext("Choose a brand."))
        errors.raise_if_any()
    if not brand.is_active:
        errors.add("brand", gettext("This brand is not active."))
    elif actor is not None and not _user_in_brand(actor, brand.pk):
        errors.add("brand", gettext("You do not work for this brand."))
    if stage not in Stage.values:
        errors.add("stage", gettext("Choose a valid stage."))
    elif refusal := stages.stage_create_refusal(stage):
        raise StageRefused(refusal, fields={"stage": [refusal]})
    if owner is None and actor is not None and actor.role_id and actor.role.is_agent:
        owner = actor
    if owner is not None:
        _check_owner(owner, brand.pk, errors)
    if desk is None and owner is not None and "owner" not in errors and owner.desk_id:
        if owner.desk.brand_id == brand.pk and owner.desk.is_active:
            desk = owner.desk
    if desk is not None:
        _check_desk(desk, brand.pk, errors)
    errors.raise_if_any()

    now = _now()
    client = Client(brand=brand, stage=stage, owner=owner, desk=desk, stage_changed_at=now, **values)
    client.save()
    audit_record(action="client.create", obj=client, after=_client_snapshot(client, CLIENT_AUDIT_FIELDS),
                 actor=actor)
    emit("client.created", client=client, actor=actor, data={
        "name": client.full_name,
        "stage": client.stage,
        "country": client.country,
        "source": client.source,
        "campaign": client.campaign,
        "owner": _user_ref(owner),
        "desk": _desk_ref(desk),
    })
    _notify(owner, kind="client_assigned", title=gettext_noop("A client was assigned to you"),
            body=client.full_name, url=_client_url(client), actor=actor)
    return client


@transaction.atomic
def client_update(*, actor: User | None, client: Client, reason: str = "", **changes: Any) -> Client:
    """Change any of CLIENT_EDITABLE. Event "client.updated" with the changed fields (old/new,
    personal data masked); nothing is written when no value actually changes."""
    _require(actor, "crm.change_client")
    unknown = sorted(set(changes) - CLIENT_EDITABLE)
    if unknown:
        raise ValidationFailed(fields={name: [gettext("This field cannot be changed here.")] for name in unknown})
    _lock_client(client)
    errors = FieldErrors()
    cleaned = _clean_client_values(changes, current_country=client.country, errors=errors)
    errors.raise_if_any()

    changed = {name: (getattr(client, name), value) for name, value in cleaned.items()
               if getattr(client, name) != value}
    if not changed:
        return client
    names = sorted(changed)
    before = _client_snapshot(client, names)
    for name, (_, value) in changed.items():
        setattr(client, name, value)
    client.save(update_fields=[*names, "updated_at"])
    audit_record(action="client.update", obj=client, before=before, after=_client_snapshot(client, names),
                 reason=reason, actor=actor)
    emit("client.updated", client=client, actor=actor, data={
        "fields": names,
        "changes": {name: {"old": _event_value(name, old), "new": _event_value(name, new)}
                    for name, (old, new) in sorted(changed.items())},
        "reason": reason,
    })
    return client


def _stage_write(*, actor: User | None, client: Client, old: str, stage: str, reason: str, via: str,
                 action: str, evidence: dict[str, Any] | None = None) -> Client:
    """Write a move the caller has allowed: the row, its audit row and "client.stage_changed"."""
    client.stage = stage
    client.stage_changed_at = timezone.now()
    client.save(update_fields=["stage", "stage_changed_at", "updated_at"])
    after: dict[str, Any] = {"stage": stage, "via": via}
    if evidence:
        after["evidence"] = evidence
    audit_record(action=action, obj=client, before={"stage": old}, after=after, reason=reason, actor=actor)
    emit("client.stage_changed", client=client, actor=actor,
         data={"from": old, "to": stage, "reason": reason, "via": via})
    return client


def _valid_stage(stage: Any) -> str:
    if not isinstance(stage, str) or stage not in Stage.values:
        raise ValidationFailed(fields={"stage": [gettext("Choose a valid stage.")]})
    return stage


@transaction.atomic
def client_stage_change(*, actor: User | None, client: Client, stage: str, reason: str = "") -> Client:
    """Make an ordinary move (crm.stages.ORDINARY_MOVES). Event "client.stage_changed" (from, to,
    reason, via "move").

    Verified, funded and active are reached only through their proofs (client_stage_prove), and
    nothing goes backwards except by an administrator's override: such a move raises StageRefused
    naming it, and nothing is written. Reopening a closed client needs a reason. Setting the current
    stage again changes nothing.
    """
    _require(actor, "crm.change_client")
    reason = (reason or "").strip()
    stage = _valid_stage(stage)
    _lock_client(client)
    old = client.stage
    if old == stage:
        return client
    refusal = stages.stage_refusal(old, stage)
    if refusal:
        raise StageRefused(refusal, fields={"stage": [refusal]})
    if old == Stage.CLOSED and not reason:
        raise ValidationFailed(fields={"reason": [gettext("Say why this closed client is being reopened.")]})
    return _stage_write(actor=actor, client=client, old=old, stage=stage, reason=reason, via="move",
                        action="client.stage_change")


@transaction.atomic
def client_stage_prove(*, client: Client, proof: str, actor: User | None = None,
                       evidence: dict[str, Any] | None = None) -> Client:
    """Move the client to the stage `proof` establishes (crm.stages.PROOFS): verified by a KYC
    approval, funded by a first deposit, active by a first trade. Event "client.stage_changed" with
    via = the proof's event name; `evidence` (e.g. the event's uuid) is kept in the audit row.

    Only the services that hold the evidence call this (their event handlers): no page or API
    operation reaches it. A proof only moves a client forward, from the stages listed for it; from
    any other stage (already further on, or closed) it changes nothing.
    """
    try:
        proven = stages.PROOFS[stages.Proof(proof)]
    except ValueError:
        raise ValidationFailed(fields={"proof": [gettext("Unknown proof.")]}) from None
    _lock_client(client)
    old = client.stage
    if old not in proven.sources:
        return client
    reason = stages.proof_reason(proven.proof)
    return _stage_write(actor=actor, client=client, old=old, stage=proven.stage, reason=reason,
                        via=str(proven.proof.value), action="client.stage_prove", evidence=evidence)


@transaction.atomic
def client_stage_override(*, actor: User, client: Client, stage: str, reason: str) -> Client:
    """An administrator's correction: any stage, from any stage, with a reason. Audited
    ("client.stage_override"); event "client.stage_changed" with via "override".

    Needs the "crm.override_client_stage" permission (administrators); the system cannot override.
    """
    if actor is None or not user_can(actor, stages.OVERRIDE_PERMISSION):
        raise NotAllowed(gettext("Only an administrator can override a client's stage."))
    errors = FieldErrors()
    if not isinstance(stage, str) or stage not in Stage.values:
        errors.add("stage", gettext("Choose a valid stage."))
    if not isinstance(reason, str) or not reason.strip():
        errors.add("reason", gettext("Say why the stage is overridden."))
    else:
        try:
            reason = text_clean(reason, field="reason", max_length=500, required=True)
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
    errors.raise_if_any()
    _lock_client(client)
    old = client.stage
    if old == stage:
        raise ValidationFailed(fields={"stage": [gettext("The client is already at this stage.")]})
    return _stage_write(actor=actor, client=client, old=old, stage=stage, reason=reason, via="override",
                        action="client.stage_override")


CLASSIFY_PERMISSION = "crm.classify_client"


@transaction.atomic
def client_classification_set(*, actor: User | None, client: Client, classification: str, reason: str) -> Client:
    """Classify the client as retail, professional or an eligible counterparty (MiFID II), with a
    reason (what the decision rests on). Audited ("client.classification_change"); event
    "client.updated" naming the field. A regulatory decision, not a detail of the profile: it needs
    "crm.classify_client" (administrators and compliance officers), not the right to edit the
    client. Setting the current classification again changes nothing."""
    _require(actor, CLASSIFY_PERMISSION)
    errors = FieldErrors()
    if not isinstance(classification, str) or classification not in Classification.values:
        errors.add("classification", gettext("Choose retail, professional or eligible counterparty."))
    if not isinstance(reason, str) or not reason.strip():
        errors.add("reason", gettext("Say what the classification rests on."))
    else:
        try:
            reason = text_clean(reason, field="reason", max_length=500, required=True)
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
    errors.raise_if_any()
    _lock_client(client)
    old = client.classification
    if old == classification:
        return client
    client.classification = classification
    client.save(update_fields=["classification", "updated_at"])
    audit_record(action="client.classification_change", obj=client, before={"classification": old},
                 after={"classification": classification}, reason=reason, actor=actor)
    emit("client.updated", client=client, actor=actor, data={
        "fields": ["classification"], "changes": {"classification": {"old": old, "new": classification}},
        "reason": reason,
    })
    return client


@transaction.atomic
def client_assign(
    *, actor: User | None, client: Client, owner: User | None, desk: Desk | None = None, reason: str = ""
) -> Client:
    """Give the client to `owner` (None: back to the pool) and a desk. Event "client.assigned".

    Without `desk`, the client moves to the new owner's desk (same brand) or keeps its own.
    The new owner is notified.
    """
    _require(actor, "crm.assign_client")
    _lock_client(client)
    errors = FieldErrors()
    if owner is not None:
        _check_owner(owner, client.brand_id, errors)
    if desk is None:
        if owner is not None and "owner" not in errors and owner.desk_id and owner.desk.brand_id == client.brand_id:
            desk = owner.desk
        else:
            desk = client.desk
    if desk is not None and desk.pk != client.desk_id:
        _check_desk(desk, client.brand_id, errors)
    errors.raise_if_any()
    if (owner, desk) != (client.owner, client.desk):
        refusal = assignment_refusal(actor, owner=owner, desk=desk)
        if refusal:
            errors.add("owner", refusal)
            errors.raise_if_any()

    old_owner, old_desk = client.owner, client.desk
    new_owner_id = owner.pk if owner is not None else None
    new_desk_id = desk.pk if desk is not None else None
    if new_owner_id == client.owner_id and new_desk_id == client.desk_id:
        return client
    client.owner, client.desk = owner, desk
    client.save(update_fields=["owner", "desk", "updated_at"])
    audit_record(
        action="client.assign", obj=client,
        before={"owner": old_owner.pk if old_owner else None, "desk": old_desk.pk if old_desk else None},
        after={"owner": new_owner_id, "desk": new_desk_id}, reason=reason, actor=actor,
    )
    emit("client.assigned", client=client, actor=actor, data={
        "owner": {"from": _user_ref(old_owner), "to": _user_ref(owner)},
        "desk": {"from": _desk_ref(old_desk), "to": _desk_ref(desk)},
        "reason": reason,
    })
    if new_owner_id != (old_owner.pk if old_owner else None):
        _notify(owner, kind="client_assigned", title=gettext_noop("A client was assigned to you"),
                body=client.full_name, url=_client_url(client), actor=actor)
    return client


def _share_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="crm", codename=SHARE_PERMISSION)


def _can_share(actor: User | None, client: Client) -> bool:
    return actor is None or user_can(actor, "crm.assign_client") or client.owner_id == actor.pk


@transaction.atomic
def client_share(*, actor: User | None, client: Client, user: User) -> None:
    """Let `user` see `client` beyond their scope (a guardian object permission). Idempotent.

    Allowed to those who may assign clients, and to the client's owner. Event "client.shared".
    """
    if not _can_share(actor, client):
        raise NotAllowed()
    errors = FieldErrors()
    if not isinstance(user, User) or not user.is_active:
        errors.add("user", gettext("Choose an active member of staff."))
    elif not _user_in_brand(user, client.brand_id):
        errors.add("user", gettext("This user does not work for the client's brand."))
    errors.raise_if_any()
    _, created = ClientUserObjectPermission.objects.get_or_create(
        user=user, permission=_share_permission(), content_object=client
    )
    if not created:
        return
    audit_record(action="client.share", obj=client, after={"user": user.pk}, actor=actor)
    emit("client.shared", client=client, actor=actor, data={"user": _user_ref(user)})
    _notify(user, kind="client_shared", title=gettext_noop("A client was shared with you"), body=client.full_name,
            url=_client_url(client), actor=actor)


@transaction.atomic
def client_unshare(*, actor: User | None, client: Client, user: User) -> None:
    """Withdraw a share made with client_share. Event "client.unshared" (only if one existed)."""
    if not _can_share(actor, client):
        raise NotAllowed()
    deleted, _ = ClientUserObjectPermission.objects.filter(
        user_id=user.pk, content_object=client, permission=_share_permission()
    ).delete()
    if not deleted:
        return
    audit_record(action="client.unshare", obj=client, before={"user": user.pk}, actor=actor)
    emit("client.unshared", client=client, actor=actor, data={"user": _user_ref(user)})


def _clean_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


def _access_event(actor: User, client: Client | None, kind: str, detail: str = "",
                  rows: int | None = None) -> AccessEvent:
    ctx = context.current()
    return AccessEvent.objects.create(
        user=actor, client=client, kind=kind, at=timezone.now(), ip=_clean_ip(ctx.ip),
        user_agent=ctx.user_agent[:500], request_id=ctx.request_id, detail=detail[:200], rows=rows,
    )


def access_export_record(*, actor: User | None, what: str, rows: int) -> None:
    """Record that `actor` exported `rows` rows of client data (AccessEvent "export"; monitoring
    reads these). `what` names the export, e.g. "segment export: VIP"."""
    if actor is None or not getattr(actor, "pk", None):
        return
    _access_event(actor, None, AccessKind.EXPORT, detail=what, rows=rows)


def access_search_record(*, actor: User | None, where: str, query: str, rows: int) -> None:
    """Record that `actor` searched clients for `query` on `where` and got `rows` rows
    (AccessEvent "search"). A blank query is not a search and writes nothing."""
    query = " ".join((query or "").split())
    if not query or actor is None or not getattr(actor, "pk", None):
        return
    _access_event(actor, None, AccessKind.SEARCH, detail=f"{where}: {query}", rows=rows)


@transaction.atomic
def client_view_record(*, actor: User | None, client: Client) -> None:
    """Record that `actor` opened the client's profile (AccessEvent "view"; agent monitoring reads these)."""
    if actor is None or not getattr(actor, "pk", None):
        return
    _access_event(actor, client, AccessKind.VIEW)


REVEAL_KINDS: dict[str, str] = {"email": AccessKind.REVEAL_EMAIL, "phone": AccessKind.REVEAL_PHONE}


@transaction.atomic
def client_contact_reveal(*, actor: User, client: Client, field: str) -> str:
    """The client's email or phone in clear, for `actor` who holds "crm.reveal_contact".

    Every reveal is recorded twice: an AccessEvent (for monitoring) and an audit row (for the trail).
    """
    if field not in REVEAL_KINDS:
        raise ValidationFailed(fields={"field": [gettext("Choose email or phone.")]})
    if actor is None or not user_can(actor, "crm.reveal_contact"):
        raise NotAllowed(gettext("You are not allowed to see this client's contact details."))
    _access_event(actor, client, REVEAL_KINDS[field], detail=field)
    audit_record(action="client.reveal_contact", obj=client, after={"field": field}, actor=actor)
    return getattr(client, field)


# --- notes --------------------------------------------------------------------------------------

NOTE_MAX_LENGTH = 20_000
EXCERPT_LENGTH = 200


def _excerpt(text: str, length: int = EXCERPT_LENGTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"


@transaction.atomic
def note_add(*, actor: User | None, client: Client, body: str) -> Note:
    """Add a note to the client's file. Event "note.added" with an excerpt for the timeline."""
    _require(actor, "crm.add_note")
    try:
        body = text_clean(_text(body, "body"), field="body", max_length=NOTE_MAX_LENGTH, required=True)
    except InvalidValue as exc:
        raise ValidationFailed(fields={exc.field: [exc.message]}) from None
    note = Note.objects.create(client=client, author=actor, body=body)
    audit_record(action="note.add", obj=note, after={"client": str(client.code), "body": body}, actor=actor)
    emit("note.added", client=client, actor=actor, data={
        "note": str(note.code), "excerpt": _excerpt(body), "author": _user_ref(actor),
    })
    return note


# --- tasks --------------------------------------------------------------------------------------

TASK_TITLE_MAX = 200
TASK_DESCRIPTION_MAX = 10_000


@transaction.atomic
def task_create(
    *,
    actor: User | None,
    title: str,
    assignee: User,
    client: Client | None = None,
    description: str = "",
    due_at: datetime | None = None,
    remind_at: datetime | None = None,
) -> Task:
    """Create a task for `assignee` (about `client` if given). Event "task.created".

    The assignee must be able to see the client. They are notified unless they created it.
    """
    _require(actor, "crm.add_task")
    errors = FieldErrors()
    for name, value, limit, required in (("title", title, TASK_TITLE_MAX, True),
                                         ("description", description, TASK_DESCRIPTION_MAX, False)):
        try:
            cleaned = text_clean(_text(value, name), field=name, max_length=limit, required=required)
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
            continue
        if name == "title":
            title = cleaned
        else:
            description = cleaned
    if not isinstance(assignee, User) or not assignee.is_active:
        errors.add("assignee", gettext("Choose an active member of staff."))
    elif (refusal := task_assignee_refusal(actor, assignee, brand_id=client.brand_id if client else None)):
        errors.add("assignee", refusal)
    elif client is not None and not client_visible_to(assignee, client):
        errors.add("assignee", gettext("This user cannot see the client."))
    due = _task_time(due_at, "due_at", errors)
    remind = _task_time(remind_at, "remind_at", errors)
    if due is not None and remind is not None and remind > due:
        errors.add("remind_at", gettext("The reminder must come before the due time."))
    errors.raise_if_any()

    task = Task.objects.create(
        client=client, title=title, description=description, assignee=assignee, created_by=actor,
        due_at=due, remind_at=remind,
    )
    audit_record(action="task.create", obj=task, after={
        "title": title, "assignee": assignee.pk, "client": str(client.code) if client else None,
        "due_at": due, "remind_at": remind,
    }, actor=actor)
    emit("task.created", client=client, actor=actor, data={
        "task": str(task.code), "title": title, "assignee": _user_ref(assignee),
        "due_at": due.isoformat() if due else None,
    })
    _notify(assignee, kind="task_assigned", title=gettext_noop("New task assigned to you"), body=title,
            url=_task_url(task), actor=actor)
    return task


def _lock_task(task: Task) -> None:
    task.refresh_from_db(from_queryset=Task.objects.select_for_update(of=("self",)))


def _check_task_actor(actor: User | None, task: Task) -> None:
    if actor is None or actor.pk in (task.assignee_id, task.created_by_id):
        return
    if not user_can(actor, "crm.change_task"):
        raise NotAllowed()


@transaction.atomic
def task_complete(*, actor: User | None, task: Task) -> Task:
    """Mark the task done. Event "task.completed". Completing a done task changes nothing."""
    _check_task_actor(actor, task)
    _lock_task(task)
    if task.done_at is not None:
        return task
    task.done_at = timezone.now()
    task.done_by = actor
    task.save(update_fields=["done_at", "done_by"])
    audit_record(action="task.complete", obj=task, before={"done_at": None}, after={"done_at": task.done_at},
                 actor=actor)
    emit("task.completed", client=task.client, actor=actor, data={"task": str(task.code), "title": task.title})
    return task


@transaction.atomic
def task_reopen(*, actor: User | None, task: Task) -> Task:
    """Mark a done task open again. Event "task.reopened". Reopening an open task changes nothing."""
    _check_task_actor(actor, task)
    _lock_task(task)
    if task.done_at is None:
        return task
    before = {"done_at": task.done_at, "done_by": task.done_by_id}
    task.done_at = None
    task.done_by = None
    task.save(update_fields=["done_at", "done_by"])
    audit_record(action="task.reopen", obj=task, before=before, after={"done_at": None, "done_by": None},
                 actor=actor)
    emit("task.reopened", client=task.client, actor=actor, data={"task": str(task.code), "title": task.title})
    return task


@transaction.atomic
def task_reschedule(*, actor: User | None, task: Task, due_at: datetime | None, remind_at: datetime | None) -> Task:
    """Set a task's due time and reminder (None clears either). Event "task.rescheduled".

    A new reminder time re-arms the reminder even if the old one was already sent.
    """
    _check_task_actor(actor, task)
    _lock_task(task)
    errors = FieldErrors()
    due = _task_time(due_at, "due_at", errors)
    remind = _task_time(remind_at, "remind_at", errors)
    if due is not None and remind is not None and remind > due:
        errors.add("remind_at", gettext("The reminder must come before the due time."))
    errors.raise_if_any()
    if (task.due_at, task.remind_at) == (due, remind):
        return task
    before = {"due_at": task.due_at, "remind_at": task.remind_at}
    fields = ["due_at", "remind_at"]
    if remind != task.remind_at:
        task.reminded_at = None
        fields.append("reminded_at")
    task.due_at, task.remind_at = due, remind
    task.save(update_fields=fields)
    audit_record(action="task.reschedule", obj=task, before=before, after={"due_at": due, "remind_at": remind},
                 actor=actor)
    emit("task.rescheduled", client=task.client, actor=actor, data={
        "task": str(task.code), "title": task.title, "due_at": due.isoformat() if due else None,
    })
    return task


REMINDER_BATCH = 200


def task_reminders_send(*, now: datetime | None = None) -> int:
    """Notify assignees of open tasks whose `remind_at` has passed; returns how many were sent.

    Each task is reminded once (`reminded_at`); batches commit one by one and concurrent runs
    skip each other's locked rows, so running it twice never sends twice.
    """
    now = now or timezone.now()
    sent = 0
    while True:
        with transaction.atomic():
            tasks = list(
                Task.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(done_at__isnull=True, reminded_at__isnull=True, remind_at__lte=now)
                .select_related("assignee", "client")
                .order_by("remind_at", "id")[:REMINDER_BATCH]
            )
            if not tasks:
                break
            for task in tasks:
                if _notify(task.assignee, kind="task_reminder", title=gettext_noop("Task reminder"), body=task.title,
                           url=_task_url(task)) is not None:
                    sent += 1
            # A plain UPDATE: the reminder sweep is bookkeeping, not a change worth a history row.
            Task.objects.filter(pk__in=[t.pk for t in tasks]).update(reminded_at=now)
        if len(tasks) < REMINDER_BATCH:
            break
    return sent


# --- notifications ------------------------------------------------------------------------------


def notification_send(*, user: User, kind: str, title: str, body: str = "", url: str = "") -> Notification:
    """An in-app notification for `user`. `url` must be a path within the CRM ("/clients/…")."""
    errors = FieldErrors()
    try:
        kind = text_clean(kind, field="kind", max_length=50, required=True)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    title = " ".join((title or "").split())
    if not title:
        errors.add("title", gettext("This field is required."))
    url = (url or "").strip()
    if url and (not url.startswith("/") or url.startswith("//") or len(url) > 500):
        errors.add("url", gettext("Use a path within the CRM, starting with /."))
    errors.raise_if_any()
    return Notification.objects.create(user=user, kind=kind, title=_excerpt(title, 200), body=body or "", url=url)


def notification_mark_read(*, user: User, ids: Iterable[int | str] | None = None) -> int:
    """Mark `user`'s unread notifications read (only those in `ids` if given); returns how many."""
    qs = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    if ids is not None:
        try:
            wanted = [int(i) for i in ids]
        except (TypeError, ValueError):
            raise ValidationFailed(fields={"ids": [gettext("Give notification ids as numbers.")]}) from None
        qs = qs.filter(pk__in=wanted)
    return qs.update(read_at=timezone.now())


# --- API keys -----------------------------------------------------------------------------------

API_KEY_PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_letters + string.digits
# A key is used on every API call; writing last_used_at each time would turn reads into writes.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def _key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def apikey_create(*, actor: User, brand: Brand, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """Create an API key for `brand`. Returns the key and the raw secret, which is shown once and
    never stored ("crm_<prefix>_<secret>"; only its SHA-256 is kept)."""
    if actor is None:
        raise NotAllowed()
    _require(actor, "crm.add_apikey")
    errors = FieldErrors()
    try:
        name = text_clean(_text(name, "name"), field="name", max_length=120, required=True)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    if not isinstance(brand, Brand) or not brand.is_active:
        errors.add("brand", gettext("Choose an active brand."))
    requested = [scopes] if isinstance(scopes, str) else list(scopes or [])
    bad = [s for s in requested if s not in API_SCOPES]  # the scopes the apps registered (crm.registry)
    if bad:
        errors.add("scopes", gettext("Unknown scopes: %(scopes)s.") % {"scopes": ", ".join(map(str, bad))})
    elif not requested:
        errors.add("scopes", gettext("Choose at least one scope."))
    errors.raise_if_any()

    chosen = [str(code) for code in API_SCOPES.keys() if code in requested]
    for _attempt in range(5):
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(API_KEY_PREFIX_LENGTH))
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    else:
        raise Conflict(gettext("Could not create a unique key; try again."))
    raw = f"crm_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(brand=brand, name=name, prefix=prefix, key_hash=_key_hash(raw),
                                scopes=chosen, created_by=actor)
    audit_record(action="apikey.create", obj=key, after={
        "name": name, "prefix": prefix, "scopes": chosen, "brand": brand.code,
    }, actor=actor)
    return key, raw


@transaction.atomic
def apikey_revoke(*, actor: User, key: ApiKey) -> ApiKey:
    """Revoke `key`: it stops working at once. Revoking a revoked key changes nothing."""
    if actor is None:
        raise NotAllowed()
    _require(actor, "crm.change_apikey")
    key.refresh_from_db(from_queryset=ApiKey.objects.select_for_update())
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    apikey_cache.invalidate()
    audit_record(action="apikey.revoke", obj=key, before={"revoked_at": None},
                 after={"revoked_at": key.revoked_at}, actor=actor)
    return key


def apikey_authenticate(raw: str | None) -> ApiKey | None:
    """The active key matching `raw`, or None. Records use (`last_used_at`) at most once a minute."""
    if not isinstance(raw, str) or len(raw) > 200:
        return None
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "crm" or len(parts[1]) != API_KEY_PREFIX_LENGTH or len(parts[2]) < 32:
        return None
    digest = _key_hash(raw.strip())
    version = apikey_cache.current_version()
    key = apikey_cache.lookup(digest, version)
    if key is None:
        key = (
            ApiKey.objects.select_related("brand", "created_by")
            .filter(key_hash=digest, revoked_at__isnull=True)
            .first()
        )
        if key is not None:
            apikey_cache.remember(digest, key, version)
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.prefix != parts[1]:
        return None
    if not key.brand.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or key.last_used_at < now - API_KEY_TOUCH_INTERVAL:
        # Conditional in SQL, so that concurrent requests write at most once per interval.
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_TOUCH_INTERVAL)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key


# --- staff users --------------------------------------------------------------------------------


def _role_for(code: Any) -> Role | None:
    if code not in RoleCode.values:
        return None
    role = Role.objects.select_related("group").filter(code=code).first()
    if role is None:
        from crm.roles import roles_sync

        roles_sync()
        role = Role.objects.select_related("group").get(code=code)
    return role


def _clean_user_language(value: Any, errors: FieldErrors) -> str:
    codes = {code for code, _ in settings.LANGUAGES}
    value = (value or "").strip().lower() if isinstance(value, str) else value
    if value not in codes:
        errors.add("language", gettext("Choose one of: %(codes)s.") % {"codes": ", ".join(sorted(codes))})
        return ""
    return value


def _clean_user_timezone(value: Any, errors: FieldErrors) -> str:
    try:
        return timezone_normalise(_text(value, "timezone")) or "UTC"
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
        return ""


def _user_snapshot(user: User) -> dict[str, Any]:
    return {
        "email": user.email, "full_name": user.full_name, "role": user.role_code,
        "desk": user.desk_id, "all_brands": user.all_brands,
        "brands": sorted(user.brands.values_list("pk", flat=True)) if user.pk else [],
        "is_active": user.is_active, "language": user.language, "timezone": user.timezone,
    }


def _check_user_desk(desk: Any, brand_ids: set[int], all_brands: bool, errors: FieldErrors) -> None:
    if desk is None:
        return
    if not isinstance(desk, Desk):
        errors.add("desk", gettext("Choose a desk."))
    elif not all_brands and desk.brand_id not in brand_ids:
        errors.add("desk", gettext("The desk belongs to a brand this user does not work for."))


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    email: str,
    full_name: str,
    role_code: str,
    password: str | None = None,
    desk: Desk | None = None,
    brands: Iterable[Brand] = (),
    all_brands: bool = False,
    language: str = "en",
    timezone: str = "UTC",
) -> User:
    """Create a member of staff with `role_code` (joined to the role's group). Without `password`
    the account cannot log in until a password is set; a password must pass the password rules."""
    _require(actor, "crm.add_user")
    errors = FieldErrors()
    try:
        email = email_normalise(_text(email, "email"))
        if not email:
            errors.add("email", gettext("This field is required."))
        elif User.objects.filter(email__iexact=email).exists():
            errors.add("email", gettext("A user with this email already exists."))
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    try:
        full_name = text_clean(_text(full_name, "full_name"), field="full_name", max_length=150, required=True)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    role = _role_for(role_code)
    if role is None:
        errors.add("role_code", gettext("Choose a valid role."))
    brand_list = list(brands or ())
    if any(not isinstance(b, Brand) for b in brand_list):
        errors.add("brands", gettext("Choose brands from the list."))
        brand_list = []
    _check_user_desk(desk, {b.pk for b in brand_list}, all_brands, errors)
    language = _clean_user_language(language, errors)
    tz_name = _clean_user_timezone(timezone, errors)
    if password is not None and "email" not in errors and "full_name" not in errors:
        try:
            validate_password(password, user=User(email=email, full_name=full_name))
        except ValidationError as exc:
            for message in exc.messages:
                errors.add("password", message)
    errors.raise_if_any()

    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password, full_name=full_name, role=role, desk=desk, all_brands=bool(all_brands),
                language=language, timezone=tz_name,
            )
    except IntegrityError:
        raise Conflict(gettext("A user with this email already exists.")) from None
    if brand_list:
        user.brands.set(brand_list)
    user.groups.add(role.group)
    audit_record(action="user.create", obj=user, after=_user_snapshot(user), actor=actor)
    return user


@transaction.atomic
def user_update_preferences(*, user: User, language: str, timezone: str) -> User:
    """The user's own interface language and time zone."""
    errors = FieldErrors()
    language = _clean_user_language(language, errors)
    tz_name = _clean_user_timezone(timezone, errors)
    errors.raise_if_any()
    before = {"language": user.language, "timezone": user.timezone}
    if before == {"language": language, "timezone": tz_name}:
        return user
    user.language, user.timezone = language, tz_name
    user.save(update_fields=["language", "timezone"])
    audit_record(action="user.preferences", obj=user, before=before,
                 after={"language": language, "timezone": tz_name}, actor=user)
    return user


__all__ = [
    "apikey_authenticate", "apikey_create", "apikey_revoke", "client_assign",
    "client_contact_reveal", "client_create", "client_share", "client_stage_change", "client_stage_override",
    "client_stage_prove", "client_unshare",
    "client_update", "client_view_record", "note_add", "notification_mark_read", "notification_send",
    "task_complete", "task_create", "task_reminders_send", "task_reopen", "user_create",
    "user_update_preferences",
]
