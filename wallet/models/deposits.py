"""Deposits: a client paying money in through a payment provider, as a guarded state machine.

created → pending → succeeded | failed | expired | cancelled; created → succeeded | failed
(a card paid at once) and created → unknown (the provider's answer was lost: a status lookup
resolves it); succeeded → partially_refunded → refunded, succeeded | partially_refunded →
charged_back. The provider's word is final: a success reported after a failure, an expiry or a
cancellation (a later sequence number) still credits the money. A success in another currency
than asked is held for finance: held → succeeded (finance releases it: the money credited in the
currency the provider took) | refused (finance gives it back: a refund to the payer) → refunded;
held → failed when the provider confirmed nothing that could be given back. The machine is
``DEPOSIT_STATES`` (crm.lib.states): every change leaves a ``DepositStatusChange`` row. Only
wallet.deposits writes these tables.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.money import CurrencyField, Money, MoneyAmountField, amount_format
from crm.lib.states import StateMachine, history_writer
from wallet.exceptions import IllegalTransition, RefundTransitionRefused
from wallet.models.providers import MethodKind


class DepositStatus(models.TextChoices):
    CREATED = "created", _("Created")
    UNKNOWN = "unknown", _("Unknown")
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")
    CHARGED_BACK = "charged_back", _("Charged back")
    HELD = "held", _("Held for finance")
    REFUSED = "refused", _("Refused: being returned to the payer")


S = DepositStatus
# Where each status may go. A provider's success may follow failed/expired/cancelled/unknown:
# the money arrived, it must be credited. A success in another currency than the deposit's is held
# for finance instead (nothing credited; the provider holds money we cannot book to this wallet):
# finance releases it (succeeded) or refuses it (refused, then refunded once the provider returns
# the money to the payer; failed when the provider confirmed nothing to give back).
TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PENDING, S.SUCCEEDED, S.FAILED, S.EXPIRED, S.CANCELLED, S.UNKNOWN, S.HELD}),
    S.UNKNOWN: frozenset({S.PENDING, S.SUCCEEDED, S.FAILED, S.EXPIRED, S.HELD}),
    S.PENDING: frozenset({S.SUCCEEDED, S.FAILED, S.EXPIRED, S.CANCELLED, S.HELD}),
    S.FAILED: frozenset({S.SUCCEEDED, S.HELD}),
    S.EXPIRED: frozenset({S.SUCCEEDED, S.HELD}),
    S.CANCELLED: frozenset({S.SUCCEEDED, S.HELD}),
    S.HELD: frozenset({S.SUCCEEDED, S.REFUSED, S.FAILED}),
    S.REFUSED: frozenset({S.REFUNDED}),
    S.SUCCEEDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.CHARGED_BACK}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.CHARGED_BACK}),
    S.REFUNDED: frozenset(),
    S.CHARGED_BACK: frozenset(),
}
# Nothing leaves these: the money is back with the payer or taken back.
TERMINAL = frozenset({S.REFUNDED, S.CHARGED_BACK})
OPEN_STATUSES = frozenset({S.CREATED, S.UNKNOWN, S.PENDING})
CREDITED_STATUSES = frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.CHARGED_BACK})


class Deposit(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="deposits")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey("wallet.PaymentProvider", on_delete=models.PROTECT, related_name="deposits")
    method = models.CharField(_("method"), max_length=20, choices=MethodKind.choices)
    method_code = models.CharField(max_length=36, blank=True)  # the PaymentMethod rule used
    currency = CurrencyField(_("currency"))
    amount = MoneyAmountField(_("amount"))  # what the provider confirmed, once it did; asked until then
    # What the client asked, kept when the provider confirmed another amount (None: the same), and
    # its currency when the provider confirmed another one (a held deposit; "": the deposit's).
    requested_amount = MoneyAmountField(_("amount asked"), null=True, blank=True)
    requested_currency = CurrencyField(_("currency asked"), blank=True, default="")
    fee = MoneyAmountField(_("fee"), default=0)
    refunded = MoneyAmountField(_("refunded"), default=0)
    status = models.CharField(_("status"), max_length=20, choices=DepositStatus.choices, default=DepositStatus.CREATED)
    status_message = models.CharField(_("message"), max_length=300, blank=True)
    merchant_ref = models.CharField(_("merchant reference"), max_length=64, unique=True)
    provider_ref = models.CharField(_("provider reference"), max_length=200, blank=True)
    provider_sequence = models.PositiveIntegerField(default=0)  # the newest provider event applied
    redirect_url = models.URLField(max_length=1000, blank=True)
    instructions = models.JSONField(default=dict, blank=True)  # bank wire details
    trading_account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", help_text=_("Where the client asked the money to go."))
    created_by_client = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    is_first = models.BooleanField(default=False)  # the client's first successful deposit (FTD)
    credit_transaction = models.ForeignKey("wallet.LedgerTransaction", on_delete=models.PROTECT, null=True,
                                           blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    # The payer and the instrument, as the provider (or finance, for a wire) gave them (wallet.instruments):
    # never the card's or account's number, only its keyed hash and last four.
    payer_name = models.CharField(_("payer"), max_length=140, blank=True)
    payer_is_client = models.BooleanField(_("payer is the client"), null=True, blank=True)  # None: cannot tell
    instrument_country = models.CharField(_("instrument's country"), max_length=2, blank=True)
    instrument_fingerprint = models.CharField(max_length=64, blank=True)
    instrument_last4 = models.CharField(_("instrument"), max_length=4, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        permissions: ClassVar = [("refund_deposit", "Can refund deposits"),
                                 ("decide_held_deposit", "Can release or refuse deposits held for finance")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="deposit_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0) & Q(refunded__gte=0), name="deposit_fee_refunded_not_negative"),
            models.UniqueConstraint(fields=["client"], condition=Q(is_first=True), name="deposit_one_first_per_client"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["status", "created_at"], name="deposit_status_idx"),
            models.Index(fields=["client", "-created_at"], name="deposit_client_idx"),
            models.Index(fields=["provider", "provider_ref"], name="deposit_provider_ref_idx"),
            # Instruments shared between clients are found by their fingerprint (compliance.aml).
            models.Index(fields=["instrument_fingerprint"], name="deposit_instrument_idx",
                         condition=~Q(instrument_fingerprint="")),
        ]

    def __str__(self) -> str:
        return f"{amount_format(self.amount, self.currency)} ({self.status})"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()

    @property
    def requested_money(self) -> Money:
        """What the client asked (``money`` is what the provider confirmed)."""
        asked = self.amount if self.requested_amount is None else self.requested_amount
        return Money(asked, self.requested_currency or self.currency).quantize()

    @property
    def held_with_money(self) -> bool:
        """Held for finance with money to decide on: the provider confirmed ``money`` in another
        currency than the one asked (a hold for nothing keeps the amount asked and no currency)."""
        return self.status == DepositStatus.HELD and bool(self.requested_currency)

    @property
    def fee_money(self) -> Money:
        return Money(self.fee, self.currency).quantize()

    @property
    def credited(self) -> Money:
        return (self.money - self.fee_money).quantize()

    @property
    def refunded_money(self) -> Money:
        return Money(self.refunded, self.currency).quantize()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class DepositStatusChange(models.Model):
    deposit = models.ForeignKey(Deposit, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    note = models.CharField(max_length=300, blank=True)
    event_id = models.CharField(max_length=200, blank=True)  # the provider's event, when one caused it
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


def _refused(old: str, new: str) -> str:
    return gettext("A deposit that is %(now)s cannot become %(to)s.") % {
        "now": DepositStatus(old).label, "to": DepositStatus(new).label}


DEPOSIT_STATES = StateMachine(
    name="deposit", model="wallet.Deposit", states=DepositStatus, transitions=TRANSITIONS, terminal=TERMINAL,
    # `at`: auto_now_add; in a batch of notifications (wallet.webhook_batches), written with the batch
    record=history_writer(DepositStatusChange, owner="deposit", stamp=None, gathered=True),
    error=IllegalTransition, message=_refused,
)


class RefundStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("Waiting for a second person")
    SENT_BACK = "sent_back", _("Sent back")
    REQUESTED = "requested", _("Asked of the provider")
    SUCCEEDED = "succeeded", _("Refunded")
    FAILED = "failed", _("Refused by the provider")
    UNKNOWN = "unknown", _("Unknown: being looked up")


R = RefundStatus
REFUND_PENDING_APPROVAL = R.PENDING_APPROVAL  # above the brand's threshold: waits for a second person
REFUND_SENT_BACK = R.SENT_BACK  # the second person did not agree: never asked of the provider
# A refund is created requested (asked of the provider at once) or, above the brand's refund threshold,
# pending_approval (wallet.deposits.REFUND_APPROVAL): a second person approves it (requested) or sends it
# back (sent_back, never asked of the provider). The provider's answer ends a requested one: succeeded,
# failed (refused there) or unknown (the answer was lost: its webhook or a look-up decides). The
# provider's word is final: a success reported after a failure still gives the money back. Only
# wallet.deposits moves it (REFUND_STATES.move).
REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    R.PENDING_APPROVAL: frozenset({R.REQUESTED, R.SENT_BACK}),
    R.SENT_BACK: frozenset(),
    R.REQUESTED: frozenset({R.SUCCEEDED, R.FAILED, R.UNKNOWN}),
    R.UNKNOWN: frozenset({R.SUCCEEDED, R.FAILED}),
    R.FAILED: frozenset({R.SUCCEEDED}),
    R.SUCCEEDED: frozenset(),
}
REFUND_TERMINAL = frozenset({R.SENT_BACK, R.SUCCEEDED})


class DepositRefund(models.Model):
    """A refund of (part of) a deposit asked of the provider; merchant_ref is its own reference there."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    deposit = models.ForeignKey(Deposit, on_delete=models.PROTECT, related_name="refunds")
    merchant_ref = models.CharField(max_length=64, unique=True)
    provider_ref = models.CharField(max_length=200, blank=True)
    amount = MoneyAmountField(_("amount"))
    currency = CurrencyField(_("currency"))
    # REFUND_STATES guards it: pending_approval | sent_back (four eyes, before the provider) | requested |
    # succeeded | failed | unknown.
    status = models.CharField(_("status"), max_length=16, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    transaction = models.ForeignKey("wallet.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Four eyes (wallet.deposits.REFUND_APPROVAL): above the brand's refund threshold the refund waits
    # ("pending_approval") with who asked for it, until a second, different person approves it (then it
    # is asked of the provider) or sends it back ("sent_back", the proposal cleared).
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    proposed_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="depositrefund_amount_positive"),
            # Two people: whoever approves a refund is not whoever proposed it.
            models.CheckConstraint(condition=Q(approved_by__isnull=True) | Q(proposed_by__isnull=True)
                                   | ~Q(approved_by=models.F("proposed_by")),
                                   name="depositrefund_approver_not_proposer"),
        ]

    def __str__(self) -> str:
        return f"{amount_format(self.amount, self.currency)} ({self.status})"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()


def _refund_refused(old: str, new: str) -> str:
    return gettext("A refund that is %(now)s cannot become %(to)s.") % {
        "now": str(RefundStatus(old).label).lower(), "to": str(RefundStatus(new).label).lower()}


REFUND_STATES = StateMachine(
    name="deposit refund", model="wallet.DepositRefund", states=RefundStatus, transitions=REFUND_TRANSITIONS,
    terminal=REFUND_TERMINAL, error=RefundTransitionRefused, message=_refund_refused,
)
