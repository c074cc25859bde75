"""Prop-trading challenges: products (rules as data, with versions), challenges, their decisions and
equity curve. Imported by trading.models; written only by trading.prop (services and the evaluator).

A product is never edited in place: saving it writes a new version row (same ``key``, version + 1)
and takes the old one off sale, so a challenge always runs under the exact rules it was sold with.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.money import CurrencyField, Money, MoneyAmountField
from crm.lib.states import StateMachine
from trading.exceptions import ChallengeTransitionRefused


class DailyLossBasis(models.TextChoices):
    BALANCE = "balance", _("the day's starting balance")
    EQUITY = "equity", _("the day's starting equity")


class MaxLossMode(models.TextChoices):
    STATIC = "static", _("Static (from the starting balance)")
    TRAILING = "trailing", _("Trailing (from the highest equity)")


class BreachAction(models.TextChoices):
    DISABLED = "disabled", _("Disable the account")
    CLOSE_ONLY = "close_only", _("Set the account to close-only")


class ChallengeProduct(models.Model):
    """One version of a challenge product of a brand. ``phases``: the evaluation phases in order,
    each ``{"name", "profit_target_pct", "min_trading_days", "time_limit_days"}`` (target and limit
    may be null: none), followed by the funded stage (no target, no time limit)."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="challenge_products",
                              db_index=False)  # covered by the unique constraint
    key = models.SlugField(_("product key"), max_length=40)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(_("name"), max_length=120)
    on_sale = models.BooleanField(_("on sale"), default=True)
    server = models.ForeignKey("trading.PlatformServer", on_delete=models.PROTECT, related_name="+")
    account_type = models.CharField(_("account type"), max_length=40)
    currency = CurrencyField(_("currency"))
    account_size = MoneyAmountField(_("account size"))
    fee = MoneyAmountField(_("fee"))
    phases = models.JSONField(_("phases"), default=list)
    daily_loss_pct = models.DecimalField(_("maximum daily loss (%)"), max_digits=5, decimal_places=2)
    daily_loss_basis = models.CharField(_("daily loss measured from"), max_length=8, choices=DailyLossBasis.choices,
                                        default=DailyLossBasis.BALANCE)
    max_loss_pct = models.DecimalField(_("maximum overall loss (%)"), max_digits=5, decimal_places=2)
    max_loss_mode = models.CharField(_("maximum loss"), max_length=8, choices=MaxLossMode.choices,
                                     default=MaxLossMode.STATIC)
    allowed_symbols = models.JSONField(_("allowed instruments"), default=list, blank=True)  # empty: all
    news_trading_allowed = models.BooleanField(_("news trading allowed"), default=True)
    weekend_holding_allowed = models.BooleanField(_("positions over the weekend allowed"), default=True)
    breach_action = models.CharField(_("on a breach"), max_length=12, choices=BreachAction.choices,
                                     default=BreachAction.DISABLED)
    profit_split_pct = models.DecimalField(_("trader's profit split (%)"), max_digits=5, decimal_places=2,
                                           default=Decimal("80"))
    created_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["brand", "key", "-version"]
        constraints: ClassVar = [
            # A version is written once; the next save is the next version.
            models.UniqueConstraint(fields=["brand", "key", "version"], name="challengeproduct_unique_version"),
            # Only one version of a product is sold at a time.
            models.UniqueConstraint(fields=["brand", "key"], condition=Q(on_sale=True),
                                    name="challengeproduct_one_version_on_sale"),
            models.CheckConstraint(condition=Q(daily_loss_pct__gt=0, daily_loss_pct__lt=100, max_loss_pct__gt=0,
                                               max_loss_pct__lt=100), name="challengeproduct_loss_pct_range"),
            models.CheckConstraint(condition=Q(account_size__gt=0, fee__gte=0), name="challengeproduct_amounts"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def size_money(self) -> Money:
        return Money(self.account_size, self.currency).quantize()

    @property
    def fee_money(self) -> Money:
        return Money(self.fee, self.currency).quantize()

    @property
    def evaluation_phases(self) -> list[dict[str, Any]]:
        return [p for p in (self.phases or []) if isinstance(p, dict)]


class ChallengeState(models.TextChoices):
    OPENING = "opening", _("Opening the account")
    ACTIVE = "active", _("In evaluation")
    FUNDED = "funded", _("Funded")
    BREACHED = "breached", _("Breached")
    FAILED = "failed", _("Failed (time limit)")


LIVE_STATES = (ChallengeState.ACTIVE, ChallengeState.FUNDED)


class Challenge(models.Model):
    """A client's run through a product version: the current phase, its account and the figures the
    rules read (the phase's starting balance, the day's starting balance and equity, the highest
    equity, the trading days). The evaluator (trading.prop.evaluate) writes these in bulk."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="challenges", db_index=False)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+", db_index=False)
    product = models.ForeignKey(ChallengeProduct, on_delete=models.PROTECT, related_name="challenges")
    state = models.CharField(max_length=10, choices=ChallengeState.choices, default=ChallengeState.OPENING)
    phase = models.PositiveSmallIntegerField(default=0)  # index into product.phases; == len(phases): funded
    account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="challenges")
    purchase_ref = models.CharField(max_length=80, blank=True)  # the fee's ledger transaction
    currency = CurrencyField()
    start_balance = MoneyAmountField(default=Decimal("0"))
    phase_started_at = models.DateTimeField(null=True, blank=True)  # the CRM's clock
    # The platform's clock when the phase's money was sent: deals (platform times) count from here.
    platform_started_at = models.DateTimeField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)  # the UTC day of day_start_*
    day_start_balance = MoneyAmountField(default=Decimal("0"))
    day_start_equity = MoneyAmountField(default=Decimal("0"))
    high_equity = MoneyAmountField(default=Decimal("0"))
    # The figures of the last evaluation: at a day's roll they become the new day's start.
    last_balance = MoneyAmountField(default=Decimal("0"))
    last_equity = MoneyAmountField(default=Decimal("0"))
    trading_days = models.PositiveSmallIntegerField(default=0)
    last_point_at = models.DateTimeField(null=True, blank=True)
    enforced_at = models.DateTimeField(null=True, blank=True)  # the breach action applied on the platform
    paid_profit = MoneyAmountField(default=Decimal("0"))  # profit already taken out for payouts
    last_error = models.TextField(blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["account"], condition=Q(account__isnull=False),
                                    name="challenge_one_per_account"),
        ]
        indexes: ClassVar = [
            # The evaluator reads the live challenges of the accounts a sync just stored.
            models.Index(fields=["account"], condition=Q(state__in=["active", "funded"]), name="challenge_live_idx"),
            models.Index(fields=["client", "created_at"], name="challenge_client_idx"),
            models.Index(fields=["brand", "state"], name="challenge_brand_state_idx"),
        ]

    def __str__(self) -> str:
        return f"challenge {self.code} ({self.state})"

    @property
    def is_funded_phase(self) -> bool:
        return self.phase >= len(self.product.evaluation_phases)

    @property
    def phase_rules(self) -> dict[str, Any]:
        phases = self.product.evaluation_phases
        return phases[self.phase] if self.phase < len(phases) else {}


class DecisionKind(models.TextChoices):
    PURCHASED = "purchased", _("Purchased")
    OPENED = "opened", _("Account opened")
    BREACH = "breach", _("Breach")
    ENFORCED = "enforced", _("Platform action")
    PASSED = "passed", _("Phase passed")
    FUNDED = "funded", _("Funded")
    FAILED = "failed", _("Failed")
    PAYOUT = "payout", _("Payout")


class ChallengeDecision(models.Model):
    """One decision about a challenge, with the rule, the figures it was made from (``params``,
    rendered into words by trading.prop.explain) and a snapshot of the account at that moment."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="decisions", db_index=False)
    at = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=DecisionKind.choices)
    rule = models.CharField(max_length=20, blank=True)
    phase = models.PositiveSmallIntegerField(default=0)
    params = models.JSONField(default=dict)
    snapshot = models.JSONField(default=dict)

    class Meta:
        ordering = ["challenge", "at", "id"]
        indexes: ClassVar = [models.Index(fields=["challenge", "at"], name="challengedecision_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.rule} at {self.at}"


class ChallengeEquityPoint(models.Model):
    """The equity curve: a point per evaluation at most once a minute per challenge (and at every
    decision). Written by the evaluator in bulk."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="points", db_index=False)
    at = models.DateTimeField()
    equity = MoneyAmountField()
    balance = MoneyAmountField()

    class Meta:
        ordering = ["challenge", "at"]
        indexes: ClassVar = [models.Index(fields=["challenge", "at"], name="challengepoint_idx")]

    def __str__(self) -> str:
        return f"{self.challenge_id} {self.at}: {self.equity}"


# --- lifecycle (crm.lib.states) -----------------------------------------------------------------------

def _challenge_refused(old: str, new: str) -> str:
    return gettext("A challenge that is %(from)s cannot become %(to)s.") % {
        "from": str(ChallengeState(old).label).lower(), "to": str(ChallengeState(new).label).lower()}


# OPENING until its account holds the account size: then in evaluation (ACTIVE), or FUNDED after the
# last phase. A passed phase opens the next (back to OPENING, a new account); a broken rule BREACHED,
# the time limit FAILED: both end it.
CHALLENGE_STATES = StateMachine(
    name="prop challenge", model="trading.Challenge", states=ChallengeState, state_field="state",
    transitions={
        ChallengeState.OPENING: frozenset({ChallengeState.ACTIVE, ChallengeState.FUNDED}),
        ChallengeState.ACTIVE: frozenset({ChallengeState.OPENING, ChallengeState.BREACHED, ChallengeState.FAILED}),
        ChallengeState.FUNDED: frozenset({ChallengeState.BREACHED, ChallengeState.FAILED}),
        ChallengeState.BREACHED: frozenset(),
        ChallengeState.FAILED: frozenset(),
    },
    terminal=frozenset({ChallengeState.BREACHED, ChallengeState.FAILED}),
    error=ChallengeTransitionRefused, message=_challenge_refused,
)
