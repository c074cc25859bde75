"""The catalogue of domain events: every event name with its typed payload, version and owner.

Each app declares the events it emits in `<app>/event_types.py` (imported by crm.events'
autodiscovery before any handler), a TypedDict per payload:

    class KycApproved(TypedDict):
        level: str
        reviewer: UserRef | None

    declare("kyc.approved", payload=KycApproved, version=1, description="...")

`crm.events.emit` and `emit_many` check every event against its declaration: an undeclared name,
a missing or unexpected field, or a value of the wrong type is refused with an error naming the
field (settings.CRM_EVENTS_STRICT, on in tests and under DEBUG) or logged as an error (off: a
mismatch must not fail a committed money movement, and the row is kept for the record). The
payload is checked as it is stored: JSON types, so decimals, dates and codes are text.

A payload type is compiled once, on first use, into a checker of plain isinstance tests
(plumbing.typedcheck), so that the bulk paths (lead intake, platform sync) pay a few microseconds per event.

The declarations are contracts between apps: a handler or automation rule may rely on every
required field of the version it was written for. A change that removes or retypes a field is a
new version, and the listeners are moved with it.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict, get_args, get_origin

from django.apps import apps

from plumbing.typedcheck import (
    Compiled,
    Format,
    compile_record,
    compile_type,
    fields_of,
    is_datetime,
    is_decimal,
    is_typeddict,
    is_uuid,
)

__all__ = [
    "PERSONAL", "CodeText", "DateTimeText", "DecimalText", "EventContractError", "EventType", "PersonalText", "Ref",
    "UserRef", "declare", "declared", "event_type", "payload_problem",
]

EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")  # as the automation rules accept


class EventContractError(Exception):
    """An event does not fit the catalogue: undeclared, or its payload does not fit its type.
    A programming error, never a user's: `field` names the offending field ("data.owner.code")."""

    def __init__(self, event: str, message: str, *, field: str = "") -> None:
        super().__init__(f"event {event!r}: {message}")
        self.event = event
        self.field = field


# --- formats of text fields ------------------------------------------------------------------------

# An amount as stored in event data: a decimal number as text ("250.00"), never a float.
DecimalText = Annotated[str, Format("decimal", is_decimal)]
# A public code (a UUID as text): events name objects by code, never by database id.
CodeText = Annotated[str, Format("uuid", is_uuid)]
# An ISO 8601 date and time as text.
DateTimeText = Annotated[str, Format("datetime", is_datetime)]


@dataclass(frozen=True)
class Personal:
    """Marks a payload field as a person's personal data (a client's name, an email address):
    Annotated[T, PERSONAL]. Outbound webhooks leave such fields out unless the subscriber holds the
    personal-data scope (integrations.services); the checkers ignore the mark."""


PERSONAL = Personal()
# A client's (or another outside person's) name, email or free text about them.
PersonalText = Annotated[str, PERSONAL]


class Ref(TypedDict):
    """Another object named in an event: its code and a name to show."""

    code: CodeText
    name: str


UserRef = Ref  # a member of staff: code and full name (or email)


@dataclass(frozen=True)
class PayloadField:
    name: str
    type_text: str
    required: bool
    description: str = ""


# --- the catalogue --------------------------------------------------------------------------------

@dataclass
class EventType:
    name: str
    version: int
    payload: type | None
    description: str
    app: str
    _compiled: Compiled | None = field(default=None, repr=False)
    _personal: frozenset[str] | None = field(default=None, repr=False)

    def _checker(self) -> Compiled:
        if self._compiled is None:
            if self.payload is None:
                self._compiled = Compiled(
                    lambda v: None if not v else (f".{sorted(v)[0]}", "this event has no data"), "none")
            else:
                self._compiled = compile_record(self.payload)
        return self._compiled

    def problem(self, data: Any) -> tuple[str, str] | None:
        """None if `data` fits this event's payload, else (the field, "data.owner.code", and what
        is wrong with it)."""
        problem = self._checker().check(data)
        return None if problem is None else (f"data{problem[0]}", problem[1])

    def fields(self) -> list[PayloadField]:
        """The payload's fields for the administrators' page, nested records flattened ("owner.code")."""
        if self.payload is None:
            return []
        return list(_describe(self.payload, ""))

    def personal_fields(self) -> frozenset[str]:
        """The payload's top-level fields marked PERSONAL (Annotated[..., PERSONAL]); worked out once
        (the webhook sender asks for every event)."""
        if self._personal is None:
            self._personal = frozenset() if self.payload is None else frozenset(
                name for name, hint, _ in fields_of(self.payload)
                if get_origin(hint) is Annotated and any(isinstance(m, Personal) for m in get_args(hint)[1:]))
        return self._personal

    @property
    def payload_name(self) -> str:
        return "" if self.payload is None else f"{self.payload.__module__}.{self.payload.__qualname__}"


def _describe(tp: type, prefix: str) -> Iterable[PayloadField]:
    owner = f"{tp.__module__}.{tp.__qualname__}"
    for name, hint, required in fields_of(tp):
        yield PayloadField(name=prefix + name, type_text=compile_type(hint, owner).text, required=required)
        inner = get_args(hint)[0] if get_origin(hint) is Annotated else hint
        is_list = get_origin(inner) is list
        nested = [a for a in (inner, *get_args(inner)) if is_typeddict(a)]
        if nested and nested[0] is not Ref:  # a Ref is always {code, name}: the page says so once
            yield from _describe(nested[0], f"{prefix}{name}{'[]' if is_list else ''}.")


_types: dict[str, EventType] = {}


def _app_of(module: str) -> str:
    config = apps.get_containing_app_config(module) if apps.apps_ready else None
    return config.label if config is not None else module.split(".")[0]


def declare(name: str, *, payload: type | None, version: int = 1, description: str = "") -> EventType:
    """Declare event `name`: its payload (a TypedDict, or None for an event without data), the payload's
    version, and a sentence for administrators. The owning app is the payload's (or, without one, the
    caller's) app. Declaring the same event again with the same payload is a no-op (a module imported twice);
    with another payload or version it is an error: an event has one owner and one contract."""
    if not EVENT_NAME_RE.match(name):
        raise ValueError(f"{name!r} is not an event name (like client.created)")
    if payload is not None and not is_typeddict(payload):
        raise TypeError(f"{name}: the payload must be a TypedDict, got {payload!r}")
    module = payload.__module__ if payload is not None else _caller_module()
    event = EventType(name=name, version=version, payload=payload, description=description, app=_app_of(module))
    existing = _types.get(name)
    if existing is not None:
        if (existing.payload_name, existing.version, existing.app) != (event.payload_name, version, event.app):
            raise ValueError(
                f"event {name!r} is already declared by {existing.app} "
                f"({existing.payload_name or 'no data'}, version {existing.version})")
        if existing.payload is payload:
            return existing
    _types[name] = event
    return event


def _caller_module() -> str:
    import sys

    frame = sys._getframe(2)
    return str(frame.f_globals.get("__name__", ""))


def undeclare(name: str) -> None:
    """For tests that declare a throwaway event."""
    _types.pop(name, None)


def event_type(name: str) -> EventType | None:
    return _types.get(name)


def declared() -> list[EventType]:
    """Every declared event, by name."""
    return [_types[name] for name in sorted(_types)]


def payload_problem(name: str, data: Any) -> tuple[str, str] | None:
    """None if event `name` is declared and `data` fits it; else (field, message)."""
    event = _types.get(name)
    if event is None:
        return "name", f"event {name!r} is not declared in the event catalogue (<app>/event_types.py)"
    problem = event.problem(data)
    if problem is None:
        return None
    field, what = problem
    return field, f"{field}: {what}"


def autodiscover() -> None:
    """Import `<app>.event_types` for every installed app (called from CrmConfig.ready)."""
    for config in apps.get_app_configs():
        module = f"{config.name}.event_types"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


# --- the administrators' page ------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleListener:
    brand: str
    name: str
    code: str
    is_active: bool
    cancels: bool  # the event cancels the rule's delayed run rather than triggering it


@dataclass(frozen=True)
class CatalogueRow:
    name: str
    event: EventType | None  # None: listened to, but no app declares it
    fields: list[PayloadField]
    handlers: list[str]
    rules: list[RuleListener]


@dataclass(frozen=True)
class Catalogue:
    rows: list[CatalogueRow]
    wildcard_handlers: list[str]  # handlers that receive every event

    @property
    def undeclared(self) -> list[CatalogueRow]:
        return [row for row in self.rows if row.event is None]


# Where the rules that listen to events come from (the automation app registers its rules from its
# AppConfig.ready): each source returns its listeners as (event name, RuleListener) pairs.
_rule_sources: list[Callable[[], Iterable[tuple[str, RuleListener]]]] = []


def rule_listeners_register(source: Callable[[], Iterable[tuple[str, RuleListener]]]) -> None:
    """Add `source` to the catalogue's listeners (once, however often it is registered)."""
    if source not in _rule_sources:
        _rule_sources.append(source)


def catalogue_overview(*, handlers: dict[str, list[str]], wildcard_handlers: list[str]) -> Catalogue:
    """Every declared event with its payload and listeners (`handlers`: the handlers' names by event,
    as crm.events registers them, and the rules the registered sources name: automation rules by
    brand), plus the names something listens to that no app declares. The page asks crm.events'
    catalogue_overview, which passes its registry's handlers."""
    rules: dict[str, list[RuleListener]] = {}
    for source in _rule_sources:
        for name, listener in source():
            rules.setdefault(name, []).append(listener)
    names = sorted({*_types, *handlers, *rules})
    rows = [CatalogueRow(name=name, event=_types.get(name),
                         fields=_types[name].fields() if name in _types else [],
                         handlers=handlers.get(name, []), rules=rules.get(name, []))
            for name in names]
    return Catalogue(rows=rows, wildcard_handlers=wildcard_handlers)
