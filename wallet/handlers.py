"""The first confirmed deposit is the proof that makes a client funded (crm.stages)."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from crm.services import client_stage_prove
from crm.stages import Proof


@subscribe("wallet.first_deposit")
def client_funded(event: Event) -> None:
    """A client before funded becomes funded; a client already further on stays where it is."""
    if event.client is None:
        return
    client_stage_prove(client=event.client, proof=Proof.FIRST_DEPOSIT, actor=event.actor,
                       evidence={"event": str(event.uuid), "deposit": str((event.data or {}).get("deposit", ""))})
