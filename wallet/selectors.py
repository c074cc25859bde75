"""The wallet's reads: balances, statements, the lists staff and clients see, providers' methods.

The code lives beside the rules it reads (wallet.ledger, wallet.deposits, wallet.withdrawals, ...);
this module is the door other apps and the wallet's pages use. Nothing here writes, with one
exception kept from before: `withdrawal_policy_for` creates a brand's default policy the first time
it is asked for. Writes are in wallet.services, fetch-and-authorise helpers in wallet.permissions.
"""

from __future__ import annotations

from wallet.close import (
    CloseFigures,
    breaks_url,
    close_csv,
    close_currencies,
    close_pdf_download,
    close_pdf_now,
    close_xlsx,
    last_closed,
    month_figures,
    period_parse,
)
from wallet.deposits import (
    DepositFigures,
    deposit_currencies,
    deposit_figures_for_client,
    deposit_list_for_user,
    deposit_options,
    deposit_refusal,
    deposits_for_client,
    held_release_refusal,
)
from wallet.flows import MAX_DAYS as FLOWS_MAX_DAYS
from wallet.flows import money_flows, open_breaks_by_age
from wallet.ledger import (
    StatementLine,
    WalletBalance,
    available,
    balance,
    balance_as_of,
    balances_of,
    ledger_problem_rows,
    ledger_verify,
    normal_balance,
    statement_lines,
    wallet_balances_for_client,
)
from wallet.models.transfers import OPEN_STATES as TRANSFER_OPEN_STATES
from wallet.models.withdrawals import OPEN_STATES as WITHDRAWAL_OPEN_STATES
from wallet.provider_selectors import (
    MethodOption,
    method_check_amount,
    method_fee,
    method_get,
    method_list,
    methods_for,
    provider_get,
    provider_list,
    provider_webhook_url,
)
from wallet.reconciliation import (
    ALLOWED as BREAK_RESOLUTIONS,
)
from wallet.reconciliation import (
    RematchResult,
    breaks_for_queue,
    imports_recent,
    open_breaks_summary,
    providers_for_user,
    tolerances,
)
from wallet.statements import Statement, kind_label, statement_build, statement_pdf, statement_period
from wallet.transfers import transfer_accounts_for, transfer_available, transfers_for_client
from wallet.withdrawals import (
    Blocker,
    clients_sharing_payout_destinations,
    deposited_by_source,
    withdrawal_blockers,
    withdrawal_methods_for,
    withdrawal_policy_for,
    withdrawal_queue_for_user,
    withdrawals_for_client,
)

__all__ = [
    # balances and statements
    "StatementLine", "WalletBalance", "available", "balance", "balance_as_of", "balances_of", "normal_balance",
    "statement_lines", "wallet_balances_for_client",
    "Statement", "kind_label", "statement_build", "statement_pdf", "statement_period",
    # the ledger's own checks
    "ledger_problem_rows", "ledger_verify",
    # deposits
    "DepositFigures", "deposit_currencies", "deposit_figures_for_client", "deposit_list_for_user", "deposit_options", "deposit_refusal", "deposits_for_client",
    "held_release_refusal",
    # withdrawals (Blocker: one reason a withdrawal is refused, as withdrawal_blockers lists them)
    "WITHDRAWAL_OPEN_STATES", "Blocker", "deposited_by_source", "withdrawal_blockers", "withdrawal_methods_for",
    "withdrawal_policy_for", "withdrawal_queue_for_user", "withdrawals_for_client",
    "clients_sharing_payout_destinations",
    # transfers
    "TRANSFER_OPEN_STATES", "transfer_accounts_for", "transfer_available", "transfers_for_client",
    # payment providers and their methods
    "MethodOption", "method_check_amount", "method_fee", "method_get", "method_list", "methods_for", "provider_get",
    "provider_list", "provider_webhook_url", "providers_for_user",
    # reconciliation, money flows and the month's close
    "BREAK_RESOLUTIONS", "RematchResult", "breaks_for_queue", "imports_recent", "open_breaks_summary", "tolerances",
    "FLOWS_MAX_DAYS", "money_flows", "open_breaks_by_age",
    "CloseFigures", "breaks_url", "close_csv", "close_currencies", "close_pdf_download", "close_pdf_now", "close_xlsx",
    "last_closed", "month_figures", "period_parse",
]
