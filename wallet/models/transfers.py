"""Internal transfers: money moved between a client's wallet and the client's trading accounts, or
between two of the client's trading accounts, through trading's balance operations. The ledger
moves only when the platform has applied an operation (wallet.transfers)."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.money import CurrencyField, Money, MoneyAmountField
from crm.lib.states import StateMachine, history_writer
from wallet.exceptions import TransferTransitionRefused


class TransferKind(models.TextChoices):
    WALLET_TO_ACCOUNT = "wallet_to_account", _("Wallet to trading account")
    ACCOUNT_TO_WALLET = "account_to_wallet", _("Trading account to wallet")
    ACCOUNT_TO_ACCOUNT = "account_to_account", _("Between trading accounts")


class TransferState(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    SENT = "sent", _("Sent to the platform")
    UNKNOWN = "unknown", _("Being confirmed")
    COMPENSATING = "compensating", _("Being returned")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


S = TransferState
# SENT: the current balance operation is pending on the platform. Between two trading accounts
# SENT follows SENT: the money left the source and the deposit to the target is out. UNKNOWN: the
# platform's answer was lost; trading looks the operation up and its answer moves the transfer on.
# COMPENSATING: the target's deposit failed after the source's withdrawal was applied; a deposit
# back to the source is out. FAILED always means nothing is left half done (released, returned).
TRANSITIONS: dict[str, frozenset[str]] = {
    S.REQUESTED: frozenset({S.SENT, S.FAILED}),
    S.SENT: frozenset({S.SENT, S.UNKNOWN, S.COMPLETED, S.FAILED, S.COMPENSATING}),
    S.UNKNOWN: frozenset({S.SENT, S.COMPLETED, S.FAILED, S.COMPENSATING}),
    S.COMPENSATING: frozenset({S.FAILED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
}
TERMINAL = frozenset({S.COMPLETED, S.FAILED})
OPEN_STATES = (S.REQUESTED, S.SENT, S.UNKNOWN, S.COMPENSATING)


class Transfer(models.Model):
    """One transfer. `source_account` is empty when the money comes from the wallet (held on the
    wallet from the request), `target_account` when it goes to the wallet. The operations are
    trading's BalanceOperation rows: the withdrawal from the source account, the deposit to the
    target account and, if that deposit failed, the deposit back to the source."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    idempotency_key = models.CharField(max_length=200, unique=True)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="transfers")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=TransferKind.choices)
    source_account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+")
    target_account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+")
    amount = MoneyAmountField(_("amount"))
    currency = CurrencyField(_("currency"))
    state = models.CharField(_("state"), max_length=12, choices=TransferState.choices, default=S.REQUESTED)
    hold = models.OneToOneField("wallet.LedgerHold", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="transfer")
    withdraw_operation = models.OneToOneField("trading.BalanceOperation", on_delete=models.PROTECT, null=True,
                                              blank=True, related_name="+")
    deposit_operation = models.OneToOneField("trading.BalanceOperation", on_delete=models.PROTECT, null=True,
                                             blank=True, related_name="+")
    compensation_operation = models.OneToOneField("trading.BalanceOperation", on_delete=models.PROTECT, null=True,
                                                  blank=True, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")  # staff acting for the client; None: the client
    requested_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(_("reason"), max_length=500, blank=True)  # why it failed
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["-requested_at", "-id"]
        permissions: ClassVar = [("transfer_funds", "Can move a client's money between wallet and trading accounts")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            # Each kind names exactly the accounts it moves between.
            models.CheckConstraint(
                condition=(Q(kind=TransferKind.WALLET_TO_ACCOUNT, source_account__isnull=True,
                             target_account__isnull=False)
                           | Q(kind=TransferKind.ACCOUNT_TO_WALLET, source_account__isnull=False,
                               target_account__isnull=True)
                           | (Q(kind=TransferKind.ACCOUNT_TO_ACCOUNT, source_account__isnull=False,
                                target_account__isnull=False) & ~Q(source_account=models.F("target_account")))),
                name="transfer_accounts_fit_kind"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["client", "requested_at"], name="transfer_client_time"),
            # What is still waiting for the platform: a small partial index.
            models.Index(fields=["state"], name="transfer_open",
                         condition=Q(state__in=["requested", "sent", "unknown", "compensating"])),
        ]

    def __str__(self) -> str:
        return f"transfer {self.code}"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def state_set(self, to: str, *, actor: Any = None, reason: str = "") -> TransferStatusChange:
        """Move along the pipeline (TRANSFER_STATES; TransferTransitionRefused outside it, nothing
        written) and record the change as a row. The caller holds the row's lock and saves the state
        with the other fields it changed."""
        change: TransferStatusChange = TRANSFER_STATES.move(
            self, to, actor=actor if getattr(actor, "pk", None) else None, reason=reason[:500])
        return change

    state_set.alters_data = True  # type: ignore[attr-defined]  # Django's mark for templates, unknown to typeshed


class TransferStatusChange(models.Model):
    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="changes")
    from_state = models.CharField(max_length=12, choices=TransferState.choices)
    to_state = models.CharField(max_length=12, choices=TransferState.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering: ClassVar = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


def _refused(old: str, new: str) -> str:
    return gettext("A transfer that is %(from)s cannot become %(to)s.") % {
        "from": str(TransferState(old).label).lower(), "to": str(TransferState(new).label).lower()}


TRANSFER_STATES = StateMachine(
    name="transfer", model="wallet.Transfer", states=TransferState, state_field="state", transitions=TRANSITIONS,
    terminal=TERMINAL,
    record=history_writer(TransferStatusChange, owner="transfer", from_field="from_state", to_field="to_state"),
    error=TransferTransitionRefused, message=_refused,
)
