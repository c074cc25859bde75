"""Guarded state machines: the moves a model's state may make, as data, and the one way to make one.

A model with a life (a deposit, a withdrawal, a transfer, a KYC verification, a client's stage)
declares one ``StateMachine`` next to its choices:

- ``transitions``: every state of the choices, mapped to the states it may move to;
- ``terminal``: the states nothing leaves (declared, so that a state left out by mistake is not
  taken for an end; ``tests/states.py`` checks the table against the choices);
- ``routes``: moves only a named path may make, on top of the ordinary table (a KYC approval
  withdrawn by a vendor's later result, a client's stage proven by a deposit or overridden by an
  administrator): ``move(..., via="reopen")``;
- ``guard``: a condition on the object beyond the table (a final KYC rejection may not go back to
  pending although a retryable one may);
- ``record``: writes the model's status-change row (the history), called with the object, the old
  and the new state and the caller's details (actor, reason ...);
- ``error`` and ``message``: the ``TransitionRefused`` subclass a refused move raises, and its
  message (a function of the two states, in the model's own translated words) naming both.

``move`` refuses before anything changes; an allowed move sets the state (and the other fields
given in ``also``), saves them when told which fields to save, and writes the status-change row
in one transaction: if the row cannot be written, the database keeps neither and the object's
fields are put back. Where the caller saves the object itself (it changes other fields in the same
step), it does so in its own transaction, which the move joins.

A set-based update (many rows in one statement, where a row each would be too slow) moves only the
rows the table allows: its WHERE clause is ``sources(new)``, the states that may move to ``new``,
and a row in any other state is left as it is.

Every machine registers itself by name (``machines()``), so that the tests walk each table, and names
the model field it guards (``model``, "app_label.Model", with ``state_field``): tests/test_architecture.py
fails for a status, state or stage field with choices that no machine guards (or that a short list
names as not a lifecycle, with the reason).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from crm.lib.errors import Conflict

Table = Mapping[str, frozenset[str]]


class TransitionRefused(Conflict):
    """A move the state machine does not allow. The message names both states; `from_state` and
    `to_state` hold them. Nothing was written."""

    default_code = "transition_refused"
    from_state: str = ""
    to_state: str = ""


def history_writer(model: type[models.Model], *, owner: str, from_field: str = "from_status",
                   to_field: str = "to_status", stamp: str | None = "at", gathered: bool = False,
                   ) -> Callable[..., Any]:
    """A ``record`` that creates one row of the history `model`: `owner` (the foreign key to the
    object), the old and new state in `from_field` / `to_field`, `stamp` set to now (unless the
    caller gives it), and the caller's details as the other columns. ``gathered``: inside a
    crm.lib.bulk.rows_gathered block (many moves in one transaction, a batch of payment
    notifications), the row is written with the block's others when it ends, unsaved until then."""

    def write(obj: models.Model, old: str, new: str, **details: Any) -> Any:
        values: dict[str, Any] = {owner: obj, from_field: old, to_field: new}
        if stamp is not None:
            values[stamp] = timezone.now()
        values.update(details)
        if gathered:
            from crm.lib.bulk import gather  # here: the KYC checks' process loads this without Django's apps
            row = model(**values)
            if gather(row):
                return row
        return model._default_manager.create(**values)

    return write


_MACHINES: dict[str, StateMachine] = {}


@dataclasses.dataclass(frozen=True, eq=False)
class StateMachine:
    """One model's guarded state (see the module's docstring). `name` says what moves ("deposit"),
    `states` are the model's choices and `state_field` the attribute that holds the state."""

    name: str
    states: type[models.TextChoices]
    transitions: Table
    terminal: frozenset[str]
    # The refusal's message, in the model's own words (translated): it names both states.
    message: Callable[[str, str], str]
    state_field: str = "status"
    record: Callable[..., Any] | None = None
    routes: Mapping[str, Table] = dataclasses.field(default_factory=dict)
    guard: Callable[[Any, str, str], bool] | None = None
    error: type[TransitionRefused] = TransitionRefused
    # The input the refusal is reported on (the error's `fields`), for a form or an API caller.
    error_field: str = ""
    # The model whose `state_field` this machine guards ("wallet.Withdrawal").
    model: str = ""
    register: bool = True

    def __post_init__(self) -> None:
        if self.register:
            _MACHINES[self.name] = self

    def targets(self, state: str, *, via: str | None = None) -> frozenset[str]:
        """The states `state` may move to: the ordinary table, and the route `via`'s moves."""
        allowed = self.transitions.get(state, frozenset())
        if via is not None:
            if via not in self.routes:
                raise KeyError(f"{self.name}: no route {via!r}")
            allowed = allowed | self.routes[via].get(state, frozenset())
        return allowed

    def sources(self, new: str, *, via: str | None = None) -> list[str]:
        """The states that may move to `new` (by the table, and the route `via`), sorted: the WHERE
        clause of a set-based update (``filter(status__in=...)``, ``status = ANY(%s)``), which moves
        only the rows the table allows and leaves the others as they are. A guard is not applied."""
        return sorted(str(old) for old in self.states.values if new in self.targets(old, via=via))

    def allows(self, old: str, new: str, *, via: str | None = None, obj: Any = None) -> bool:
        """Whether the table (and the route `via`) allows old -> new; with `obj`, its guard too."""
        if new not in self.targets(old, via=via):
            return False
        return obj is None or self.guard is None or self.guard(obj, old, new)

    def refusal(self, old: str, new: str) -> TransitionRefused:
        """The error a refused old -> new raises, its message naming both states."""
        text = self.message(old, new)
        error = self.error(text, fields={self.error_field: [text]} if self.error_field else None)
        error.from_state, error.to_state = str(old), str(new)
        return error

    def check(self, obj: Any, new: str, *, via: str | None = None) -> str:
        """Raise the machine's error unless `obj` may move to `new`; return its current state."""
        old = str(getattr(obj, self.state_field))
        if not self.allows(old, new, via=via, obj=obj):
            raise self.refusal(old, new)
        return old

    def move(self, obj: Any, new: str, *, via: str | None = None, also: Mapping[str, Any] | None = None,
             save: Sequence[str] | None = None, savepoint: bool = True, **details: Any) -> Any:
        """Move `obj` to `new` and return the status-change row ``record`` wrote (None without one).

        Refused (the machine's error, naming both states) before anything changes. Otherwise, in
        one transaction: the state and the fields of `also` are set, saved when `save` lists the
        other fields to save with them (None: the caller saves the object), and ``record(obj, old,
        new, **details)`` writes the history. A failure leaves nothing written and puts the
        object's fields back. ``savepoint=False``, inside a caller's transaction that a failure
        ends anyway (a webhook's): no savepoint of its own (two round trips fewer), the caller's
        transaction is rolled back instead."""
        old = self.check(obj, new, via=via)
        changes: dict[str, Any] = {self.state_field: new, **(also or {})}
        before = {name: getattr(obj, name) for name in changes}
        try:
            with transaction.atomic(savepoint=savepoint):
                for name, value in changes.items():
                    setattr(obj, name, value)
                if save is not None:
                    obj.save(update_fields=[*changes, *(name for name in save if name not in changes)])
                return self.record(obj, old, new, **details) if self.record is not None else None
        except BaseException:
            for name, value in before.items():
                setattr(obj, name, value)
            raise

    move.alters_data = True  # type: ignore[attr-defined]  # Django's mark for templates, unknown to typeshed


def machines() -> list[StateMachine]:
    """Every registered state machine (each model's declares itself when its module is imported)."""
    return list(_MACHINES.values())


def machine_for(model: str, field: str) -> StateMachine | None:
    """The registered machine guarding `model`'s (its label, "wallet.Withdrawal") `field`, if any."""
    return next((m for m in _MACHINES.values() if m.model == model and m.state_field == field), None)
