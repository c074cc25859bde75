"""The KYC approval is the proof that makes a client verified (crm.stages)."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from crm.services import client_stage_prove
from crm.stages import Proof


@subscribe("kyc.approved")
def client_verified(event: Event) -> None:
    """A lead or registered client becomes verified; a client already further on stays where it is."""
    if event.client is None:
        return
    client_stage_prove(client=event.client, proof=Proof.KYC_APPROVAL, actor=event.actor,
                       evidence={"event": str(event.uuid), "level": str((event.data or {}).get("level", ""))})
