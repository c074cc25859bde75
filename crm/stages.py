"""The client's stage as a guarded state machine: which moves staff and the API may make, and which
only a proof may make.

Three ways move a client (crm.services):

- `client_stage_change`: an ordinary move of `ORDINARY_MOVES` (a lead registers, a client goes
  dormant or is closed, a closed client is reopened with a reason). Staff pages and the API use it.
- `client_stage_prove`: verified, funded and active are facts about the client that only the
  services holding the evidence establish: an approved KYC review ("kyc.approved"), a first
  confirmed deposit ("wallet.first_deposit"), a first trade ("trading.first_trade"). Each proof moves
  the client forward from the stages of `PROOFS` and never back.
- `client_stage_override`: an administrator's correction, to any stage, with a reason; audited.

Everything else, including any move backwards (funded to lead), is refused with a message naming the
move and what would make it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Stage

OVERRIDE_PERMISSION = "crm.override_client_stage"


class Proof(models.TextChoices):
    """What proves a stage: the name of the event that carries the evidence."""

    KYC_APPROVAL = "kyc.approved", _("KYC approval")
    FIRST_DEPOSIT = "wallet.first_deposit", _("first deposit")
    FIRST_TRADE = "trading.first_trade", _("first trade")


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

PROOFS: dict[Proof, ProvenStage] = {
    Proof.KYC_APPROVAL: ProvenStage(Proof.KYC_APPROVAL, Stage.VERIFIED,
                                    frozenset({Stage.LEAD, Stage.REGISTERED})),
    Proof.FIRST_DEPOSIT: ProvenStage(Proof.FIRST_DEPOSIT, Stage.FUNDED,
                                     frozenset({Stage.LEAD, Stage.REGISTERED, Stage.VERIFIED})),
    # A first trade on a new account also brings a dormant client back.
    Proof.FIRST_TRADE: ProvenStage(Proof.FIRST_TRADE, Stage.ACTIVE,
                                   frozenset({Stage.LEAD, Stage.REGISTERED, Stage.VERIFIED, Stage.FUNDED,
                                              Stage.DORMANT})),
}
PROVEN_STAGES: dict[str, ProvenStage] = {p.stage: p for p in PROOFS.values()}

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


def stage_refusal(old: str, new: str) -> str | None:
    """Why an ordinary move from `old` to `new` is refused (naming the move), or None if allowed."""
    if new in ORDINARY_MOVES.get(old, frozenset()):
        return None
    move = {"old": stage_label(old), "new": stage_label(new)}
    proof = stage_proof_for(new)
    if proof is not None:
        return gettext("A client cannot be moved from %(old)s to %(new)s by hand: only a %(proof)s makes a "
                       "client %(new)s.") % {**move, "proof": proof.label}
    return gettext("A client cannot be moved from %(old)s to %(new)s; only an administrator's override "
                   "with a reason can do that.") % move


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
