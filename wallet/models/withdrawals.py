"""Withdrawals: a client's request to take money out of a wallet, held on the ledger from the
request until the payout succeeds (captured) or does not (released), and the brand's policy that
decides which requests approve themselves and which need one or two finance approvers."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.fieldcrypt import EncryptedJSONField, KeyedHashField, update_fields_with_hashes
from crm.lib.money import CurrencyField, Money, MoneyAmountField
from crm.lib.states import StateMachine, history_writer
from plumbing.context import history_user
from wallet.exceptions import WithdrawalTransitionRefused
from wallet.models.providers import MethodKind


class LowRiskRule(models.TextChoices):
    """Who counts as low risk for automatic approval (compliance may add stricter rules later)."""

    KYC_APPROVED_NO_FLAGS = "kyc_approved_no_flags", _("KYC approved and no open compliance flag")
    NOBODY = "nobody", _("Nobody: every withdrawal goes to finance")


class WithdrawalPolicy(models.Model):
    """Per brand. Amounts are per currency ({"USD": "500.00"}); a currency without an entry has no
    automatic approval, no four-eyes rule and no daily limit."""

    brand = models.OneToOneField("crm.Brand", on_delete=models.CASCADE, related_name="withdrawal_policy")
    auto_approve_below = models.JSONField(_("automatic approval up to (per currency)"), default=dict, blank=True)
    four_eyes_above = models.JSONField(_("two approvers above (per currency)"), default=dict, blank=True)
    # A deposit's refund above this amount waits for a second person (wallet.deposits.REFUND_APPROVAL).
    refund_four_eyes_above = models.JSONField(_("refunds: two people above (per currency)"), default=dict,
                                              blank=True)
    daily_limit = models.JSONField(_("daily limit per client (per currency)"), default=dict, blank=True)
    sla_hours = models.PositiveSmallIntegerField(_("hours to decide"), default=24)
    low_risk_rule = models.CharField(_("low-risk clients"), max_length=30, choices=LowRiskRule.choices,
                                     default=LowRiskRule.KYC_APPROVED_NO_FLAGS)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = _("withdrawal policy")
        verbose_name_plural = _("withdrawal policies")

    def __str__(self) -> str:
        return f"withdrawal policy of {self.brand_id}"

    def _limit(self, table: dict[str, Any], currency: str) -> Money | None:
        value = (table or {}).get(currency)
        return None if value in (None, "") else Money(Decimal(str(value)), currency)

    def auto_limit(self, currency: str) -> Money | None:
        return self._limit(self.auto_approve_below, currency)

    def four_eyes_limit(self, currency: str) -> Money | None:
        return self._limit(self.four_eyes_above, currency)

    def refund_four_eyes_limit(self, currency: str) -> Money | None:
        return self._limit(self.refund_four_eyes_above, currency)

    def daily_limit_for(self, currency: str) -> Money | None:
        return self._limit(self.daily_limit, currency)


class WithdrawalState(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    PROCESSING = "processing", _("Processing")
    UNKNOWN = "unknown", _("Outcome unknown")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    REJECTED = "rejected", _("Rejected")


S = WithdrawalState
# The pipeline. UNKNOWN: the payout request left and no answer came back; only a status lookup
# moves it (to processing when the provider has it pending, to paid or failed, or back to
# approved to be sent again under the same merchant reference when the provider never got it).
TRANSITIONS: dict[str, frozenset[str]] = {
    S.REQUESTED: frozenset({S.APPROVED, S.CANCELLED, S.REJECTED}),
    S.APPROVED: frozenset({S.PROCESSING, S.UNKNOWN, S.FAILED, S.CANCELLED, S.REJECTED}),
    S.PROCESSING: frozenset({S.PAID, S.FAILED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.PROCESSING, S.PAID, S.FAILED, S.APPROVED}),
    S.PAID: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
}
TERMINAL = frozenset({S.PAID, S.FAILED, S.CANCELLED, S.REJECTED})
# A hold (wallet.withdrawal_flags) found when an approved payout is about to be sent: the withdrawal goes
# back to finance's queue, its approvals withdrawn (wallet.withdrawals.withdrawal_payout_send), never paid.
ROUTES: dict[str, dict[str, frozenset[str]]] = {"held": {S.APPROVED: frozenset({S.REQUESTED})}}
OPEN_STATES = (S.REQUESTED, S.APPROVED, S.PROCESSING, S.UNKNOWN)
PENDING_STATES = (S.REQUESTED, S.APPROVED)  # the client may still cancel


class Withdrawal(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="withdrawals")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    amount = MoneyAmountField(_("amount"))
    currency = CurrencyField(_("currency"))
    fee = MoneyAmountField(_("fee"), default=Decimal(0))
    method = models.CharField(_("method"), max_length=20, choices=MethodKind.choices)
    payment_method = models.ForeignKey("wallet.PaymentMethod", on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey("wallet.PaymentProvider", on_delete=models.PROTECT, related_name="withdrawals")
    # What the provider pays to ({method: a card token, an IBAN ...}), encrypted in its column
    # (crm.lib.fieldcrypt): finance sees it masked, the payout request gets it whole.
    destination: Any = EncryptedJSONField(default=dict)  # a dict (JSON), stored encrypted
    destination_masked = models.CharField(_("destination"), max_length=80)
    # The destination's keyed hash (kind "instrument", wallet.instruments: the same for the same card token
    # or IBAN however spaced or cased, and the same as a deposit's instrument fingerprint) and when this
    # client first asked for a payout to it: a destination added just before a withdrawal is an AML
    # pattern (compliance.aml); clients paid to one destination are linked (monitoring).
    destination_fingerprint = KeyedHashField(source="destination", kind="instrument")
    destination_added_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(_("state"), max_length=12, choices=WithdrawalState.choices, default=S.REQUESTED)
    hold = models.OneToOneField("wallet.LedgerHold", on_delete=models.PROTECT, related_name="withdrawal")
    capture = models.OneToOneField("wallet.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    merchant_ref = models.CharField(max_length=60, unique=True)
    provider_ref = models.CharField(max_length=200, blank=True)
    # The provider's payout batch, as it last reported it (the payout's answer, its status, its
    # webhook or its settlement line): a batch's total line in a settlement file is matched to
    # exactly the payouts of that batch.
    provider_batch_id = models.CharField(_("provider's batch"), max_length=200, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")  # staff requesting for the client; None: the client
    requested_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()  # the SLA: finance decides by then
    needs_two_approvals = models.BooleanField(default=False)
    auto_approved = models.BooleanField(default=False)
    first_approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                          blank=True, related_name="+")
    first_approved_at = models.DateTimeField(null=True, blank=True)
    second_approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                           blank=True, related_name="+")
    second_approved_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)  # rejection or failure
    next_check_at = models.DateTimeField(null=True, blank=True)  # UNKNOWN: when to look it up
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["due_at", "id"]
        permissions: ClassVar = [("approve_withdrawal", "Can approve and reject withdrawals")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="withdrawal_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0) & Q(fee__lt=F("amount")), name="withdrawal_fee_below_amount"),
            # Four eyes, in the database too: the second approver is never the first.
            models.CheckConstraint(condition=Q(second_approved_by__isnull=True)
                                   | ~Q(second_approved_by=F("first_approved_by")),
                                   name="withdrawal_four_eyes_distinct"),
            # Past approval, a withdrawal that needs two approvers has both.
            models.CheckConstraint(condition=Q(needs_two_approvals=False)
                                   | Q(state__in=[S.REQUESTED, S.CANCELLED, S.REJECTED])
                                   | (Q(first_approved_by__isnull=False) & Q(second_approved_by__isnull=False)),
                                   name="withdrawal_four_eyes_required"),
        ]
        indexes: ClassVar = [
            # The finance queue and the beat task read open withdrawals only.
            models.Index(fields=["state", "due_at"], name="withdrawal_open_by_sla",
                         condition=Q(state__in=["requested", "approved", "processing", "unknown"])),
            models.Index(fields=["client", "requested_at"], name="withdrawal_client_day"),
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.code}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()

    @property
    def fee_money(self) -> Money:
        return Money(self.fee, self.currency).quantize()

    @property
    def payout_money(self) -> Money:
        """What reaches the client: the amount less the fee."""
        return self.money - self.fee_money

    @property
    def awaits_manual_payout(self) -> bool:
        """Approved and with finance to pay from the bank (a provider without a payout API)."""
        return self.state == S.PROCESSING and self.provider.manual_payout

    @property
    def is_overdue(self) -> bool:
        return self.state == S.REQUESTED and self.due_at < timezone.now()

    def state_set(self, to: str, *, actor: Any = None, reason: str = "", via: str | None = None,
                  ) -> WithdrawalStatusChange:
        """Move along the pipeline (WITHDRAWAL_STATES, and its route `via`; WithdrawalTransitionRefused
        outside it, nothing written) and record the change as a row. The caller holds the row's lock and
        saves the state with the other fields it changed."""
        change: WithdrawalStatusChange = WITHDRAWAL_STATES.move(
            self, to, via=via, actor=actor if getattr(actor, "pk", None) else None, reason=reason[:500])
        return change

    state_set.alters_data = True  # type: ignore[attr-defined]  # Django's mark for templates, unknown to typeshed


class WithdrawalStatusChange(models.Model):
    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.CASCADE, related_name="changes")
    from_state = models.CharField(max_length=12, choices=WithdrawalState.choices)
    to_state = models.CharField(max_length=12, choices=WithdrawalState.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering: ClassVar = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


def _refused(old: str, new: str) -> str:
    return gettext("A withdrawal that is %(from)s cannot become %(to)s.") % {
        "from": str(WithdrawalState(old).label).lower(), "to": str(WithdrawalState(new).label).lower()}


WITHDRAWAL_STATES = StateMachine(
    name="withdrawal", model="wallet.Withdrawal", states=WithdrawalState, state_field="state", transitions=TRANSITIONS,
    terminal=TERMINAL, routes=ROUTES,
    record=history_writer(WithdrawalStatusChange, owner="withdrawal", from_field="from_state", to_field="to_state"),
    error=WithdrawalTransitionRefused, message=_refused,
)
