"""The wallet's models, one module per concern: the ledger (ledger.py), the payment providers
(providers.py), deposits (deposits.py), withdrawals (withdrawals.py) and internal transfers
(transfers.py)."""

from wallet.models.close import MonthClose
from wallet.models.deposits import Deposit, DepositRefund, DepositStatus, DepositStatusChange
from wallet.models.ledger import (
    AccountKind,
    HoldState,
    LedgerAccount,
    LedgerBalance,
    LedgerHold,
    LedgerLeg,
    LedgerTransaction,
    NormalSide,
)
from wallet.models.providers import (
    AdapterKind,
    BankWireIncoming,
    BankWireStatus,
    Direction,
    MethodKind,
    PaymentMethod,
    PaymentMethodCurrency,
    PaymentProvider,
    SettlementFileType,
    SettlementMapping,
    SignConvention,
    WebhookDelivery,
    WebhookOutcome,
)
from wallet.models.transfers import Transfer, TransferKind, TransferState, TransferStatusChange
from wallet.models.withdrawals import (
    LowRiskRule,
    Withdrawal,
    WithdrawalPolicy,
    WithdrawalState,
    WithdrawalStatusChange,
)

__all__ = [
    "AccountKind",
    "AdapterKind",
    "BankWireIncoming",
    "BankWireStatus",
    "Deposit",
    "DepositRefund",
    "DepositStatus",
    "DepositStatusChange",
    "Direction",
    "HoldState",
    "LedgerAccount",
    "LedgerBalance",
    "LedgerHold",
    "LedgerLeg",
    "LedgerTransaction",
    "LowRiskRule",
    "MethodKind",
    "MonthClose",
    "NormalSide",
    "PaymentMethod",
    "PaymentMethodCurrency",
    "PaymentProvider",
    "SettlementFileType",
    "SettlementMapping",
    "SignConvention",
    "Transfer",
    "TransferKind",
    "TransferState",
    "TransferStatusChange",
    "WebhookDelivery",
    "WebhookOutcome",
    "Withdrawal",
    "WithdrawalPolicy",
    "WithdrawalState",
    "WithdrawalStatusChange",
]
