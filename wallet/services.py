"""The wallet's writes: what other apps and the wallet's own pages call to move or record money.

The code lives beside the rules it keeps (wallet.ledger: postings and holds; wallet.deposits,
wallet.withdrawals, wallet.transfers: each one's state machine; wallet.reconciliation,
wallet.close, wallet.provider_services); this module is the door other apps use, so that a change
inside the wallet does not reach them. Reads are in wallet.selectors, fetch-and-authorise helpers
in wallet.permissions, errors in wallet.exceptions.

Every service here is atomic, records its actor and emits its events; none commits a call to a
provider or a platform before its own rows are written (see each one's docstring).
"""

from __future__ import annotations

from wallet.close import month_close
from wallet.deposits import (
    deposit_cancel,
    deposit_create,
    deposit_payer_record,
    deposit_refund,
    deposit_refund_approve,
    deposit_refund_send_back,
    deposit_refuse,
    deposit_release,
    deposit_status_refresh,
    deposit_webhook_apply,
    deposits_refresh_due,
    register_deposit_check,
    unregister_deposit_check,
)
from wallet.disputes import (
    dispute_accept,
    dispute_evidence_add,
    dispute_open,
    dispute_outcome_record,
    dispute_represent,
)
from wallet.ledger import (
    Leg,
    Posting,
    account_for,
    accounts_for,
    clearing_account_for,
    client_debt_account_for,
    ledger_chargeback,
    ledger_convert,
    ledger_hold,
    ledger_hold_capture,
    ledger_post,
    ledger_post_many,
    ledger_release,
    ledger_reverse,
    mirror_account_for,
    system_account_for,
    wallet_account_for,
)
from wallet.models import AccountKind
from wallet.provider_services import (
    CurrencyRule,
    bank_wire_incoming_record,
    payment_method_save,
    payment_provider_save,
    settlement_mapping_save,
)
from wallet.reconciliation import (
    break_resolve,
    platform_reconcile,
    settlement_import_run,
    settlement_import_start,
    settlement_rematch,
    settlement_rematch_open,
    simulator_settlement_fetch,
)
from wallet.transfers import transfer_operation_settled, transfer_request
from wallet.webhooks import webhook_receive
from wallet.withdrawal_flags import register_risk_flag_check, unregister_risk_flag_check
from wallet.withdrawals import (
    register_withdrawal_check,
    unregister_withdrawal_check,
    withdrawal_approve,
    withdrawal_cancel,
    withdrawal_first_approval_send_back,
    withdrawal_mark_failed,
    withdrawal_mark_paid,
    withdrawal_payout_send,
    withdrawal_policy_save,
    withdrawal_reject,
    withdrawal_request,
    withdrawal_resolve,
    withdrawal_return_balance,
    withdrawal_webhook,
    withdrawals_resolve_due,
)

__all__ = [
    # the ledger: a balanced posting, holds, reversals; the accounts postings name (AccountKind:
    # the kinds of system account `system_account_for` finds or opens)
    "AccountKind", "Leg", "Posting", "account_for", "accounts_for", "clearing_account_for", "client_debt_account_for",
    "ledger_chargeback", "ledger_convert", "ledger_hold", "ledger_hold_capture", "ledger_post", "ledger_post_many",
    "ledger_release", "ledger_reverse",
    "mirror_account_for", "system_account_for", "wallet_account_for",
    # deposits
    "deposit_cancel", "deposit_create", "deposit_payer_record", "deposit_refund", "deposit_refund_approve",
    "deposit_refund_send_back", "deposit_refuse", "deposit_release", "deposit_status_refresh",
    "deposit_webhook_apply", "deposits_refresh_due",
    # payment disputes: finance's work on a retrieval request or chargeback (wallet.disputes)
    "dispute_accept", "dispute_evidence_add", "dispute_open", "dispute_outcome_record", "dispute_represent",
    # register_deposit_check: how a higher app adds a reason to refuse every deposit of a client
    "register_deposit_check", "unregister_deposit_check",
    # withdrawals (register_withdrawal_check: how a higher app adds a reason to refuse one)
    "register_withdrawal_check", "unregister_withdrawal_check", "withdrawal_approve", "withdrawal_cancel",
    "withdrawal_first_approval_send_back",
    "withdrawal_mark_failed", "withdrawal_mark_paid", "withdrawal_payout_send", "withdrawal_policy_save",
    "withdrawal_reject", "withdrawal_request", "withdrawal_resolve", "withdrawal_webhook", "withdrawals_resolve_due",
    # register_risk_flag_check: how a higher app holds or flags a client's withdrawals (its checks return
    # wallet.selectors.RiskFlag rows; a holding flag stops automatic and manual approval while it lasts)
    "register_risk_flag_check", "unregister_risk_flag_check",
    # compliance returning an offboarded client's balance through the withdrawal queue
    "withdrawal_return_balance",
    # transfers between the wallet and trading accounts
    "transfer_operation_settled", "transfer_request",
    # payment providers, their webhooks, reconciliation and the month's close
    "CurrencyRule", "bank_wire_incoming_record", "break_resolve", "month_close", "payment_method_save",
    "payment_provider_save", "platform_reconcile", "settlement_import_run", "settlement_import_start",
    "settlement_mapping_save", "settlement_rematch", "settlement_rematch_open", "simulator_settlement_fetch",
    "webhook_receive",
]

# Prop-trading challenges: the fee and the profit-split payouts (wallet.prop).
from wallet.prop import challenge_buy as challenge_buy  # noqa: E402
from wallet.prop import challenge_payout as challenge_payout  # noqa: E402
