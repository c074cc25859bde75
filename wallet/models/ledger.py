"""The wallet's double-entry ledger: accounts, transactions made of legs, balances and holds.

Sign convention: a leg's `amount` is signed, positive for a credit and negative for a debit, and an
account's balance is the sum of its legs. The legs of a transaction sum to zero in each currency.
Accounts that hold the clients' money (a wallet, a trading account's mirror, bonus and IB
liabilities) are credit-normal: money a client owns is a positive balance. Asset accounts (PSP
clearing, bank, client debt) are debit-normal and carry negative balances; `normal_balance` shows
them with the sign an accountant expects.

What the database itself enforces (migrations 0001_ledger and 0002_ledger_sql, on every monthly
partition of the legs since 0022):
- the legs of every transaction sum to zero per currency (a deferred constraint trigger, checked at
  commit), and a transaction has at least two legs;
- legs and transactions are never updated or deleted (triggers raise, for the application's role
  and the owner alike); a correction is a reversal pointing at the original, one per transaction;
- a leg's currency is its account's and its recorded_at its transaction's (composite foreign
  keys), and its amount is not zero;
- one idempotency key per transaction and per hold;
- a balance row that may not go negative (a client wallet) keeps balance >= 0 and available >= 0.
Only `wallet.ledger` writes these tables.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.money import CurrencyField, Money, MoneyAmountField, amount_format
from crm.lib.states import StateMachine
from wallet.exceptions import HoldNotOpen


class AccountKind(models.TextChoices):
    CLIENT_WALLET = "client_wallet", _("Client wallet")
    TRADING_MIRROR = "trading_mirror", _("Trading account mirror")
    PSP_CLEARING = "psp_clearing", _("Payment provider clearing")
    BANK = "bank", _("Bank")
    FEES = "fees", _("Fees")
    BONUS_LIABILITY = "bonus_liability", _("Bonus and credit liability")
    IB_PAYABLE = "ib_payable", _("IB commissions payable")
    CLIENT_DEBT = "client_debt", _("Client debt")
    SUSPENSE = "suspense", _("Suspense")
    FX = "fx", _("Currency conversion")
    REVENUE = "revenue", _("Revenue")
    EQUITY = "equity", _("Equity")


class NormalSide(models.TextChoices):
    CREDIT = "credit", _("Credit")
    DEBIT = "debit", _("Debit")


# Assets of the brokerage: their balances are negative under the sign convention above.
DEBIT_NORMAL_KINDS = frozenset({AccountKind.PSP_CLEARING, AccountKind.BANK, AccountKind.CLIENT_DEBT,
                                AccountKind.SUSPENSE, AccountKind.FX})
# Only money a client may spend is held to zero; every other account may run negative.
NON_NEGATIVE_KINDS = frozenset({AccountKind.CLIENT_WALLET})


class LedgerAccount(models.Model):
    """One account of the chart, in one currency. Owners: a client (wallet, debt), a trading account
    (mirror), a provider or partner (`owner_ref`: PSP clearing, IB payable), a brand (system accounts)."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    kind = models.CharField(_("kind"), max_length=20, choices=AccountKind.choices)
    currency = CurrencyField(_("currency"))
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="ledger_accounts", db_index=False)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="ledger_accounts", db_index=False)
    trading_account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="ledger_accounts", db_index=False)
    owner_ref = models.CharField(_("owner reference"), max_length=64, blank=True,
                                 help_text=_("The payment provider's or partner's code, for accounts they own."))
    name = models.CharField(_("name"), max_length=120, blank=True)
    normal_side = models.CharField(_("normal side"), max_length=6, choices=NormalSide.choices)
    may_go_negative = models.BooleanField(_("may go negative"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["kind", "currency", "id"]
        constraints: ClassVar = [
            # One account per owner and currency: get-or-create (wallet.ledger.account_for) relies on
            # it under concurrency. NULLs compare equal, so system accounts are unique per brand too.
            models.UniqueConstraint(fields=["kind", "currency", "brand", "client", "trading_account", "owner_ref"],
                                    nulls_distinct=False, name="ledgeraccount_one_per_owner"),
            # A client's wallet (or debt) per currency, and a trading account's mirror, whatever brand
            # the row names: the owner constraint above alone would let a second brand open another.
            models.UniqueConstraint(fields=["kind", "client", "currency"], condition=Q(client__isnull=False),
                                    name="ledgeraccount_one_per_client_currency"),
            models.UniqueConstraint(fields=["kind", "trading_account"], condition=Q(trading_account__isnull=False),
                                    name="ledgeraccount_one_per_trading_account"),
            # Targets of the composite foreign keys of migration 0002 (a leg's currency is its
            # account's; a balance row carries its account's currency and may_go_negative).
            models.UniqueConstraint(fields=["id", "currency"], name="ledgeraccount_id_currency"),
            models.UniqueConstraint(fields=["id", "currency", "may_go_negative"],
                                    name="ledgeraccount_id_currency_negative"),
            models.CheckConstraint(condition=~Q(kind=AccountKind.CLIENT_WALLET)
                                   | Q(client__isnull=False, may_go_negative=False),
                                   name="ledgeraccount_wallet_has_client_never_negative"),
            models.CheckConstraint(condition=~Q(kind=AccountKind.CLIENT_DEBT) | Q(client__isnull=False),
                                   name="ledgeraccount_debt_has_client"),
            models.CheckConstraint(condition=~Q(kind=AccountKind.TRADING_MIRROR) | Q(trading_account__isnull=False),
                                   name="ledgeraccount_mirror_has_trading_account"),
            models.CheckConstraint(condition=~Q(kind=AccountKind.PSP_CLEARING) | ~Q(owner_ref=""),
                                   name="ledgeraccount_clearing_has_provider"),
        ]
        indexes: ClassVar = [
            # A client's wallets and debts (wallet_balances_for_client, the profile).
            models.Index(fields=["client", "kind"], condition=Q(client__isnull=False), name="ledgeraccount_client_idx"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} {self.currency}"


class LedgerTransaction(models.Model):
    """A balanced set of legs posted at once. Never changed: a correction is a reversal."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    # sha256 of what the posting moves (kind, legs, reversal, rate): a replay of the same key must
    # move exactly the same, or it is refused as a conflict.
    fingerprint = models.CharField(max_length=64)
    kind = models.CharField(_("kind"), max_length=40)
    memo = models.TextField(_("memo"), blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))  # business time (the PSP's, the platform's)
    recorded_at = models.DateTimeField(_("recorded at"))  # when the ledger learned it; as-of balances use it
    reverses = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="reversal")
    rate = models.DecimalField(_("rate"), max_digits=28, decimal_places=12, null=True, blank=True)
    rate_source = models.CharField(_("rate source"), max_length=100, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", db_index=False)  # indexed where set (most postings are the system's)
    metadata = models.JSONField(default=dict, blank=True)
    # The business object behind the posting, without a content type: ("deposit", "<uuid>").
    ref_kind = models.CharField(max_length=40, blank=True)
    ref_code = models.CharField(max_length=64, blank=True)

    # Set by the posting service on the object it returns: True when the key had been posted before.
    replayed: bool = False

    class Meta:
        ordering: ClassVar = ["-recorded_at", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=~Q(reverses=F("id")), name="ledgertransaction_not_self_reversal"),
            models.CheckConstraint(condition=Q(rate__isnull=True) | Q(rate__gt=0, rate_source__gt=""),
                                   name="ledgertransaction_rate_positive_with_source"),
            # Target of the legs' composite foreign key (migration 0022): a leg's recorded_at is its
            # transaction's.
            models.UniqueConstraint(fields=["id", "recorded_at"], name="ledgertransaction_id_recorded"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["ref_kind", "ref_code"], condition=~Q(ref_kind=""), name="ledgertx_ref_idx"),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="ledgertx_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.code}"


class LedgerLeg(models.Model):
    """One signed amount on one account (positive: credit). Never changed or deleted."""

    # Held to its transaction by the composite foreign key (transaction, recorded_at) of migration
    # 0022: a leg's time is its transaction's, which names the month's partition the checks at
    # commit read.
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="legs",
                                    db_constraint=False)
    # Held to its account by the composite foreign key (account, currency) of migration 0002 alone:
    # a second key on the account would lock the account's row once more for every leg, and on a
    # busy account (a provider's clearing account) concurrent postings queue on those locks.
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="legs", db_index=False,
                                db_constraint=False)
    currency = CurrencyField(_("currency"))  # the account's, held to it by a composite foreign key
    amount = MoneyAmountField(_("amount"))
    # The transaction's, copied so that as-of sums read one index; the table is partitioned by month
    # on it (migration 0022; crm.lib.partitions), and its primary key in the database is (id, recorded_at).
    recorded_at = models.DateTimeField()

    class Meta:
        ordering: ClassVar = ["id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledgerleg_amount_not_zero"),
        ]
        indexes: ClassVar = [
            # Balance as of a moment and statements: an account's legs in time order.
            models.Index(fields=["account", "recorded_at", "id"], name="ledgerleg_account_time_idx"),
        ]

    def __str__(self) -> str:
        return amount_format(self.amount, self.currency)

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()


class LedgerBalance(models.Model):
    """An account's running balance, updated by every posting in its own transaction under a row
    lock. held: set aside by holds (pending withdrawals); available = balance - held."""

    account = models.OneToOneField(LedgerAccount, on_delete=models.PROTECT, primary_key=True,
                                   related_name="balance_row")
    currency = CurrencyField(_("currency"))
    may_go_negative = models.BooleanField()  # the account's, kept equal by a foreign key (ON UPDATE CASCADE)
    balance = MoneyAmountField(_("balance"), default=Decimal(0))
    held = MoneyAmountField(_("held"), default=Decimal(0))
    available = models.GeneratedField(expression=F("balance") - F("held"), output_field=MoneyAmountField(),
                                      db_persist=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(held__gte=0), name="ledgerbalance_held_not_negative"),
            # A client's wallet never below zero, neither in total nor in what is not held.
            models.CheckConstraint(condition=Q(may_go_negative=True) | (Q(balance__gte=0) & Q(balance__gte=F("held"))),
                                   name="ledgerbalance_not_negative_unless_allowed"),
        ]

    def __str__(self) -> str:
        return f"{self.balance} {self.currency}"

    def money(self) -> Money:
        return Money(self.balance, self.currency).quantize()


class HoldState(models.TextChoices):
    HELD = "held", _("Held")
    RELEASED = "released", _("Released")
    CAPTURED = "captured", _("Captured")


class LedgerHold(models.Model):
    """Money set aside on an account (a withdrawal awaiting approval): counted in `held` until it
    is released or captured by a posting that consumes it."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="holds")
    currency = CurrencyField(_("currency"))
    amount = MoneyAmountField(_("amount"))
    state = models.CharField(_("state"), max_length=10, choices=HoldState.choices, default=HoldState.HELD)
    memo = models.TextField(_("memo"), blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    capture = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="captured_hold")

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledgerhold_amount_positive"),
            models.CheckConstraint(condition=Q(state=HoldState.CAPTURED, capture__isnull=False)
                                   | (~Q(state=HoldState.CAPTURED) & Q(capture__isnull=True)),
                                   name="ledgerhold_captured_has_transaction"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["account"], condition=Q(state=HoldState.HELD), name="ledgerhold_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{amount_format(self.amount, self.currency)} ({self.state})"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()


def _hold_refused(old: str, new: str) -> str:
    return gettext("This hold was already %(from)s: it cannot be %(to)s.") % {
        "from": str(HoldState(old).label).lower(), "to": str(HoldState(new).label).lower()}


# A hold is held until it is released (wallet.ledger.ledger_release) or captured by the posting that
# consumes it, once. The capture is written by the posting statement (wallet_ledger_post, migration
# 0022), which refuses a hold in any state but HOLD_STATES.sources(CAPTURED) (held) with the
# machine's error (wallet.ledger._post_statement).
HOLD_STATES = StateMachine(
    name="ledger hold", model="wallet.LedgerHold", states=HoldState, state_field="state",
    transitions={HoldState.HELD: frozenset({HoldState.RELEASED, HoldState.CAPTURED}),
                 HoldState.RELEASED: frozenset(), HoldState.CAPTURED: frozenset()},
    terminal=frozenset({HoldState.RELEASED, HoldState.CAPTURED}), error=HoldNotOpen, message=_hold_refused,
)
