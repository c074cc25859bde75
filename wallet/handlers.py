"""Reactions of the wallet to events: the first confirmed deposit is the proof that makes a client
funded (crm.stages); trading's answers about balance operations move internal transfers on
(wallet.transfers: the ledger moves only when the platform has applied an operation)."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from crm.services import client_stage_prove
from crm.stages import Proof
from trading.models import BalanceOperation
from wallet.transfers import transfer_operation_settled


@subscribe("wallet.first_deposit")
def client_funded(event: Event) -> None:
    """A client before funded becomes funded; a client already further on stays where it is."""
    if event.client is None:
        return
    client_stage_prove(client=event.client, proof=Proof.FIRST_DEPOSIT, actor=event.actor,
                       evidence={"event": str(event.uuid), "deposit": str((event.data or {}).get("deposit", ""))})


@subscribe("trading.balance_applied", "trading.balance_failed", "trading.balance_unknown")
def transfer_step(event: Event) -> None:
    """The operation's stored state decides (a late or repeated event changes nothing); an
    operation no transfer sent is left alone."""
    code = (event.data or {}).get("operation")
    operation = BalanceOperation.objects.filter(code=code).first() if code else None
    if operation is not None:
        transfer_operation_settled(operation=operation)
