"""The events the wallet will emit, declared before the app exists: the sales KPIs
(leads.kpis, first-time deposits per agent) and the automation playbook ("First deposit: notify
the agent") already read wallet.first_deposit, so this payload is the contract the wallet must
honour."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from django.utils.translation import gettext_lazy as _

from crm.events.catalogue import CodeText, DecimalText, declare
from crm.models import Stage
from crm.models.stages import register_stage_proof


class FirstDeposit(TypedDict):
    deposit: CodeText  # the deposit's code in the wallet
    amount: DecimalText  # in `currency`, as credited (decimal text, never a float)
    currency: str  # ISO 4217 or the configured crypto/stablecoin code
    method: str  # the payment method or PSP (e.g. "card", "bank_transfer")


declare("wallet.first_deposit", payload=FirstDeposit,
        description="A client's first confirmed deposit: the client becomes funded, the owner gets an FTD.")
# A first deposit proves the client funded (crm.models.stages), from any stage before it.
FIRST_DEPOSIT = register_stage_proof(stage=Stage.FUNDED, event_type="wallet.first_deposit", label=_("first deposit"),
                                     sources=frozenset({Stage.LEAD, Stage.REGISTERED, Stage.VERIFIED}))


class ClientDebt(TypedDict):
    transaction: CodeText  # the chargeback's ledger transaction
    debt_account: CodeText  # the client's client_debt account in `currency`
    shortfall: DecimalText  # what the wallet could not cover, now owed by the client
    charged_back: DecimalText  # the whole amount the provider took back
    currency: str
    reference: str  # the business object charged back ("deposit:<code>"), or ""


declare("wallet.client_debt", payload=ClientDebt,
        description="A chargeback arrived after the money was spent: the shortfall became the client's debt "
                    "and finance must recover it.")


class DepositSucceeded(TypedDict):
    deposit: CodeText  # the deposit's code
    amount: DecimalText  # what the client paid (as the provider confirmed it), in `currency`
    asked: NotRequired[DecimalText]  # what the client asked to pay (differs when the provider confirmed another amount)
    asked_currency: NotRequired[str]  # the currency asked, when finance released money confirmed in another one
    # The provider's risk score of the money, 0-1 (a crypto deposit's, from its blockchain analysis),
    # for compliance: the deposit keeps it too.
    risk_score: NotRequired[DecimalText]
    credited: DecimalText  # what reached the wallet (amount - fee)
    fee: DecimalText
    currency: str
    method: str  # card | ewallet | crypto | bank_wire
    provider: str  # the provider's code
    first: bool  # the client's first successful deposit (wallet.first_deposit is emitted beside it)


declare("wallet.deposit_succeeded", payload=DepositSucceeded,
        description="A deposit was confirmed by its provider and credited to the client's wallet.")


class DepositReversed(TypedDict):
    deposit: CodeText  # the deposit's code
    reversal: str  # the refund's reference, or the provider's chargeback reference ("" if it gave none)
    amount: DecimalText  # what went back to the client's card or account, in `currency`
    currency: str
    method: str  # card | ewallet | crypto | bank_wire
    provider: str  # the provider's code


declare("wallet.deposit_refunded", payload=DepositReversed,
        description="Part or all of a confirmed deposit was refunded to the client through its provider.")
declare("wallet.deposit_charged_back", payload=DepositReversed,
        description="The provider took a confirmed deposit back (a chargeback); once per deposit.")


class DepositHeld(TypedDict):
    deposit: CodeText  # the deposit's code
    amount: DecimalText  # what the client asked to pay, in `currency`
    currency: str
    paid: DecimalText  # what the provider confirmed, in `paid_currency`
    paid_currency: str
    provider: str  # the provider's code


declare("wallet.deposit_held", payload=DepositHeld,
        description="A provider confirmed a deposit in another currency (or for nothing): nothing was credited "
                    "and the deposit waits for finance.")


class HeldDepositDecision(TypedDict):
    deposit: CodeText  # the deposit's code
    amount: DecimalText  # what the provider confirmed, in `currency`
    currency: str
    asked: DecimalText  # what the client asked to pay, in `asked_currency`
    asked_currency: str
    provider: str  # the provider's code
    reason: str  # finance's reason


declare("wallet.deposit_released", payload=HeldDepositDecision,
        description="Finance released a held deposit: the money was credited in the currency the provider took "
                    "(wallet.deposit_succeeded is emitted beside it).")
declare("wallet.deposit_refused", payload=HeldDepositDecision,
        description="Finance refused a held deposit: the money goes back to the payer through the provider; "
                    "nothing reaches the client's wallet.")


class WithdrawalChange(TypedDict):
    withdrawal: CodeText  # the withdrawal's code
    amount: DecimalText  # requested, in `currency` (the fee is taken from it)
    currency: str
    method: str  # card | ewallet | crypto | bank_wire
    provider: str  # the paying provider's code
    state: str  # the withdrawal's state after the change


for _name, _what in [
    ("wallet.withdrawal_requested", "A withdrawal was requested; the amount is held on the client's wallet."),
    ("wallet.withdrawal_approved", "A withdrawal was approved (automatically or by finance) and will be paid out."),
    ("wallet.withdrawal_rejected", "Finance rejected a withdrawal; the held amount is available again."),
    ("wallet.withdrawal_cancelled", "A pending withdrawal was cancelled; the held amount is available again."),
    ("wallet.withdrawal_paid", "The provider paid a withdrawal out; the held amount left the wallet."),
    ("wallet.withdrawal_failed", "The provider failed a withdrawal's payout; the held amount is available again."),
]:
    declare(_name, payload=WithdrawalChange, description=_what)


class TransferChange(TypedDict):
    transfer: CodeText  # the transfer's code
    kind: str  # wallet_to_account | account_to_wallet | account_to_account
    amount: DecimalText  # in `currency`
    currency: str
    source: str  # the source trading account's code, or "" for the wallet
    target: str  # the target trading account's code, or "" for the wallet
    state: str  # the transfer's state after the change
    reason: str  # why it failed ("" when completed)


declare("wallet.transfer_completed", payload=TransferChange,
        description="An internal transfer finished: the platform applied its operations and the ledger moved.")
declare("wallet.transfer_failed", payload=TransferChange,
        description="An internal transfer failed and was undone: the wallet's hold released or the money "
                    "returned; nothing is left half done.")


class DisputeChange(TypedDict):
    dispute: CodeText  # the dispute's code
    deposit: CodeText  # the disputed deposit's code
    kind: str  # retrieval_request | chargeback | pre_arbitration
    action: str  # opened | escalated | evidence_added | represented | accepted | won | lost
    status: str  # the dispute's status after the change
    reason_code: str  # the provider's (the card scheme's) reason code, or ""
    amount: DecimalText  # disputed, in `currency`
    currency: str
    provider: str  # the provider's code
    method: str  # card | ewallet | crypto | bank_wire
    due: str  # the provider's deadline (ISO 8601)
    note: str  # why (finance's words), or what was added


declare("wallet.dispute_opened", payload=DisputeChange,
        description="A provider disputed a deposit (a retrieval request or a chargeback): a case for finance; a "
                    "chargeback's amount is held on the client's wallet until it is decided.")
declare("wallet.dispute_updated", payload=DisputeChange,
        description="Finance worked a payment dispute (evidence added, representment sent) or the provider "
                    "escalated it (a chargeback after a retrieval request).")
declare("wallet.dispute_decided", payload=DisputeChange,
        description="A payment dispute ended: won (the held amount released), lost or accepted (the wallet "
                    "debited; wallet.deposit_charged_back is emitted beside it).")
