"""The wallet's models, one module per concern: the ledger (ledger.py), the payment providers
(providers.py) and deposits (deposits.py)."""

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
    "NormalSide",
    "PaymentMethod",
    "PaymentMethodCurrency",
    "PaymentProvider",
    "SettlementFileType",
    "SettlementMapping",
    "SignConvention",
    "WebhookDelivery",
    "WebhookOutcome",
    "Withdrawal",
    "WithdrawalPolicy",
    "WithdrawalState",
    "WithdrawalStatusChange",
]
