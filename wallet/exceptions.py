"""Errors of the wallet's payment providers, with a stable code and a message staff can act on.

Whether a failed call may have been applied follows the trading adapters' rule: ``request_sent``
(the request left) and not ``refused`` (the provider said it did nothing) means the outcome is
unknown and is resolved by looking the operation up (``fetch_status`` by the merchant reference),
never by sending it again blindly.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Model
from django.utils.translation import gettext

from crm.exceptions import Conflict, ExternalCallFailed, NotFound, ValidationFailed, WebhookNotBelieved
from crm.lib.money import Money, money_format
from crm.lib.states import TransitionRefused


class ProviderError(ExternalCallFailed):
    """A payment provider call failed."""

    default_code = "provider_failed"
    status_code = 502

    def default_message(self) -> str:
        return gettext("The payment provider did not accept the request.")


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or turned the request away for now (5xx, 429)."""

    default_code = "provider_unavailable"

    def default_message(self) -> str:
        return gettext("The payment provider is not available; try again later.")


class ProviderTimeout(ProviderError):
    """No answer in time; with ``request_sent`` the provider may have applied the request."""

    default_code = "provider_timeout"

    def default_message(self) -> str:
        return gettext("The payment provider did not answer in time.")


class ProviderRejected(ProviderError):
    """The provider answered that it refuses the request (bad input, not allowed); nothing applied."""

    default_code = "provider_rejected"
    status_code = 400

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code, request_sent=True, refused=True, status=status)


class ProviderProtocolError(ProviderError):
    """The answer did not have the documented shape (the request may have been applied)."""

    default_code = "provider_protocol"


class ProviderUnsupported(ProviderError):
    """This provider cannot do this at all (a bank wire has no hosted refund)."""

    default_code = "provider_unsupported"
    status_code = 400

    def default_message(self) -> str:
        return gettext("This payment provider does not support that operation.")


class ProviderNotConfigured(NotFound):
    """No enabled provider with that code (or its adapter kind is unknown)."""

    default_code = "provider_not_configured"


class WebhookRefused(WebhookNotBelieved):
    """A webhook we do not believe: ``reason`` is bad_signature, stale or malformed."""

    default_code = "webhook_refused"


class SettlementParseError(ValidationFailed):
    """A settlement file line that cannot be read: the message names the row and the column."""

    default_code = "settlement_unreadable"

    def __init__(self, message: str, *, row: int | None = None, column: str = "") -> None:
        self.row = row
        self.column = column
        super().__init__(message, fields={column or "file": message})


class MethodNotAvailable(ValidationFailed):
    """No payment method rule allows this brand, country, currency, direction and amount."""

    default_code = "method_not_available"


# A move the state machine of a deposit, a withdrawal or a transfer refuses (crm.lib.states): the
# message names both states; nothing was written.

class IllegalTransition(TransitionRefused):
    """A deposit's status may not move this way (wallet.models.deposits.DEPOSIT_STATES)."""

    default_code = "deposit_illegal_transition"


class WithdrawalTransitionRefused(TransitionRefused):
    """A withdrawal's state may not move this way (wallet.models.withdrawals.WITHDRAWAL_STATES)."""

    default_code = "withdrawal_transition_refused"


class TransferTransitionRefused(TransitionRefused):
    """A transfer's state may not move this way (wallet.models.transfers.TRANSFER_STATES)."""

    default_code = "transfer_transition_refused"


class RefundTransitionRefused(TransitionRefused):
    """A deposit refund's status may not move this way (wallet.models.deposits.REFUND_STATES)."""

    default_code = "refund_transition_refused"


class HeldDepositDecided(IllegalTransition):
    """Finance's release or refusal of a deposit that is no longer held."""

    default_code = "deposit_not_held"


# --- the ledger -------------------------------------------------------------------------------------

class UnbalancedTransaction(ValidationFailed):
    default_code = "ledger_unbalanced"


class IdempotencyConflict(Conflict):
    """The key was used before for a different movement of money."""

    default_code = "ledger_idempotency_conflict"


class InsufficientFunds(Conflict):
    """An account that may not go negative would: `available` is what it could give."""

    default_code = "insufficient_funds"

    def __init__(self, *, account: Model, available: Money, requested: Money) -> None:  # a wallet.models.LedgerAccount
        self.account = account
        self.available = available
        self.requested = requested
        super().__init__(gettext("Insufficient funds: %(requested)s requested, %(available)s available.") % {
            "requested": money_format(requested), "available": money_format(available)})


class AlreadyReversed(Conflict):
    default_code = "ledger_already_reversed"


class HoldNotOpen(TransitionRefused):
    """A hold released or captured already (wallet.models.ledger.HOLD_STATES): nothing was written."""

    default_code = "ledger_hold_not_open"


# --- withdrawals, transfers, the month's close, reconciliation ---------------------------------------

@dataclass(frozen=True)
class Blocker:
    """One reason a withdrawal cannot be requested now, said to the client (wallet.withdrawals'
    checks, compliance's rules through its hook point)."""

    code: str
    message: str


class WithdrawalBlocked(Conflict):
    """A withdrawal the checks refuse; `blockers` says every reason, the first one is the message."""

    default_code = "withdrawal_blocked"

    def __init__(self, blockers: list[Blocker]) -> None:
        self.blockers = blockers
        super().__init__(blockers[0].message, code=blockers[0].code,
                         fields={"amount": [b.message for b in blockers]})


class FourEyesRefused(Conflict):
    default_code = "withdrawal_four_eyes"


class RefundFourEyesRefused(Conflict):
    """A refund's second person refused: the proposer themselves, nothing waiting, or no person at all."""

    default_code = "refund_four_eyes"


class TransferRefused(ValidationFailed):
    """A transfer that may not be made; `code` says why and `fields` names the input at fault."""

    default_code = "transfer_refused"


class MonthNotClosable(Conflict):
    default_code = "month_not_closable"


class ProviderBusy(Conflict):
    default_code = "reconciliation_busy"


class ReconciliationBreakTransitionRefused(TransitionRefused):
    """A reconciliation break was resolved already (wallet.models.reconciliation.BREAK_STATES)."""

    default_code = "recon_break_resolved"


class SettlementImportTransitionRefused(TransitionRefused):
    """A settlement import's status may not move this way (wallet.models.reconciliation.IMPORT_STATES)."""

    default_code = "recon_import_transition_refused"


class SettlementLineTransitionRefused(TransitionRefused):
    """A settlement line was matched or found a duplicate already (wallet.models.reconciliation.LINE_STATES)."""

    default_code = "recon_line_transition_refused"


class BankWireTransitionRefused(TransitionRefused):
    """An incoming wire was matched or returned already (wallet.models.providers.WIRE_STATES)."""

    default_code = "bank_wire_transition_refused"


class DisputeRefused(TransitionRefused):
    """A payment dispute may not move this way or do this now (wallet.models.disputes.DISPUTE_STATES)."""

    default_code = "dispute_refused"
