"""The events trading emits, and their payloads (see crm.events.catalogue). Every one names the
trading account: its code, platform login and server; amounts are decimal text."""

from __future__ import annotations

from typing import TypedDict

from django.utils.translation import gettext_lazy as _

from crm.events.catalogue import CodeText, DateTimeText, DecimalText, Ref, declare
from crm.models import Stage
from crm.models.stages import register_stage_proof


class Account(TypedDict):
    account: CodeText
    login: int
    server: int


class ServiceAccount(Account):
    server_name: str


class AccountOpened(ServiceAccount):
    account_type: str
    label: str
    is_demo: bool
    leverage: int
    group: str
    currency: str


LeverageChanged = TypedDict("LeverageChanged", {"from": int, "to": int, "reason": str})
TextChanged = TypedDict("TextChanged", {"from": str, "to": str, "reason": str})


class LeverageChange(ServiceAccount, LeverageChanged):
    pass


class TextChange(ServiceAccount, TextChanged):
    pass


class PasswordReset(ServiceAccount):
    by: Ref | None


class BalanceOperation(ServiceAccount):
    operation: CodeText
    reference: str  # the idempotency reference sent to the platform
    kind: str
    amount: DecimalText
    currency: str
    state: str
    ticket: int | None


class AccountClosed(ServiceAccount):
    reason: str
    access: str
    by: Ref | None


class FirstTrade(Account):
    at: DateTimeText


class DealChanged(Account):
    deal_id: int
    kind: str
    time: DateTimeText


class DealDeleted(DealChanged):
    profit: DecimalText


class AccountInactive(Account):
    days: int
    last_trade_at: DateTimeText | None


class BalanceMismatch(Account):
    deals_balance: DecimalText
    platform_balance: DecimalText
    deals_credit: DecimalText
    platform_credit: DecimalText


class MarginCallEntered(Account):
    margin_level: DecimalText
    threshold: DecimalText
    equity: DecimalText
    margin: DecimalText


class MarginCallLeft(Account):
    margin_level: DecimalText | None
    threshold: DecimalText


class SyncLag(TypedDict):
    server: int
    server_name: str
    lag_seconds: int
    threshold_seconds: int
    last_error: str


class ServerSaved(TypedDict):
    server: int
    server_name: str
    live_types: int  # the live account types it offers (its mapped, non-demo types)


declare("trading.account_opened", payload=AccountOpened, description="A trading account was opened on a platform.")
declare("trading.leverage_changed", payload=LeverageChange, description="An account's leverage changed.")
declare("trading.group_changed", payload=TextChange, description="An account moved to another platform group.")
declare("trading.access_changed", payload=TextChange,
        description="An account's access changed (full, close-only, read-only, disabled).")
declare("trading.account_closed", payload=AccountClosed,
        description="An account was closed: disabled on the platform (read-only where the platform cannot disable), "
                    "and it takes no more deposits.")
declare("trading.password_reset", payload=PasswordReset, description="An account's trading password was reset.")
declare("trading.balance_requested", payload=BalanceOperation,
        description="A balance operation (deposit, withdrawal, credit) was recorded before the platform was called.")
declare("trading.balance_applied", payload=BalanceOperation, description="The platform applied a balance operation.")
declare("trading.balance_unknown", payload=BalanceOperation,
        description="Whether the platform applied a balance operation is not known yet; it will be looked up.")
declare("trading.balance_failed", payload=BalanceOperation, description="A balance operation was not applied.")
declare("trading.first_trade", payload=FirstTrade, description="An account's first trade deal was synchronised.")
# A first trade on a live account proves the client active (crm.models.stages), from any stage before it;
# on a new account it also brings a dormant client back.
FIRST_TRADE = register_stage_proof(stage=Stage.ACTIVE, event_type="trading.first_trade", label=_("first trade"),
                                   sources=frozenset({Stage.LEAD, Stage.REGISTERED, Stage.VERIFIED, Stage.FUNDED,
                                                      Stage.DORMANT}))
declare("trading.deal_edited", payload=DealChanged, description="A deal was changed on the platform after sync.")
declare("trading.deal_deleted", payload=DealDeleted, description="A synchronised deal disappeared from the platform.")
declare("trading.account_inactive", payload=AccountInactive,
        description="An account has had no trade for the server's inactivity period.")
declare("trading.balance_mismatch", payload=BalanceMismatch,
        description="An account's stored deals do not sum to the platform's balance or credit.")
declare("trading.margin_call_entered", payload=MarginCallEntered,
        description="An account's margin level fell below the server's margin-call threshold.")
declare("trading.margin_call_left", payload=MarginCallLeft,
        description="An account's margin level recovered above the threshold.")
declare("trading.sync_lag", payload=SyncLag, description="A server's deal data is older than its alert threshold.")
declare("trading.sync_lag_cleared", payload=SyncLag, description="A server's deal data is current again.")


class ChallengeEvent(TypedDict, total=False):
    challenge: CodeText
    product: str  # the product's key
    version: int
    phase: int  # index of the phase; the number of phases is the funded stage
    state: str
    account: CodeText | None
    login: int | None
    rule: str
    text: str  # the decision in words (the default language)
    fee: DecimalText
    profit: DecimalText
    share: DecimalText
    currency: str


declare("trading.challenge_purchased", payload=ChallengeEvent,
        description="A client bought a prop-trading challenge (the fee is posted by the wallet).")
declare("trading.challenge_opened", payload=ChallengeEvent,
        description="A challenge phase's account was opened and funded with the account size.")
declare("trading.challenge_breached", payload=ChallengeEvent,
        description="A challenge broke a rule (daily loss, maximum loss, instrument, weekend); its account is "
                    "disabled or set close-only.")
declare("trading.challenge_failed", payload=ChallengeEvent,
        description="A challenge phase ran out of time before its profit target.")
declare("trading.challenge_passed", payload=ChallengeEvent, description="A challenge phase was passed.")
declare("trading.challenge_funded", payload=ChallengeEvent,
        description="Every phase of a challenge was passed: its funded account was opened.")
declare("trading.challenge_payout", payload=ChallengeEvent,
        description="A funded challenge's profit was taken off the account for a profit-split payout.")
declare("trading.server_saved", payload=ServerSaved,
        description="An active platform server offering live account types was added or changed: verified "
                    "clients of its brand waiting for their first live account get it now.")
