"""Four-eyes decisions: one person proposes, a second, different person approves or sends back.

A decision that needs two people (a compliance case's report or offboarding, a screening hit's
decision at or above the high score, a withdrawal above the brand's four-eyes amount) declares one
``FourEyes`` next to its model, and its services go through it:

1. ``needed(obj, values)``: whether this decision on this object needs a second person at all; the
   threshold is data (a callable per use reading a setting, the brand's policy, the kind of
   decision), so one decision may take effect at once and another wait.
2. ``propose(obj, actor=..., values={...})``: the first person's decision waits. The proposal is
   kept on the owning model's own fields (`proposer_field`: who; `values`: what and why), saved, and
   audited. No model of its own: each owning model already has its columns and a database
   constraint that the approver is not the proposer, and its history (django-simple-history, its
   step rows) already shows the proposal beside the rest of the object's life.
3. ``approve(obj, actor=...)``: a second person approves; the proposal is returned for the caller
   to carry out (close the case, confirm the hit, approve the withdrawal). The approver is stored in
   `approver_field` when there is one, and the approval audited (its own row, or the row of the
   effect the caller writes with the approver in it: see `actions`).
4. ``send_back(obj, actor=..., reason=...)``: a second person disagrees; the proposal is cleared
   (its fields emptied) and the sending back audited with the reason and what had been proposed.

Never the same person: approving or sending back one's own proposal raises the use's `error` with
`same_person_code`, and nothing is written. Approving or sending back where nothing waits raises the
same error with the `not_pending` message. Every step is one audit row (`audit`, which is
crm.audit.audit_record: passed in, since crm.lib sits below the core), written in the caller's
transaction. The state of the object (pending approval, in review ...) is its own state machine's
(crm.lib.states): the caller moves it in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.utils.functional import Promise

from crm.lib.errors import DomainError

_APPROVALS: dict[str, FourEyes] = {}


def _always(obj: Any, values: Mapping[str, Any]) -> bool:
    return True


@dataclasses.dataclass(frozen=True)
class Proposal:
    """What waits for (or had) the second person: who proposed it and the values proposed."""

    by: Any
    values: dict[str, Any]


@dataclasses.dataclass(frozen=True, eq=False)
class FourEyes:
    """One kind of four-eyes decision (see the module's docstring). `name` says what is decided ("case
    decision"); `proposer_field` is the model's foreign key to who proposed; `value_fields` hold what they
    proposed (cleared on sending back); `approver_field` (optional) where the approver is stored."""

    name: str
    proposer_field: str
    value_fields: Sequence[str]
    error: type[DomainError]
    audit: Callable[..., Any]
    # The actions of the audit rows by step: "proposed", "sent_back" and (optional) "approved". Without
    # "approved", the approval is audited by the row of its effect, which the caller writes in the
    # same transaction naming the approver (a hit confirmed, a case closed: one row, not two).
    actions: Mapping[str, str]
    # The refusals' messages (translated at the moment they are raised).
    same_person_approve: str | Promise
    same_person_send_back: str | Promise
    not_pending: str | Promise
    same_person_code: str = "second_person_required"
    approver_field: str | None = None
    # The threshold: whether this decision (the object, the values it would take) needs a second person.
    needed: Callable[[Any, Mapping[str, Any]], bool] = _always
    register: bool = True

    def __post_init__(self) -> None:
        missing = {"proposed", "sent_back"} - set(self.actions)
        if missing:
            raise ValueError(f"{self.name}: no audit action for {sorted(missing)}")
        if self.register:
            _APPROVALS[self.name] = self

    def pending(self, obj: Any) -> Proposal | None:
        """The proposal waiting on `obj`, or None."""
        by = getattr(obj, self.proposer_field)
        if by is None:
            return None
        return Proposal(by=by, values={name: getattr(obj, name) for name in self.value_fields})

    def propose(
        self,
        obj: Any,
        *,
        actor: Any,
        values: Mapping[str, Any],
        reason: str = "",
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        save: Sequence[str] = (),
    ) -> Proposal:
        """Record `actor`'s proposal (`values` for the value fields) on `obj`, save those fields (and those of
        `save`) and audit it. The caller holds the row's lock and has checked the object's state."""
        unknown = set(values) - set(self.value_fields)
        if unknown:
            raise ValueError(f"{self.name}: {sorted(unknown)} are not fields of the proposal")
        setattr(obj, self.proposer_field, actor)
        for name, value in values.items():
            setattr(obj, name, value)
        obj.save(update_fields=[self.proposer_field, *values, *(name for name in save if name not in values)])
        proposal = Proposal(by=actor, values=dict(values))
        self._audit("proposed", obj, actor=actor, reason=reason, before=before, after=after)
        return proposal

    def check_second(self, obj: Any, *, actor: Any, sending_back: bool = False) -> Proposal:
        """The waiting proposal, if `actor` may approve it (or send it back): else the use's error,
        `not_pending` where nothing waits, `same_person_code` for the proposer."""
        proposal = self.pending(obj)
        if proposal is None:
            raise self.error(str(self.not_pending))
        if getattr(proposal.by, "pk", proposal.by) == getattr(actor, "pk", actor):
            message = self.same_person_send_back if sending_back else self.same_person_approve
            raise self.error(str(message), code=self.same_person_code)
        return proposal

    def approve(
        self,
        obj: Any,
        *,
        actor: Any,
        reason: str = "",
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        save: Sequence[str] = (),
    ) -> Proposal:
        """A second person approves the waiting proposal (refused as `check_second` says, nothing
        written): the approver is set on `approver_field` (saved with `save`), the approval audited,
        and the proposal returned for the caller to carry out. The proposal's fields are kept."""
        proposal = self.check_second(obj, actor=actor)
        fields = list(save)
        if self.approver_field is not None:
            setattr(obj, self.approver_field, actor)
            fields = [self.approver_field, *(name for name in fields if name != self.approver_field)]
        if fields:
            obj.save(update_fields=fields)
        if "approved" in self.actions:
            self._audit(
                "approved", obj, actor=actor, reason=reason, before=before, after=after, proposal=proposal
            )
        return proposal

    def send_back(
        self,
        obj: Any,
        *,
        actor: Any,
        reason: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        save: Sequence[str] = (),
    ) -> Proposal:
        """A second person disagrees (refused as `check_second` says, nothing written): the proposal's
        fields are cleared (None, or "" for a column that is not nullable) and saved (with `save`) and the sending back audited with the reason."""
        proposal = self.check_second(obj, actor=actor, sending_back=True)
        setattr(obj, self.proposer_field, None)
        for name in self.value_fields:
            setattr(obj, name, None if obj._meta.get_field(name).null else "")
        obj.save(
            update_fields=[
                self.proposer_field,
                *self.value_fields,
                *(name for name in save if name not in self.value_fields),
            ]
        )
        self._audit(
            "sent_back", obj, actor=actor, reason=reason, before=before, after=after, proposal=proposal
        )
        return proposal

    def _audit(
        self,
        step: str,
        obj: Any,
        *,
        actor: Any,
        reason: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        proposal: Proposal | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if proposal is not None:
            extra["proposed_by"] = _ref(proposal.by)
        self.audit(
            action=self.actions[step],
            obj=obj,
            actor=actor,
            reason=reason,
            before=dict(before) if before is not None else None,
            after={**extra, **(after or {})},
        )


def _ref(user: Any) -> str:
    code = getattr(user, "code", None)
    return str(code) if code is not None else str(getattr(user, "pk", user))


def approvals() -> list[FourEyes]:
    """Every registered four-eyes decision (each use declares itself when its module is imported)."""
    return list(_APPROVALS.values())
