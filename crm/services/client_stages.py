"""A client's stage (the ordinary move, the proof from another app, the administrator's override)
and its regulatory classification."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, NotAllowed, ValidationFailed
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Classification, Client, Stage, User, stages
from crm.permissions import user_can
from crm.services.clients import _lock_client
from crm.services.common import _require


def _stage_write(*, actor: User | None, client: Client, stage: str, reason: str, action: str,
                 route: str | None = None, evidence: dict[str, Any] | None = None) -> Client:
    """Make a move through the stage machine (crm.models.stages.CLIENT_STAGES; `route`: a proof's or the
    override's, None for an ordinary move): the row, its audit row and "client.stage_changed" (via
    the route, or "move"), or StageRefused and nothing written."""
    stages.CLIENT_STAGES.move(client, stage, via=route, also={"stage_changed_at": timezone.now()},
                              save=("updated_at",), actor=actor, reason=reason, action=action,
                              event_via=route or "move", evidence=evidence)
    return client


def _required_reason(errors: FieldErrors, reason: Any, missing: str) -> str:
    """The reason a decision rests on, cleaned; `missing` (on the "reason" field) when there is none."""
    if not isinstance(reason, str) or not reason.strip():
        errors.add("reason", missing)
        return ""
    try:
        return text_clean(reason, field="reason", max_length=500, required=True)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
        return reason


def _valid_stage(stage: Any) -> str:
    if not isinstance(stage, str) or stage not in Stage.values:
        raise ValidationFailed(fields={"stage": [gettext("Choose a valid stage.")]})
    return stage


@transaction.atomic
def client_stage_change(*, actor: User | None, client: Client, stage: str, reason: str = "") -> Client:
    """Make an ordinary move (crm.models.stages.ORDINARY_MOVES). Event "client.stage_changed" (from, to,
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
    stages.CLIENT_STAGES.check(client, stage)  # StageRefused naming the move
    if old == Stage.CLOSED and not reason:
        raise ValidationFailed(fields={"reason": [gettext("Say why this closed client is being reopened.")]})
    return _stage_write(actor=actor, client=client, stage=stage, reason=reason, action="client.stage_change")


@transaction.atomic
def client_stage_prove(*, client: Client, proof: str | stages.Proof, actor: User | None = None,
                       evidence: dict[str, Any] | None = None) -> Client:
    """Move the client to the stage `proof` establishes (crm.models.stages.PROOFS, registered by the apps
    that hold the evidence: verified by a KYC approval, funded by a first deposit, active by a first
    trade). Event "client.stage_changed" with
    via = the proof's event name; `evidence` (e.g. the event's uuid) is kept in the audit row.

    Only the services that hold the evidence call this (their event handlers): no page or API
    operation reaches it. A proof only moves a client forward, from the stages listed for it; from
    any other stage (already further on, or closed) it changes nothing.
    """
    proven = stages.stage_proof(proof)
    if proven is None:
        raise ValidationFailed(fields={"proof": [gettext("Unknown proof.")]})
    _lock_client(client)
    old = client.stage
    if old not in proven.sources:
        return client
    reason = stages.proof_reason(proven.proof)
    return _stage_write(actor=actor, client=client, stage=proven.stage, reason=reason, action="client.stage_prove",
                        route=str(proven.proof.value), evidence=evidence)


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
    reason = _required_reason(errors, reason, gettext("Say why the stage is overridden."))
    errors.raise_if_any()
    _lock_client(client)
    old = client.stage
    if old == stage:
        raise ValidationFailed(fields={"stage": [gettext("The client is already at this stage.")]})
    return _stage_write(actor=actor, client=client, stage=stage, reason=reason, action="client.stage_override",
                        route=stages.OVERRIDE)


@transaction.atomic
def client_verification_set(*, client: Client, verified: bool, actor: User | None = None, reason: str = "",
                            evidence: dict[str, Any] | None = None) -> Client:
    """Set whether the client's identity verification stands: the one state every app reads
    (crm.selectors.client_verified). Only the KYC app calls this, in the transaction that changes its own
    status: an approval sets it (and proves the verified stage, client_stage_prove: in the same transaction,
    so no reader ever sees an approved client at an earlier stage); an expiry, a rejection or an approval
    withdrawn for review clears it. Audited ("client.verification_set" / "client.verification_cleared"); the
    KYC app's own events announce the change. Setting the current state again changes nothing."""
    _lock_client(client)
    if verified == (client.verified_at is not None):
        return client
    before = {"verified_at": client.verified_at.isoformat() if client.verified_at else None}
    client.verified_at = timezone.now() if verified else None
    client.save(update_fields=["verified_at", "updated_at"])
    audit_record(action="client.verification_set" if verified else "client.verification_cleared", obj=client,
                 before=before, after={"verified_at": client.verified_at.isoformat() if client.verified_at else None,
                                       **({"evidence": evidence} if evidence else {})},
                 reason=reason[:500], actor=actor)
    proof = stages.stage_proof_for(Stage.VERIFIED)  # the KYC app's approval, as it registered it
    if verified and proof is not None:
        client = client_stage_prove(client=client, proof=proof, actor=actor, evidence=evidence)
    return client


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
    reason = _required_reason(errors, reason, gettext("Say what the classification rests on."))
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
