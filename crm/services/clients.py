"""Clients: edit and assign, and the validation every client write shares (creation is
crm.services.client_creation)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, ValidationFailed
from crm.lib.meta import model_field
from crm.lib.payloads import client_url, desk_ref, user_ref
from crm.lib.phone import phone_normalise
from crm.lib.validation import (
    InvalidValue,
    country_normalise,
    email_normalise,
    language_normalise,
    text_clean,
    timezone_normalise,
)
from crm.models import Client, Desk, Event, Note, Notification, Task, User
from crm.models.locks import client_lock_queryset
from crm.permissions import assignment_refusal
from crm.selectors import mask_email, mask_phone
from crm.services.common import _require, _text, _user_in_brand
from crm.services.notifications import notify_user
from plumbing.redact import scrub, scrub_pattern

CLIENT_TEXT_LIMITS: dict[str, int] = {
    "first_name": 100, "last_name": 100, "source": 100, "campaign": 100, "utm_source": 100,
    "utm_medium": 100, "utm_campaign": 100, "utm_term": 100, "utm_content": 100, "referrer_code": 64,
}
# Fields client_update may change; stage, owner, desk and brand have their own services.
CLIENT_EDITABLE: frozenset[str] = frozenset({
    *CLIENT_TEXT_LIMITS, "email", "phone", "country", "nationality", "language", "timezone", "date_of_birth", "tags",
})
CLIENT_AUDIT_FIELDS: tuple[str, ...] = (
    "brand", "stage", "first_name", "last_name", "email", "phone", "country", "nationality", "language", "timezone",
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
            elif name in ("country", "nationality"):
                cleaned[name] = country_normalise(_text(value, name), field=name)
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
        value = getattr(client, model_field(client, name).attname)
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
    client.refresh_from_db(from_queryset=client_lock_queryset())


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


@transaction.atomic
def client_erase(*, actor: User | None, client: Client, name: str, placeholder: str) -> int:
    """Erasure (compliance.erasure authorises): named `name`, no contacts or birth date (history rows too), notes'
    text `placeholder`, the old name and contacts scrubbed from the timeline, tasks and notifications; audited
    without personal data."""
    _lock_client(client)
    pattern = scrub_pattern([client.full_name, client.first_name, client.last_name, client.email, client.phone])
    blank = {"first_name": name, "last_name": "", "email": "", "phone": "", "date_of_birth": None}
    Client.objects.filter(pk=client.pk).update(**blank, email_hash="", phone_hash="", updated_at=timezone.now())
    Client.history.filter(id=client.pk).update(**blank)
    notes = client.notes.update(body=placeholder)
    Note.history.filter(client_id=client.pk).update(body=placeholder)
    events = list(client.events.all())
    for event in events:
        event.data = scrub(event.data, pattern, name, cleared={"excerpt": placeholder})
    Event.objects.bulk_update(events, ["data"], batch_size=500)
    # Tasks about the client (and their history), staff notifications linking to the client or of those tasks.
    titles = Q(kind__startswith="task_", body__in=list(client.tasks.values_list("title", flat=True)))
    for rows, fields in ((client.tasks.all(), ["title", "description"]), (Task.history.filter(client_id=client.pk), [
            "title", "description"]), (Notification.objects.filter(Q(url__contains=client.code) | titles), ["title", "body"])):
        changed = list(rows)
        for row in changed:
            for field in fields:
                setattr(row, field, scrub(getattr(row, field), pattern, name))
        rows.model._default_manager.bulk_update(changed, fields, batch_size=500)
    audit_record(action="client.erase", obj=client, after={"notes": notes}, actor=actor)
    client.refresh_from_db()
    return notes


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
        if owner is not None and "owner" not in errors and owner.desk is not None and owner.desk.brand_id == client.brand_id:
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
        "owner": {"from": user_ref(old_owner), "to": user_ref(owner)},
        "desk": {"from": desk_ref(old_desk), "to": desk_ref(desk)},
        "reason": reason,
    })
    if new_owner_id != (old_owner.pk if old_owner else None):
        notify_user(owner, kind="client_assigned", title=gettext_noop("A client was assigned to you"),
                    body=client.full_name, url=client_url(client), actor=actor)
    return client


@transaction.atomic
def client_assign_bulk(*, actor: User | None, clients: Iterable[Client], owner: User, reason: str = "") -> int:
    """client_assign for each client (the caller has scoped them to what `actor` may see), all or
    nothing: a refusal for any client is named with that client and nothing is assigned. Returns
    how many changed hands."""
    errors: list[str] = []
    changed = 0
    for client in clients:
        before = (client.owner_id, client.desk_id)
        try:
            with transaction.atomic():
                client = client_assign(actor=actor, client=client, owner=owner, reason=reason)
        except ValidationFailed as error:
            messages = [m for msgs in error.fields.values() for m in msgs] or [error.message]
            errors += [gettext("%(client)s: %(problem)s") % {"client": client.full_name, "problem": m}
                       for m in messages]
            continue
        changed += (client.owner_id, client.desk_id) != before
    if errors:
        raise ValidationFailed(fields={"owner": errors})  # and the atomic block undoes the others
    return changed
