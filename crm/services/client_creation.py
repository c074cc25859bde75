"""Creating clients: one (client_create: a page, the API, the system) or many at once
(clients_creation: the lead intake, a thousand leads in a handful of statements).

Both write through ClientsCreation, so a client is stored alike whichever way it came: its row,
one "+" history row (a copy of the row as stored, made by PostgreSQL), one "client.created"
event, one "client.create" audit row with the client's values (email and phone masked), and a
notification for its owner in the owner's language. The rows, history rows and events of a call
to `add` go to PostgreSQL in one statement; the audit rows of a whole creation in one more as it
ends, so that the audit chain's lock is held only from then until commit.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.utils.timezone import now as _now  # client_create's `timezone` argument shadows the module
from django.utils.translation import gettext, gettext_noop

from crm.audit import AuditEntry, audit_record_many
from crm.events import event_row, event_rows_ready, kick_after_commit
from crm.exceptions import FieldErrors, StageRefused
from crm.lib import bulk
from crm.lib.fieldcrypt import keyed_hash
from crm.lib.meta import model_field
from crm.lib.payloads import client_url, desk_ref, user_ref
from crm.models import Brand, Client, Desk, Stage, User, stages
from crm.services.clients import (
    CLIENT_AUDIT_FIELDS,
    TAG_MAX_LENGTH,
    _check_desk,
    _check_owner,
    _clean_client_values,
    _mask,
)
from crm.services.common import _require, _user_in_brand
from crm.services.notifications import notify_user
from plumbing import context


@dataclass(frozen=True)
class NewClient:
    """One client to create. Values are normalised as client_create normalises them (the lead
    intake's cleaner uses the same normalisers of crm.lib.validation and crm.lib.phone); `add`
    checks only what costs no parsing: types and lengths, and the owner and desk."""

    first_name: str
    last_name: str = ""
    email: str = ""
    phone: str = ""
    country: str = ""
    nationality: str = ""
    language: str = ""
    timezone: str = ""
    date_of_birth: date | None = None
    owner: User | None = None
    desk: Desk | None = None
    source: str = ""
    campaign: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    referrer_code: str = ""
    tags: Sequence[str] = ()
    # Drawn by the caller beforehand when its own rows refer to the client (crm.lib.bulk.next_ids).
    id: int | None = None
    # Further keys of the "client.created" event (the lead intake's channel, touch and score).
    event_data: Mapping[str, Any] | None = None
    # When the client registered (a migration's, client_create's registered_at): its row and event dated then.
    registered_at: datetime | None = None


_TEXT_FIELDS = ("first_name", "last_name", "email", "phone", "country", "nationality", "language", "timezone", "source",
                "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer_code")


@functools.cache
def _limits() -> dict[str, int]:
    limits = {}
    for name in _TEXT_FIELDS:
        limit = model_field(Client, name).max_length
        if limit is None:
            raise TypeError(f"Client.{name} is a text column without a max_length")
        limits[name] = limit
    return limits


@functools.cache
def _audit_attnames() -> tuple[tuple[str, str], ...]:
    return tuple((name, model_field(Client, name).attname) for name in CLIENT_AUDIT_FIELDS)


def _key(thing: Any) -> tuple[type, Any]:
    return type(thing), getattr(thing, "pk", None)


@functools.cache
def _history_model() -> type[models.Model]:
    # Client.history builds a manager class on every access: the history model is looked up instead.
    return apps.get_model("crm", "HistoricalClient")


def _check_brand_and_stage(errors: FieldErrors, *, actor: User | None, brand: Any, stage: str) -> None:
    """A new client's brand (one the actor works for, active) and stage (one a client may start at)."""
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


class ClientsCreation:
    """Clients of one brand created in the caller's transaction: `add` them (in as many calls as
    suits the caller), then `finish` (clients_creation does both). `actor` None is the system."""

    def __init__(self, *, actor: User | None, brand: Brand, stage: str = Stage.LEAD, notify: bool = True,
                 now: datetime | None = None) -> None:
        _require(actor, "crm.add_client")
        errors = FieldErrors()
        _check_brand_and_stage(errors, actor=actor, brand=brand, stage=stage)
        errors.raise_if_any()
        ctx = context.current()
        ctx_user_id = ctx.user.pk if getattr(ctx.user, "pk", None) else None
        self.actor, self.brand, self.stage, self.notify = actor, brand, stage, notify
        self.now = now or _now()
        self.actor_id = actor.pk if actor is not None else ctx_user_id
        # As django-simple-history records every other change: the user of the acting context.
        self.history_user_id = ctx_user_id
        self.request_id = ctx.request_id
        self.audit: list[AuditEntry] = []
        self._staff_checked: set[tuple[type, Any]] = set()

    def _check(self, items: Sequence[NewClient]) -> None:
        """ValidationFailed naming "clients.<n>.<field>" unless every item fits the table and the brand."""
        errors = FieldErrors()
        limits = _limits()
        prefix: Callable[[int], str] = (lambda i: f"clients.{i}.") if len(items) > 1 else (lambda i: "")
        for i, item in enumerate(items):
            for name, limit in limits.items():
                value = getattr(item, name)
                if not isinstance(value, str):
                    errors.add(prefix(i) + name, gettext("Enter text."))
                elif len(value) > limit:
                    errors.add(prefix(i) + name, gettext("Use at most %(max)d characters.") % {"max": limit})
            if not item.first_name:
                errors.add(prefix(i) + "first_name", gettext("This field is required."))
            if item.date_of_birth is not None and not isinstance(item.date_of_birth, date):
                errors.add(prefix(i) + "date_of_birth", gettext("Enter a valid date (YYYY-MM-DD)."))
            if isinstance(item.tags, str) or not all(isinstance(tag, str) for tag in item.tags):
                errors.add(prefix(i) + "tags", gettext("Tags must be text."))
            elif any(len(tag) > TAG_MAX_LENGTH for tag in item.tags):
                errors.add(prefix(i) + "tags", gettext("A tag has at most %(max)d characters.") % {
                    "max": TAG_MAX_LENGTH})
        # Each member of staff and desk once per creation: a batch gives the same few agents many leads.
        staff = {_key(x): x for item in items for x in (item.owner, item.desk)
                 if x is not None and _key(x) not in self._staff_checked}
        for thing in staff.values():
            found = FieldErrors()
            if isinstance(thing, Desk):
                _check_desk(thing, self.brand.pk, found)
            else:
                _check_owner(thing, self.brand.pk, found)
            for name, messages in found.fields.items():
                for message in messages:
                    errors.add(name, message)
            if not found:
                self._staff_checked.add(_key(thing))
        errors.raise_if_any()

    def add(self, items: Sequence[NewClient]) -> list[dict[str, Any]]:
        """Write `items`: their rows, history rows and "client.created" events, in one statement;
        their audit rows follow in `finish`. Returns each client's row as stored, in order."""
        if not items:
            return []
        self._check(items)
        missing = [item for item in items if item.id is None]
        fresh = iter(bulk.next_ids((Client, len(missing)))[0] if missing else [])
        now, brand = self.now, self.brand
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for item in items:
            owner, desk = item.owner, item.desk
            row: dict[str, Any] = {
                "id": item.id if item.id is not None else next(fresh), "code": uuid.uuid4(), "brand_id": brand.pk,
                "stage": self.stage, "first_name": item.first_name, "last_name": item.last_name,
                "email": item.email, "phone": item.phone, "country": item.country,
                # Written with the row (this insert bypasses save): crm.lib.fieldcrypt's keyed hashes.
                "email_hash": keyed_hash(item.email, kind="email"), "phone_hash": keyed_hash(item.phone, kind="phone"),
                "nationality": item.nationality, "language": item.language,
                "timezone": item.timezone, "date_of_birth": item.date_of_birth,
                "owner_id": owner.pk if owner is not None else None, "desk_id": desk.pk if desk is not None else None,
                "source": item.source, "campaign": item.campaign, "utm_source": item.utm_source,
                "utm_medium": item.utm_medium, "utm_campaign": item.utm_campaign, "utm_term": item.utm_term,
                "utm_content": item.utm_content, "referrer_code": item.referrer_code, "tags": list(item.tags),
                "created_at": (at := item.registered_at or now), "updated_at": at, "stage_changed_at": at,
            }
            rows.append(row)
            name = f"{item.first_name} {item.last_name}".strip()
            data = {"name": name, "stage": self.stage, "country": item.country, "source": item.source,
                    "campaign": item.campaign, "owner": user_ref(owner), "desk": desk_ref(desk)}
            for key, value in (item.event_data or {}).items():
                data.setdefault(key, value)  # what the core writes stays as it writes it
            events.append(event_row("client.created", client_id=row["id"], brand_id=brand.pk, actor_id=self.actor_id,
                                    data=data, at=at, request_id=self.request_id))
            after = {field: row[attname] for field, attname in _audit_attnames()}
            after["email"], after["phone"] = _mask("email", row["email"]), _mask("phone", row["phone"])
            self.audit.append(AuditEntry(action="client.create", object_type="crm.client", object_id=str(row["code"]),
                                         after=after, actor=self.actor, brand=brand))
        history = bulk.AsInserted(Client, {"history_date": now, "history_type": "+",
                                           "history_user_id": self.history_user_id, "history_change_reason": None})
        event_rows_ready(events)
        bulk.write([(Client, rows, True), (_history_model(), history, False), (_event_model(), events, False)])
        kick_after_commit()
        if self.notify:
            for item, row in zip(items, rows, strict=True):
                if item.owner is not None:
                    client = client_from_row(row)
                    notify_user(item.owner, kind="client_assigned", title=gettext_noop("A client was assigned to you"),
                                body=client.full_name, url=client_url(client), actor=self.actor)
        return rows

    def finish(self, *, also: Sequence[AuditEntry] = ()) -> None:
        """Write the audit rows of the clients added so far (one "client.create" row each), and the
        caller's own entries `also` in the same statements (the lead intake's)."""
        audit_record_many([*self.audit, *also])
        self.audit = []


@functools.cache
def _event_model() -> type[models.Model]:
    return apps.get_model("crm", "Event")


@contextlib.contextmanager
def clients_creation(*, actor: User | None, brand: Brand, stage: str = Stage.LEAD, notify: bool = True,
                     now: datetime | None = None) -> Iterator[ClientsCreation]:
    """Create many clients of `brand`: `add` them inside the block, in as many calls as suits the
    caller (the lead intake adds a chunk at a time while PostgreSQL stores the one before); their
    audit rows are written as the block ends. Must run inside the caller's transaction.

    Checks the actor (crm.add_client, the brand's staff), the brand and the stage at once, and each
    client's owner and desk as client_create does. Raises ValidationFailed naming each problem
    ("clients.<n>.<field>" when several clients are added at once); nothing is then written.
    """
    creation = ClientsCreation(actor=actor, brand=brand, stage=stage, notify=notify, now=now)
    yield creation
    creation.finish()


def client_from_row(row: Mapping[str, Any], *, brand: Brand | None = None, owner: User | None = None,
                    desk: Desk | None = None) -> Client:
    """The Client a row written by ClientsCreation.add stands for, without reading it back."""
    client = Client(**row)
    if brand is not None:
        client.brand = brand
    if owner is not None:
        client.owner = owner
    if desk is not None:
        client.desk = desk
    client._state.adding = False
    client._state.db = transaction.get_connection().alias
    return client


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
    nationality: str = "",
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
    registered_at: datetime | None = None,
) -> Client:
    """Create a client of `brand`. Event "client.created".

    `registered_at`: when the client registered, for a migration's history (not in the future; its
    row, history and event are dated then); default now.

    The phone is stored in E.164, using `country` as the hint for national numbers. An agent who
    creates a client without naming an owner becomes its owner (otherwise they could not see it);
    the desk defaults to the owner's desk in the same brand. Written as clients_creation writes
    the many: a creation of one.
    """
    _require(actor, "crm.add_client")
    errors = FieldErrors()
    values = _clean_client_values(
        {
            "first_name": first_name, "last_name": last_name, "email": email, "phone": phone,
            "country": country, "nationality": nationality, "language": language, "timezone": timezone,
            "date_of_birth": date_of_birth,
            "source": source, "campaign": campaign, "utm_source": utm_source, "utm_medium": utm_medium,
            "utm_campaign": utm_campaign, "utm_term": utm_term, "utm_content": utm_content,
            "referrer_code": referrer_code, "tags": tags,
        },
        current_country="",
        errors=errors,
    )
    _check_brand_and_stage(errors, actor=actor, brand=brand, stage=stage)
    if owner is None and actor is not None and actor.role is not None and actor.role.is_agent:
        owner = actor
    if owner is not None:
        _check_owner(owner, brand.pk, errors)
    if desk is None and owner is not None and "owner" not in errors and owner.desk is not None:
        if owner.desk.brand_id == brand.pk and owner.desk.is_active:
            desk = owner.desk
    if desk is not None:
        _check_desk(desk, brand.pk, errors)
    if registered_at is not None and (registered_at.tzinfo is None or registered_at > _now()):
        errors.add("registered_at", gettext("A past time with its time zone."))
    errors.raise_if_any()

    with clients_creation(actor=actor, brand=brand, stage=stage, now=registered_at) as creation:
        [row] = creation.add([NewClient(owner=owner, desk=desk, **values)])
    return client_from_row(row, brand=brand, owner=owner, desk=desk)
