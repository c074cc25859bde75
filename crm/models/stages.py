"""The client's stage as a guarded state machine: which moves staff and the API may make, and which
only a proof may make.

Three ways move a client (crm.services):

- `client_stage_change`: an ordinary move of `ORDINARY_MOVES` (a lead registers, a client goes
  dormant or is closed, a closed client is reopened with a reason). Staff pages and the API use it.
- `client_stage_prove`: verified, funded and active are facts about the client that only the
  services holding the evidence establish (an approved KYC review, a first confirmed deposit, a
  first trade). The core does not know those apps' events: each app registers what proves a stage,
  with `register_stage_proof` from its AppConfig.ready (the event that carries the evidence, the
  stage, and the stages it moves the client from). A proof moves the client forward from its
  sources and never back.
- `client_stage_override`: an administrator's correction, to any stage, with a reason; audited.

Everything else, including any move backwards (funded to lead), is refused with a message naming the
move and what would make it. The three are one guarded state machine (`CLIENT_STAGES`, crm.lib.states):
the ordinary moves are its table, each proof and the override a route of their own, and every move
leaves its audit row and its "client.stage_changed" event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import StageRefused
from crm.lib.states import StateMachine
from crm.models import Client, Stage

OVERRIDE_PERMISSION = "crm.override_client_stage"


@dataclass(frozen=True)
class Proof:
    """What proves a stage: the name of the event that carries the evidence (`value`), registered
    by the app that emits it, and how a person names it ("KYC approval")."""

    value: str
    label: Any  # a lazy translation

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ProvenStage:
    proof: Proof
    stage: str
    sources: frozenset[str]  # the stages a proof moves the client from; from any other it changes nothing


# Ordinary moves: stage -> the stages staff (and API callers) may move a client to.
ORDINARY_MOVES: dict[str, frozenset[str]] = {
    Stage.LEAD: frozenset({Stage.REGISTERED, Stage.CLOSED}),
    Stage.REGISTERED: frozenset({Stage.CLOSED}),
    Stage.VERIFIED: frozenset({Stage.CLOSED}),
    Stage.FUNDED: frozenset({Stage.DORMANT, Stage.CLOSED}),
    Stage.ACTIVE: frozenset({Stage.DORMANT, Stage.CLOSED}),
    Stage.DORMANT: frozenset({Stage.CLOSED}),
    # Reopening: back to the start of the funnel, with a reason; what was proven is proven again.
    Stage.CLOSED: frozenset({Stage.LEAD, Stage.REGISTERED}),
}

# What proves a stage, by the proof's event name: filled by the apps (register_stage_proof) after
# this module is imported, so everything built from it reads it when asked, never at import.
PROOFS: dict[str, ProvenStage] = {}
PROVEN_STAGES: dict[str, ProvenStage] = {}


def register_stage_proof(*, stage: str, event_type: str, label: Any, sources: frozenset[str]) -> Proof:
    """Declare that the event `event_type` proves `stage`, moving a client there from `sources`
    (from any other stage it changes nothing). Called by the app that emits the event, from its
    AppConfig.ready; registering the same proof again replaces it. Returns the proof, which the
    app hands to client_stage_prove."""
    if stage not in Stage.values or not sources <= set(Stage.values) or stage in sources:
        raise ValueError(f"stage proof {event_type!r}: {stage!r} from {sorted(sources)} is not a move of the stages")
    claimed = PROVEN_STAGES.get(stage)
    if claimed is not None and claimed.proof.value != event_type:
        raise ValueError(f"stage {stage!r} is already proven by {claimed.proof.value!r}, not {event_type!r}")
    proof = Proof(value=event_type, label=label)
    proven = ProvenStage(proof=proof, stage=stage, sources=frozenset(sources))
    PROOFS[event_type] = PROVEN_STAGES[stage] = proven
    return proof


def stage_proof(name: str | Proof) -> ProvenStage | None:
    """The registered proof of event `name` (or the proof itself), or None."""
    return PROOFS.get(name.value if isinstance(name, Proof) else str(name))

# A new client starts at the beginning of the funnel: a proven stage is reached through its proof.
CREATABLE_STAGES: tuple[str, ...] = (Stage.LEAD, Stage.REGISTERED)

# Where ordinary moves come from, in the funnel's order (for the pages' choices).
_ORDER = [value for value, _label in Stage.choices]


def stage_label(stage: str) -> str:
    try:
        return str(Stage(stage).label)
    except ValueError:
        return str(stage)


def stage_moves_from(stage: str) -> list[str]:
    """The stages an ordinary move takes a client at `stage` to, in the funnel's order."""
    allowed = ORDINARY_MOVES.get(stage, frozenset())
    return [s for s in _ORDER if s in allowed]


def stage_proof_for(stage: str) -> Proof | None:
    """The proof that makes a client `stage`, or None for a stage reached by an ordinary move."""
    proven = PROVEN_STAGES.get(stage)
    return proven.proof if proven is not None else None


def _move_refused(old: str, new: str) -> str:
    """The message of a refused ordinary move: the move, and what would make it."""
    move = {"old": stage_label(old), "new": stage_label(new)}
    proof = stage_proof_for(new)
    if proof is not None:
        return gettext("A client cannot be moved from %(old)s to %(new)s by hand: only a %(proof)s makes a "
                       "client %(new)s.") % {**move, "proof": proof.label}
    return gettext("A client cannot be moved from %(old)s to %(new)s; only an administrator's override "
                   "with a reason can do that.") % move


def _stage_record(client: Client, old: str, new: str, *, actor: Any, reason: str, action: str, event_via: str,
                  evidence: dict[str, Any] | None = None) -> None:
    """A move's trail: its audit row (`action`) and "client.stage_changed" (from, to, reason, via)."""
    after: dict[str, Any] = {"stage": new, "via": event_via}
    if evidence:
        after["evidence"] = evidence
    audit_record(action=action, obj=client, before={"stage": old}, after=after, reason=reason, actor=actor)
    emit("client.stage_changed", client=client, actor=actor,
         data={"from": old, "to": new, "reason": reason, "via": event_via})


OVERRIDE = "override"

_OVERRIDE_ROUTE = {stage: frozenset(set(Stage.values) - {stage}) for stage in Stage.values}


class _Routes(Mapping[str, Mapping[str, frozenset[str]]]):
    """The machine's routes, read from the proofs registered so far each time they are asked for:
    each proof's route (from its sources to its stage) and the override's."""

    def _all(self) -> dict[str, Mapping[str, frozenset[str]]]:
        routes: dict[str, Mapping[str, frozenset[str]]] = {
            name: {source: frozenset({proven.stage}) for source in proven.sources} for name, proven in PROOFS.items()}
        routes[OVERRIDE] = _OVERRIDE_ROUTE
        return routes

    def __getitem__(self, via: str) -> Mapping[str, frozenset[str]]:
        return self._all()[via]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(PROOFS) + 1


# The client's stage. The table holds the ordinary moves; a proof moves a client only along its own
# route (from its sources to its stage), and an administrator's override from any stage to any other.
CLIENT_STAGES = StateMachine(
    name="client stage", model="crm.Client", states=Stage, state_field="stage", transitions=ORDINARY_MOVES,
    terminal=frozenset(),  # none: a closed client can be reopened
    routes=_Routes(),
    record=_stage_record, error=StageRefused, message=_move_refused, error_field="stage",
)


def stage_create_refusal(stage: str) -> str | None:
    """Why a client cannot be created at `stage`, or None."""
    if stage in CREATABLE_STAGES:
        return None
    proof = stage_proof_for(stage)
    if proof is not None:
        return gettext("A new client cannot start as %(stage)s: only a %(proof)s makes a client %(stage)s.") % {
            "stage": stage_label(stage), "proof": proof.label}
    return gettext("A new client starts as a lead or registered, not as %(stage)s.") % {"stage": stage_label(stage)}


def proof_reason(proof: Proof) -> str:
    """The reason recorded with a move a proof made."""
    return gettext("Proven by a %(proof)s.") % {"proof": proof.label}
