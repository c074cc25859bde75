"""The wallet's reads: balances, statements, the lists staff and clients see, providers' methods.

The code lives beside the rules it reads (wallet.ledger, wallet.deposits, wallet.withdrawals, ...);
this module is the door other apps and the wallet's pages use. Nothing here writes, with one
exception kept from before: `withdrawal_policy_for` creates a brand's default policy the first time
it is asked for. Writes are in wallet.services, fetch-and-authorise helpers in wallet.permissions.
"""

from __future__ import annotations

from plumbing.sqlviews import Column, PublishedView
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
    OwnerDepositDay,
    deposit_currencies,
    deposit_figures_for_client,
    deposit_list_for_user,
    deposit_options,
    deposit_quote,
    deposit_refundable,
    deposit_refusal,
    deposits_for_client,
    held_release_refusal,
    owner_deposit_days,
    refund_get_for_deposit,
)
from wallet.disputes import (
    chargeback_ratios,
    chargebacks_for_client,
    dispute_generated_evidence,
    dispute_list_for_user,
    dispute_queue_for_user,
    open_disputes_of_client,
)
from wallet.exceptions import Blocker
from wallet.flows import MAX_DAYS as FLOWS_MAX_DAYS
from wallet.flows import money_flows, open_breaks_by_age
from wallet.instruments import PayerDetails, payer_details
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
    wallet_balances_for_clients,
)
from wallet.models.transfers import OPEN_STATES as TRANSFER_OPEN_STATES
from wallet.models.withdrawals import OPEN_STATES as WITHDRAWAL_OPEN_STATES
from wallet.provider_selectors import (
    FeeQuote,
    MethodOption,
    method_check_amount,
    method_fee,
    method_fee_text,
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
from wallet.three_ds import deposit_three_ds, three_ds_text
from wallet.transfers import transfer_accounts_for, transfer_available, transfers_for_client
from wallet.withdrawal_flags import (
    FlagShown,
    RiskFlag,
    client_risk_flags,
    flags_shown,
    withdrawal_flags,
    withdrawal_flags_for_queue,
    withdrawal_holds,
    withdrawal_under_review,
)
from wallet.withdrawals import (
    clients_sharing_payout_destinations,
    deposited_by_source,
    withdrawal_blockers,
    withdrawal_methods_for,
    withdrawal_policy_for,
    withdrawal_queue_for_user,
    withdrawal_quote,
    withdrawals_for_client,
)

__all__ = [
    # balances and statements
    "StatementLine", "WalletBalance", "available", "balance", "balance_as_of", "balances_of", "normal_balance",
    "statement_lines", "wallet_balances_for_client", "wallet_balances_for_clients",
    "Statement", "kind_label", "statement_build", "statement_pdf", "statement_period",
    # the ledger's own checks
    "ledger_problem_rows", "ledger_verify",
    # deposits
    "DepositFigures", "OwnerDepositDay", "deposit_currencies", "owner_deposit_days", "deposit_figures_for_client", "deposit_list_for_user", "deposit_options", "deposit_quote", "deposit_refundable", "deposit_refusal", "deposits_for_client",
    "refund_get_for_deposit",
    "held_release_refusal", "deposit_three_ds", "three_ds_text",
    # payment disputes (retrieval requests, chargebacks)
    "chargeback_ratios", "chargebacks_for_client", "dispute_generated_evidence", "dispute_list_for_user",
    "dispute_queue_for_user", "open_disputes_of_client",
    # withdrawals (Blocker: one reason a withdrawal is refused, as withdrawal_blockers lists them)
    "WITHDRAWAL_OPEN_STATES", "Blocker", "deposited_by_source", "withdrawal_blockers", "withdrawal_methods_for",
    "withdrawal_policy_for", "withdrawal_queue_for_user", "withdrawal_quote", "withdrawals_for_client",
    "clients_sharing_payout_destinations",
    # what flags or holds a withdrawal (RiskFlag, as registered checks return them) and who sees what of it
    "FlagShown", "RiskFlag", "client_risk_flags", "flags_shown", "withdrawal_flags", "withdrawal_flags_for_queue",
    "withdrawal_holds", "withdrawal_under_review",
    # transfers
    "TRANSFER_OPEN_STATES", "transfer_accounts_for", "transfer_available", "transfers_for_client",
    # payment providers and their methods
    "FeeQuote", "MethodOption", "method_check_amount", "method_fee", "method_fee_text", "method_get", "method_list", "methods_for", "provider_get",
    "provider_list", "provider_webhook_url", "providers_for_user",
    # reconciliation, money flows and the month's close
    "BREAK_RESOLUTIONS", "RematchResult", "breaks_for_queue", "imports_recent", "open_breaks_summary", "tolerances",
    "FLOWS_MAX_DAYS", "money_flows", "open_breaks_by_age",
    "CloseFigures", "breaks_url", "close_csv", "close_currencies", "close_pdf_download", "close_pdf_now", "close_xlsx",
    "last_closed", "month_figures", "period_parse",
    # a payer and instrument as a provider gives them (the number hashed at once: wallet.instruments)
    "PayerDetails", "payer_details",
    # published views (other apps' set-based SQL)
    "CLIENT_MOVEMENTS_VIEW", "PAYMENT_INSTRUMENTS_VIEW", "PAYOUT_DESTINATIONS_VIEW", "PUBLISHED_VIEWS",
]


# --- published views ----------------------------------------------------------------------------------
# What other apps' SQL may read of the wallet (plumbing.sqlviews): created by wallet's migrations 0019, 0020, 0032,
# checked by tests/wallet/test_published_views.py. Nobody else names the wallet's tables.

_STAMP = "timestamp with time zone"

CLIENT_MOVEMENTS_VIEW = PublishedView(
    name="wallet_public_client_movements",
    purpose="Every posting on a client's wallet: one row per ledger leg on a client_wallet account (the "
            "legs on the other accounts of a transaction are left out), with its transaction's kind, times, "
            "method and provider. What AML monitoring (compliance.aml) evaluates its rules over. A BRIN index "
            "on the legs' recorded_at serves a scan of a window of recent postings.",
    columns=(
        Column("leg_id", "bigint", "the ledger leg's id"),
        Column("transaction_id", "bigint", "its ledger transaction's id (what an AML alert links)"),
        Column("client_id", "bigint", "the wallet's client (crm_public_clients.id)"),
        Column("kind", "character varying(40)", "the transaction's kind: deposit (credited: amount positive), "
               "withdrawal (paid out: negative), transfer (to or from a trading account), deposit_refund, "
               "chargeback, conversion, reversal and the others the wallet posts",
               values=("deposit", "withdrawal", "transfer", "deposit_refund", "chargeback", "conversion",
                       "reversal")),
        Column("amount", "numeric(28,8)", "signed, in `currency`: positive adds to the wallet, negative takes from it"),
        Column("currency", "character varying(10)", "the wallet's currency"),
        Column("occurred_at", _STAMP, "business time (the provider's or the platform's)"),
        Column("recorded_at", _STAMP, "when the ledger recorded it (windows of recent postings read by it)"),
        Column("method", "text", "card, ewallet, crypto, bank_wire ... for deposits and withdrawals; '' otherwise"),
        Column("provider", "text", "the payment provider's code for deposits and withdrawals; '' otherwise"),
        Column("ref_kind", "character varying(40)", "the business object posted: deposit, withdrawal, transfer "
               "... ('' when none)"),
        Column("ref_code", "character varying(64)", "that object's code (a deposit's code: its page)"),
    ),
)

PAYMENT_INSTRUMENTS_VIEW = PublishedView(
    name="wallet_public_payment_instruments",
    purpose="Who paid and with what: one row per credited deposit (its crediting ledger transaction) and per "
            "paid-out withdrawal (its capture), with the payer and the instrument as the provider or finance "
            "gave them (wallet.instruments). Never a card's or account's number: a keyed hash (the same for "
            "the same card at one provider, or the same IBAN, across clients) and its last four characters. "
            "What AML monitoring's third-party, many-instruments and shared-instrument rules read. A BRIN index "
            "on the ledger transactions' recorded_at serves a scan of recent rows.",
    columns=(
        Column("transaction_id", "bigint", "the ledger transaction (also in wallet_public_client_movements)"),
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("direction", "text", "deposit (money in) or withdrawal (money out)", values=("deposit", "withdrawal")),
        Column("amount", "numeric(28,8)", "positive, in `currency`: what the provider took or paid"),
        Column("currency", "text", "ISO 4217"),
        Column("occurred_at", _STAMP, "business time"),
        Column("recorded_at", _STAMP, "when the ledger recorded it"),
        Column("method", "text", "card, ewallet, crypto, bank_wire ..."),
        Column("payer_name", "text", "the card holder or wire sender as given; '' when unknown or a withdrawal"),
        Column("payer_is_client", "boolean", "whether the payer's name is the client's by the shared name "
               "matcher (transliteration, diacritics and particles tolerated; another given name is another "
               "person); NULL when it cannot be told"),
        Column("instrument_country", "text", "ISO 3166-1 alpha-2 of the card's issuer (BIN) or the bank; '' unknown"),
        Column("instrument_fingerprint", "text", "64 hex characters: the instrument's keyed hash; '' unknown"),
        Column("instrument_last4", "text", "its last four characters, for display"),
        Column("destination_added_at", _STAMP, "a withdrawal's: when the client first asked for a payout to "
               "this destination; NULL for deposits"),
        Column("provider_risk_score", "numeric", "a deposit's: the provider's risk score of the money, 0 (clean) "
               "to 1 (a crypto provider's score of the sending addresses, wallet 0030); NULL when the provider "
               "gave none, and for withdrawals"),
    ),
)

PAYOUT_DESTINATIONS_VIEW = PublishedView(
    name="wallet_public_payout_destinations",
    purpose="Where clients asked to be paid: one row per withdrawal that names a destination (a card "
            "token, an IBAN ...), whatever its state, with the destination as a comparable key and masked "
            "(wallet's migrations 0021, 0023). Two clients with one destination_key used one instrument.",
    columns=(
        Column("withdrawal_id", "bigint", "the withdrawal's row id"),
        Column("withdrawal_code", "uuid", "its code (its page: /wallet/withdrawals/<code>/)"),
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("destination_key", "text", "64 hex characters: the destination's keyed hash (the withdrawal's "
               "destination fingerprint, as instrument_fingerprint in wallet_public_payment_instruments): equal "
               "for one instrument however its number was spaced or cased"),
        Column("destination_masked", "character varying(80)", "the destination as staff see it (masked)"),
        Column("requested_at", _STAMP, "when the withdrawal was asked for"),
    ),
)

CLIENT_MONEY_VIEW = PublishedView(
    name="wallet_public_client_money",
    purpose="Each client's deposits in short, per currency of their wallet (wallet's migration 0032), for "
            "counting segments at scale: when they first deposited in it and their net deposits in it. Kept by "
            "the database as legs are posted (the ledger is immutable, so a leg only adds), in the posting's "
            "own transaction: exact, never behind the ledger. One row per client and currency with a deposit, "
            "withdrawal, deposit refund or chargeback on their wallet.",
    columns=(
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("currency", "character varying(10)", "the wallet's currency"),
        Column("first_deposit_at", _STAMP, "the business time (occurred_at) of the first deposit crediting the "
               "wallet in the currency; NULL when none has"),
        Column("net_deposits", "numeric(28,8)", "deposits less withdrawals, deposit refunds and chargebacks in "
               "the currency (the sum of the wallet's legs of those kinds)"),
    ),
)

PUBLISHED_VIEWS = (CLIENT_MOVEMENTS_VIEW, PAYMENT_INSTRUMENTS_VIEW, PAYOUT_DESTINATIONS_VIEW, CLIENT_MONEY_VIEW)
