"""Reactions of the wallet to events: the first confirmed deposit is the proof that makes a client
funded (crm.models.stages); a deposit made for a trading account goes on to it as a transfer; trading's
answers about balance operations move internal transfers on (wallet.transfers: the ledger moves
only when the platform has applied an operation)."""

from __future__ import annotations

import logging

from crm.events import subscribe
from crm.exceptions import ValidationFailed
from crm.models import Event
from crm.services import client_stage_prove
from trading.selectors import balance_operation_get
from wallet.event_types import FIRST_DEPOSIT
from wallet.models import Deposit
from wallet.receipts import deposit_receipt, withdrawal_receipt
from wallet.transfers import transfer_operation_settled, transfer_request

logger = logging.getLogger(__name__)


@subscribe("wallet.first_deposit")
def client_funded(event: Event) -> None:
    """A client before funded becomes funded; a client already further on stays where it is."""
    if event.client is None:
        return
    client_stage_prove(
        client=event.client,
        proof=FIRST_DEPOSIT,
        actor=event.actor,
        evidence={"event": str(event.uuid), "deposit": str((event.data or {}).get("deposit", ""))},
    )


@subscribe("trading.balance_applied", "trading.balance_failed", "trading.balance_unknown")
def transfer_step(event: Event) -> None:
    """The operation's stored state decides (a late or repeated event changes nothing); an
    operation no transfer sent is left alone."""
    code = (event.data or {}).get("operation")
    operation = balance_operation_get(code) if code else None
    if operation is not None:
        transfer_operation_settled(operation=operation)


@subscribe("wallet.deposit_succeeded")
def deposit_to_account(event: Event) -> None:
    """A deposit the client made for a trading account: what was credited to the wallet goes on to
    the account as a transfer, keyed by the deposit (a repeated event starts nothing new). When
    the transfer is refused (the account archived meanwhile, another operation unconfirmed, the
    wallet already spent) the money stays in the wallet, where the client sees it, and the reason
    is logged."""
    code = (event.data or {}).get("deposit")
    deposit = (
        Deposit.objects.select_related("client", "trading_account").filter(code=code).first()
        if code
        else None
    )
    if deposit is None or deposit.trading_account is None:
        return
    try:
        transfer_request(
            actor=None,
            client=deposit.client,
            source=None,
            target=deposit.trading_account,
            amount=deposit.credited,
            key=f"deposit:{deposit.code}:to-account",
        )
    except ValidationFailed as refused:
        logger.warning(
            "a deposit for a trading account stayed in the wallet: %s",
            refused.message,
            extra={"deposit": str(deposit.code), "fields": refused.fields},
        )


@subscribe("wallet.deposit_succeeded")
def deposit_credited_receipt(event: Event) -> None:
    """The client's receipt of a credited deposit (wallet.receipts: once per deposit)."""
    deposit_receipt(event=event)


@subscribe("wallet.withdrawal_paid", "wallet.withdrawal_rejected", "wallet.withdrawal_failed")
def withdrawal_receipt_send(event: Event) -> None:
    """The client's receipt of a withdrawal paid, rejected or failed (wallet.receipts: once per
    withdrawal and outcome)."""
    withdrawal_receipt(event=event)
