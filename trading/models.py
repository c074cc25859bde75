"""Trading platforms in the CRM: servers, trading accounts, deals, open positions, balance operations.

What the platforms say is written by trading.sync (in bulk, with plain SQL where it matters) and what
staff ask for by trading.services; nothing here talks to a platform. Money is NUMERIC with a currency
next to it; times are UTC, and a deal keeps the platform's own time stamp and raw record as well.

Sync bookkeeping (watermarks, last errors, balances) is written with queryset ``update()`` so that it
does not fill the model history, which records only what people change.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar, Literal, overload

from django.db import models
from django.db.models import F, Q
from django.db.models.expressions import Combinable
from django.db.models.functions import Now
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.money import CurrencyField, Money, MoneyAmountField, amount_format
from crm.lib.states import StateMachine
from crm.models import Classification, Stage
from plumbing.context import history_user
from trading.exceptions import BalanceOperationTransitionRefused

type _DecimalIn = str | float | Decimal | Combinable
type DecimalColumn = models.DecimalField[_DecimalIn, Decimal]


def deal_amount_field() -> DecimalColumn:
    """Deal money in the account's currency, crypto included: the shared money column
    (crm.lib.money.MoneyAmountField, NUMERIC(28, 8))."""
    return MoneyAmountField()


@overload
def price_field(*, null: Literal[False] = False) -> DecimalColumn: ...
@overload
def price_field(*, null: Literal[True]) -> models.DecimalField[_DecimalIn | None, Decimal | None]: ...
def price_field(*, null: bool = False) -> models.DecimalField[Any, Any]:
    """NUMERIC(24, 10): a price as the platform quotes it; ``null``: may be unknown (and left blank)."""
    return models.DecimalField(max_digits=24, decimal_places=10, null=null, blank=null)


class PlatformKind(models.TextChoices):
    MT5_WEB = "mt5_web", _("MetaTrader 5 (Web API)")
    MT5_TERMINAL = "mt5_terminal", _("MetaTrader 5 terminal (read-only, Windows)")
    CTRADER = "ctrader", _("cTrader (Web Services API)")
    MATCH_TRADER = "matchtrader", _("Match-Trader (Broker API)")
    SIRIX = "sirix", _("Sirix (management REST service)")
    MT4_BRIDGE = "mt4bridge", _("MetaTrader 4 (bridge)")


class AccessLevel(models.TextChoices):
    FULL = "full", _("Full trading")
    CLOSE_ONLY = "close_only", _("Close only")
    READ_ONLY = "read_only", _("Read only")
    DISABLED = "disabled", _("Disabled")


class CloseState(models.TextChoices):
    """Where the closing of an account stands until the platform confirms it (then closed_at is set)."""

    NONE = "", _("Not closing")
    # Asked for; the platform has not disabled it yet (not reached, or it refused): the next attempt sends.
    PENDING = "pending", _("Closing")
    # Sent, and no answer came back: the platform may have disabled it. The next attempt looks the account
    # up first and only sends again if the lookup shows it still enabled.
    UNKNOWN = "unknown", _("Closing, being confirmed")
    CLOSED = "closed", _("Closed")


class DealKind(models.TextChoices):
    TRADE = "trade", _("Trade")
    BALANCE = "balance", _("Balance")
    CREDIT = "credit", _("Credit")
    BONUS = "bonus", _("Bonus")
    COMMISSION = "commission", _("Commission")
    CORRECTION = "correction", _("Correction")
    OTHER = "other", _("Other")


class DealEntry(models.TextChoices):
    IN = "in", _("In")
    OUT = "out", _("Out")
    INOUT = "inout", _("Reverse")
    OUT_BY = "out_by", _("Close by")
    NONE = "none", _("None")


class DealReason(models.IntegerChoices):
    """Why the platform made a deal (MT5's deal reason); shown by name, never as its number."""

    CLIENT = 0, _("Client, desktop terminal")
    EXPERT = 1, _("Expert advisor")
    DEALER = 2, _("Dealer")
    STOP_LOSS = 3, _("Stop loss")
    TAKE_PROFIT = 4, _("Take profit")
    STOP_OUT = 5, _("Stop out")
    ROLLOVER = 6, _("Rollover")
    EXTERNAL_CLIENT = 7, _("External client")
    VARIATION_MARGIN = 8, _("Variation margin")
    GATEWAY = 9, _("Gateway")
    SIGNAL = 10, _("Trading signal")
    SETTLEMENT = 11, _("Settlement")
    TRANSFER = 12, _("Position transfer")
    SYNC = 13, _("Synchronisation")
    EXTERNAL_SERVICE = 14, _("External service")
    MIGRATION = 15, _("Migration")
    MOBILE = 16, _("Client, mobile app")
    WEB = 17, _("Client, web terminal")
    SPLIT = 18, _("Split")
    CORPORATE_ACTION = 19, _("Corporate action")


def deal_reason_label(reason: int) -> str:
    """The reason's name; a code this CRM does not know yet is shown as such, with its number."""
    try:
        return str(DealReason(reason).label)
    except ValueError:
        return _("Other (%(code)s)") % {"code": reason}


class BalanceKind(models.TextChoices):
    BALANCE = "balance", _("Deposit / withdrawal")
    CREDIT = "credit", _("Credit")
    BONUS = "bonus", _("Bonus")
    CORRECTION = "correction", _("Correction")
    CHARGE = "charge", _("Charge")


class BalanceState(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPLIED = "applied", _("Applied")
    UNKNOWN = "unknown", _("Unknown: being checked")
    FAILED = "failed", _("Failed")


# Fields of PlatformServer that the sync writes; they stay out of the model history.
SERVER_SYNC_FIELDS = (
    "deal_watermark", "last_deal_sync_at", "last_deal_sync_ok_at", "last_state_sync_at",
    "last_state_sync_ok_at", "last_reconcile_at", "sync_lag_seconds", "deals_per_minute", "last_error",
    "last_error_at", "consecutive_failures", "backoff_until", "lag_alert_since", "updated_at",
)
# Fields of TradingAccount that the sync writes.
ACCOUNT_SYNC_FIELDS = (
    "balance", "credit", "equity", "margin", "free_margin", "margin_level", "state_observed_at",
    "last_synced_at", "history_synced", "first_trade_at", "last_trade_at", "inactive_since",
    "margin_call_since", "updated_at",
)


class PlatformServer(models.Model):
    """One trading server of a brand, how to reach it, how its account types map to groups, how it
    is synced, and how the sync is doing. The manager password is stored encrypted
    (trading.crypto) and never shown again once saved."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="platform_servers")
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("platform"), max_length=20, choices=PlatformKind.choices, default=PlatformKind.MT5_WEB)
    is_active = models.BooleanField(_("active"), default=True)

    # connection
    host = models.CharField(_("host"), max_length=255, help_text=_("Access server host name or address."))
    port = models.PositiveIntegerField(_("port"), default=443)
    manager_login = models.BigIntegerField(_("manager login"))
    manager_password_encrypted = models.TextField(blank=True, editable=False)
    ca_file = models.CharField(
        _("trusted certificate file"), max_length=500, blank=True,
        help_text=_("Path of a PEM certificate to trust (a self-signed server); empty: the system's CAs."),
    )
    verify_tls = models.BooleanField(_("verify TLS"), default=True)
    timeout_seconds = models.PositiveSmallIntegerField(_("timeout (s)"), default=10)
    server_tz = models.CharField(_("server time zone"), max_length=64, blank=True,
                                 help_text=_("IANA name, e.g. Europe/Nicosia; wins over the fixed offset."))
    server_tz_offset_minutes = models.SmallIntegerField(_("server UTC offset (minutes)"), default=0)
    terminal_path = models.CharField(_("terminal path"), max_length=500, blank=True)
    # {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [50, 100, 500],
    #               "demo": false, "currency": "USD"}, ...}
    account_types = models.JSONField(_("account types"), default=dict, blank=True)
    # {"real\\standard": "real\\standard-closeonly"}: MT5 has no per-account close-only right.
    close_only_groups = models.JSONField(_("close-only groups"), default=dict, blank=True)

    # sync settings
    sync_enabled = models.BooleanField(_("sync enabled"), default=True)
    deal_poll_seconds = models.PositiveIntegerField(_("deal poll interval (s)"), default=15)
    state_poll_seconds = models.PositiveIntegerField(_("account state poll interval (s)"), default=30)
    deal_overlap_seconds = models.PositiveIntegerField(
        _("deal window overlap (s)"), default=3600,
        help_text=_("Each poll re-reads this much before the watermark, so late deals are not missed."),
    )
    deal_visibility_lag_seconds = models.PositiveIntegerField(
        _("deal visibility lag (s)"), default=1800,
        help_text=_("How late a deal may appear; an unconfirmed balance operation is judged only after it."),
    )
    reconcile_days = models.PositiveSmallIntegerField(_("reconcile window (days)"), default=7)
    inactivity_days = models.PositiveSmallIntegerField(_("inactive after (days)"), default=30)
    sync_lag_alert_seconds = models.PositiveIntegerField(_("sync lag alert (s)"), default=300)
    margin_call_enter_level = models.DecimalField(_("margin call below (%)"), max_digits=7, decimal_places=2,
                                                  default=Decimal("100"))
    margin_call_leave_level = models.DecimalField(_("margin call over above (%)"), max_digits=7, decimal_places=2,
                                                  default=Decimal("150"))

    # sync health (written by trading.sync only)
    deal_watermark = models.DateTimeField(null=True, blank=True, editable=False)
    last_deal_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_deal_sync_ok_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_state_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_state_sync_ok_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_reconcile_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_lag_seconds = models.PositiveIntegerField(default=0, editable=False)
    deals_per_minute = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"), editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    backoff_until = models.DateTimeField(null=True, blank=True, editable=False)
    lag_alert_since = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user,
                                excluded_fields=["manager_password_encrypted", *SERVER_SYNC_FIELDS])

    class Meta:
        ordering = ["brand__name", "name"]
        constraints: ClassVar = [
            # Staff pick servers by name within a brand.
            models.UniqueConstraint(fields=["brand", "name"], name="platformserver_unique_name_per_brand"),
            # Hysteresis: an account leaves a margin-call episode only well above where it entered,
            # so a level hovering at the threshold does not raise one alert per poll.
            models.CheckConstraint(condition=Q(margin_call_leave_level__gt=F("margin_call_enter_level")),
                                   name="platformserver_margin_call_hysteresis"),
            models.CheckConstraint(condition=Q(port__gte=1, port__lte=65535), name="platformserver_port_range"),
            # A zero interval would make beat poll the platform in a tight loop.
            models.CheckConstraint(condition=Q(deal_poll_seconds__gte=1, state_poll_seconds__gte=1),
                                   name="platformserver_poll_intervals_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def account_type(self, key: str) -> dict[str, Any] | None:
        spec = (self.account_types or {}).get(key)
        return spec if isinstance(spec, dict) else None


# The stages a brand may require before a live account: the start of the funnel up to funded.
OPENING_STAGES = (Stage.LEAD, Stage.REGISTERED, Stage.VERIFIED, Stage.FUNDED)
DEFAULT_LIVE_MIN_STAGE = Stage.REGISTERED


class BrandTradingPolicy(models.Model):
    """A brand's rules over every server it uses: the leverage ceilings (regulators cap leverage per
    brand; LeverageCap narrows them per country and classification) and who may get a live account.
    A brand without a row gets the defaults of a new row."""

    brand = models.OneToOneField("crm.Brand", on_delete=models.CASCADE, related_name="trading_policy")
    max_leverage_live = models.PositiveIntegerField(_("maximum leverage, live accounts"), default=500)
    max_leverage_demo = models.PositiveIntegerField(_("maximum leverage, demo accounts"), default=1000)
    live_min_stage = models.CharField(
        _("live accounts from stage"), max_length=16, default=DEFAULT_LIVE_MIN_STAGE,
        choices=[(s.value, s.label) for s in OPENING_STAGES],
        help_text=_("A live account needs the client to have reached at least this stage."))
    live_requires_verification = models.BooleanField(
        _("live accounts need a verified client"), default=False,
        help_text=_("A live account needs an approved verification (KYC) that has not expired."))
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name_plural = "brand trading policies"
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(max_leverage_live__gte=1, max_leverage_demo__gte=1),
                                   name="brandtradingpolicy_leverage_positive"),
            models.CheckConstraint(condition=Q(live_min_stage__in=[s.value for s in OPENING_STAGES]),
                                   name="brandtradingpolicy_live_min_stage_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.brand} trading policy"


class LeverageCap(models.Model):
    """A leverage cap for live accounts of a brand's clients in one country, of one classification,
    or both (ESMA: retail clients in the EU at most 1:30). For an account, the most specific rule
    that matches its client wins (country and classification over either alone); between equally
    specific ones the lowest cap; the brand's live ceiling (BrandTradingPolicy) applies on top.
    Demo accounts are held to the brand's demo ceiling only."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="leverage_caps", db_index=False)
    country = models.CharField(_("country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2; empty: any."))
    classification = models.CharField(_("classification"), max_length=24, blank=True,
                                      choices=Classification.choices, help_text=_("Empty: any."))
    max_leverage = models.PositiveIntegerField(_("maximum leverage"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand", "country", "classification"]
        constraints: ClassVar = [
            # One rule per (country, classification) of a brand: two would leave the cap ambiguous.
            models.UniqueConstraint(fields=["brand", "country", "classification"],
                                    name="leveragecap_unique_scope_per_brand"),
            # A rule for every client of the brand is the brand's own ceiling, not a rule.
            models.CheckConstraint(condition=~Q(country="", classification=""), name="leveragecap_has_scope"),
            models.CheckConstraint(condition=Q(country="") | Q(country__regex=r"^[A-Z]{2}$"),
                                   name="leveragecap_country_iso2"),
            models.CheckConstraint(condition=Q(classification="") | Q(classification__in=Classification.values),
                                   name="leveragecap_classification_valid"),
            models.CheckConstraint(condition=Q(max_leverage__gte=1), name="leveragecap_leverage_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.brand}: {self.country or '*'} {self.classification or '*'} 1:{self.max_leverage}"

    @property
    def specificity(self) -> int:
        return int(bool(self.country)) + int(bool(self.classification))


class PasswordLinkPurpose(models.TextChoices):
    OPENED = "opened", _("New account")
    RESET = "reset", _("Password reset")


class TradingPasswordLink(models.Model):
    """A single-use link by which a client sees a new trading password once (trading.services).

    The link carries a random token; only its SHA-256 is stored. The passwords wait here encrypted
    (trading.crypto's purpose-bound cipher) until the client reveals them, and are wiped then, when
    the link expires (the sweep) or when a newer link of the account replaces it."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    account = models.ForeignKey("TradingAccount", on_delete=models.CASCADE, related_name="password_links",
                                db_index=False)
    purpose = models.CharField(max_length=8, choices=PasswordLinkPurpose.choices)
    token_hash = models.CharField(max_length=64)
    password_encrypted = models.TextField(blank=True)
    investor_password_encrypted = models.TextField(blank=True)
    language = models.CharField(max_length=8, blank=True)  # the client's, for the page
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revealed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints: ClassVar = [
            # The link's look-up: the hash of the token in the URL.
            models.UniqueConstraint(fields=["token_hash"], name="passwordlink_unique_token"),
            # Once shown or replaced, nothing of the passwords remains.
            models.CheckConstraint(
                condition=(Q(revealed_at__isnull=True, revoked_at__isnull=True)
                           | Q(password_encrypted="", investor_password_encrypted="")),
                name="passwordlink_spent_holds_nothing"),
        ]
        indexes: ClassVar = [
            # A new link replaces the account's open ones.
            models.Index(fields=["account"], condition=Q(revealed_at__isnull=True, revoked_at__isnull=True),
                         name="passwordlink_open_idx"),
            # The sweep wipes expired passwords: a small partial index of those still held.
            models.Index(fields=["expires_at"], condition=~Q(password_encrypted=""),
                         name="passwordlink_held_idx"),
        ]

    def __str__(self) -> str:
        return f"password link {self.code} ({self.purpose})"

    @property
    def is_spent(self) -> bool:
        return self.revealed_at is not None or self.revoked_at is not None


class TradingAccount(models.Model):
    """A client's login on a platform server, with what the CRM last learned about its money."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    # Both covered by the composite indexes below: no single-column FK indexes.
    server = models.ForeignKey(PlatformServer, on_delete=models.PROTECT, related_name="accounts", db_index=False)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="trading_accounts",
                               db_index=False)
    login = models.BigIntegerField(_("login"))
    is_demo = models.BooleanField(_("demo"), default=False)
    account_type = models.CharField(_("account type"), max_length=40, blank=True)
    group = models.CharField(_("group"), max_length=64)
    currency = CurrencyField(_("currency"), default="USD")
    leverage = models.PositiveIntegerField(_("leverage"))
    access = models.CharField(_("access"), max_length=12, choices=AccessLevel.choices, default=AccessLevel.FULL)
    is_archived = models.BooleanField(default=False)
    opened_at = models.DateTimeField(null=True, blank=True)  # the platform's registration time, UTC
    # Closed by trading_account_close (the client offboarded): disabled on the platform, no more deposits.
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=500, blank=True)
    # The close in flight (trading_account_close): staff see the account "closing" until the platform
    # confirms it; failed attempts are counted, and past the limit staff get a task.
    close_state = models.CharField(max_length=8, choices=CloseState.choices, default=CloseState.NONE, blank=True)
    close_requested_at = models.DateTimeField(null=True, blank=True)
    close_attempts = models.PositiveSmallIntegerField(default=0)
    close_error = models.CharField(max_length=300, blank=True)

    # last known money (account state sync)
    balance = MoneyAmountField(default=Decimal("0"))
    credit = MoneyAmountField(default=Decimal("0"))
    equity = MoneyAmountField(default=Decimal("0"))
    margin = MoneyAmountField(default=Decimal("0"))
    free_margin = MoneyAmountField(default=Decimal("0"))
    margin_level = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    state_observed_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    # what the deal sync learned
    history_synced = models.BooleanField(default=False)  # deals read back to the account's opening
    first_trade_at = models.DateTimeField(null=True, blank=True)
    last_trade_at = models.DateTimeField(null=True, blank=True)
    # Episodes: set when the alert went out, cleared when the condition ends; one alert per episode.
    inactive_since = models.DateTimeField(null=True, blank=True)
    margin_call_since = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user, excluded_fields=list(ACCOUNT_SYNC_FIELDS))

    class Meta:
        ordering = ["server__name", "login"]
        permissions: ClassVar = [
            ("reset_trading_password", "Can reset a trading account's password"),
            ("work_retention", "Can work the retention workspace (dormant and at-risk traders)"),
        ]
        constraints: ClassVar = [
            # A login names one account on one server; other servers reuse the same numbers.
            models.UniqueConstraint(fields=["server", "login"], name="tradingaccount_unique_login_per_server"),
            models.CheckConstraint(condition=Q(leverage__gte=1), name="tradingaccount_leverage_positive"),
            # Closed means the platform confirmed it: the state and the time go together.
            models.CheckConstraint(condition=Q(closed_at__isnull=True) | Q(close_state="closed"),
                                   name="tradingaccount_closed_state_consistent"),
        ]
        indexes: ClassVar = [
            # The profile's trading tab lists a client's accounts.
            models.Index(fields=["client", "server"], name="tradingaccount_client_idx"),
            # State polling walks a server's live (not archived) accounts.
            models.Index(fields=["server", "login"], condition=Q(is_archived=False),
                         name="tradingaccount_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.login} ({self.server})"

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def is_closing(self) -> bool:
        """Asked to close, not yet confirmed by the platform."""
        return self.closed_at is None and self.close_state in (CloseState.PENDING, CloseState.UNKNOWN)

    @property
    def balance_money(self) -> Money:
        return Money(self.balance, self.currency).quantize()

    @property
    def in_margin_call(self) -> bool:
        return self.margin_call_since is not None


class AccountEquityDay(models.Model):
    """The highest equity the account state sync saw on an account in one UTC day (the CRM's own
    clock): the history behind "equity now against its recent peak" on the retention workspace.

    Written only by trading.sync, in the same statement that stores the polled states; a row is
    rewritten only when the day's high rises, so a steady poll writes a row once a day per account.
    A withdrawal lowers equity like a loss does: either way money is leaving the account."""

    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="equity_days",
                                db_index=False)  # covered by the unique constraint's index
    day = models.DateField()
    high = MoneyAmountField()

    class Meta:
        constraints: ClassVar = [
            # The sync's upsert key, and the index that finds an account's recent days.
            models.UniqueConstraint(fields=["account", "day"], name="equityday_unique_per_account_day"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}: {self.high}"


class RetentionSummary(models.Model):
    """The retention workspace's read model: one row per trader (a client with a live, not archived
    trading account), the client's figures over those accounts as trading.summaries defines them.

    Kept by the writers, in their transaction (trading.summaries.retention_refresh: the deal sync's
    last trades, the state sync's money and equity highs, account opening, a server's margin-call
    level) and rebuilt from the raw rows by `manage.py trading_summaries_rebuild`. `max_drop` is
    measured against peaks of a rolling window: it holds through `drop_until`, after which the
    oldest peak leaves the window and the row is computed again (retention_expire)."""

    client = models.OneToOneField("crm.Client", on_delete=models.CASCADE, primary_key=True, related_name="+")
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+", db_index=False)
    # The client's desk as crm publishes it (crm.selectors.CLIENTS_VIEW), kept on "client.assigned": a desk
    # manager's page reads their desks' rows by index instead of naming each of their clients.
    # A plain id, not a foreign key: a desk's removal leaves the rows to the next refresh.
    desk_id = models.BigIntegerField(null=True)
    last_trade_at = models.DateTimeField(null=True)
    last_activity = models.DateTimeField()  # the latest trade, else opening, of any live account
    margin_calls = models.PositiveIntegerField()  # live accounts under their server's margin-call level
    # The deepest percent an account's equity is below its recent peak, as PostgreSQL divides it
    # (a value of at least 1% keeps every digit of the division, so filters compare as on raw rows).
    max_drop = models.DecimalField(max_digits=30, decimal_places=20)
    drop_until = models.DateField(null=True)  # the last day max_drop holds (None: no peak in the window)
    refreshed_at = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            # A brand's traders (the workspace's brand filter, a brand-limited user's scope).
            models.Index(fields=["brand", "last_activity"], name="retention_brand_idx"),
            # A desk's traders (a desk manager's scope).
            models.Index(fields=["desk_id", "last_activity"], name="retention_desk_idx"),
            # The rows whose window moved past a peak, found each page view and by the beat.
            models.Index(fields=["drop_until"], name="retention_drop_until_idx"),
        ]

    def __str__(self) -> str:
        return f"retention of client {self.client_id}"


class ExposureRow(models.Model):
    """The dealer's exposure page as of the last account-state poll, per brand (of the clients) and
    server (`server_key`, 0: all the brand's servers): the rows trading.exposure's report statement
    gives over that brand's open positions, so that a brand-wide view reads and merges these few
    rows instead of summing every open position. Replaced whole per brand after each poll of a
    server (trading.summaries.exposure_refresh); rebuilt by `manage.py trading_summaries_rebuild`.
    Not keyed to clients or accounts: figures of a moment, never joined."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+", db_index=False)
    server_key = models.BigIntegerField()
    part = models.CharField(max_length=16)
    symbol = models.CharField(max_length=32, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    client_id = models.BigIntegerField(null=True)
    account_id = models.BigIntegerField(null=True)
    login = models.BigIntegerField(null=True)
    server_name = models.CharField(max_length=120, blank=True)
    positions = models.BigIntegerField(null=True)
    buy = models.DecimalField(max_digits=38, decimal_places=8, null=True)
    sell = models.DecimalField(max_digits=38, decimal_places=8, null=True)
    pnl = models.DecimalField(max_digits=38, decimal_places=8, null=True)
    count = models.BigIntegerField(null=True)
    refreshed_at = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            # A view reads one server key of its brands (every brand: the key alone).
            models.Index(fields=["server_key", "brand"], name="exposurerow_key_idx"),
        ]

    def __str__(self) -> str:
        return f"exposure {self.part} of brand {self.brand_id}"


class Deal(models.Model):
    """One platform deal as last read. ``content_hash`` (trading.adapters.base.deal_content_hash)
    changes when the platform edits the deal; ``deleted_at`` is set when reconciliation finds it gone.

    Written only by trading.sync's bulk upsert (one SQL statement per chunk). Partitioned by month
    on ``time`` (migration 0016; crm.lib.partitions): the database's primary key is (id, time)."""

    # Each write pays for every index: the FKs are covered by the composite indexes below.
    server = models.ForeignKey(PlatformServer, on_delete=models.PROTECT, related_name="deals", db_index=False)
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="deals", db_index=False)
    deal_id = models.BigIntegerField()
    login = models.BigIntegerField()
    time = models.DateTimeField()
    platform_time_msc = models.BigIntegerField()
    kind = models.CharField(max_length=12, choices=DealKind.choices)
    action = models.SmallIntegerField()
    entry = models.CharField(max_length=8, choices=DealEntry.choices)
    side = models.CharField(max_length=4, blank=True)
    position_id = models.BigIntegerField(default=0)
    order_id = models.BigIntegerField(default=0)
    symbol = models.CharField(max_length=32, blank=True)
    volume = models.DecimalField(max_digits=20, decimal_places=8)  # lots
    price = price_field()
    profit = deal_amount_field()
    commission = deal_amount_field()
    swap = deal_amount_field()
    fee = deal_amount_field()
    comment = models.CharField(max_length=64, blank=True)
    reason = models.SmallIntegerField(default=0)
    market_bid = price_field(null=True)
    market_ask = price_field(null=True)
    # The market's spread (ask - bid) at the deal, in price units, when a source gives the spread
    # but not the bid and ask (a deal report's Spread column): the commission engine's spread basis.
    market_spread = price_field(null=True)
    content_hash = models.CharField(max_length=64)
    raw = models.JSONField(default=dict)
    first_seen_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-time", "-deal_id"]
        constraints: ClassVar = [
            # The idempotency key of the sync's upsert (ON CONFLICT (server_id, deal_id, time)). The
            # table is partitioned by month on time (migration 0016), and a unique key of a
            # partitioned table must hold its partition key; a deal id is still stored once per
            # server, as the sync moves a deal whose time the platform edited (trading.sync). The
            # hash rides along in the index so that a replay is judged unchanged from the index alone.
            models.UniqueConstraint(fields=["server", "deal_id", "time"], include=["content_hash"],
                                    name="deal_unique_per_server"),
        ]
        indexes: ClassVar = [
            # An account's deals, newest first: the trading tab, reconciliation, balance checks.
            models.Index(F("account"), F("time").desc(), name="deal_account_time_idx"),
            # The dealer's view: the newest deals across accounts, paged by (time, id).
            models.Index(F("time").desc(), F("id").desc(), name="deal_time_idx"),
            # What changed since a moment (new, edited or deleted deals all set updated_at): the
            # commission engine's increments read only those.
            models.Index(fields=["updated_at"], name="deal_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id} ({self.login})"

    @property
    def money_effect(self) -> Decimal:
        return self.profit + self.commission + self.swap + self.fee

    @property
    def reason_label(self) -> str:
        return deal_reason_label(self.reason)


class Position(models.Model):
    """An open position as last polled; closed ones are removed (their deals remain)."""

    server = models.ForeignKey(PlatformServer, on_delete=models.CASCADE, related_name="positions", db_index=False)
    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="positions", db_index=False)
    position_id = models.BigIntegerField()
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    volume = models.DecimalField(max_digits=20, decimal_places=8)
    price_open = price_field()
    price_current = price_field()
    profit = deal_amount_field()
    swap = deal_amount_field()
    opened_at = models.DateTimeField()
    comment = models.CharField(max_length=64, blank=True)
    observed_at = models.DateTimeField()

    class Meta:
        ordering = ["-opened_at"]
        constraints: ClassVar = [
            # Position ids are unique per server (MT5 reuses the opening order's ticket).
            models.UniqueConstraint(fields=["server", "position_id"], name="position_unique_per_server"),
        ]
        indexes: ClassVar = [models.Index(fields=["account"], name="position_account_idx")]

    def __str__(self) -> str:
        return f"position {self.position_id} {self.symbol}"


class BalanceOperation(models.Model):
    """The CRM's request to move money on a trading account, and what became of it.

    The row is committed as PENDING before the platform is called, with a short ``reference`` that
    travels in the platform comment. An answer with a ticket makes it APPLIED; a refusal FAILED; no
    answer UNKNOWN, which only a look-up of the reference (after the platform's deal visibility lag)
    turns into APPLIED or FAILED. Nothing is ever sent twice for one row."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    reference = models.CharField(max_length=16)
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="balance_operations")
    kind = models.CharField(max_length=12, choices=BalanceKind.choices)
    amount = MoneyAmountField()  # exact at the currency's exponent (crm.lib.money.Money.exact)
    currency = CurrencyField()
    comment = models.CharField(max_length=31)  # exactly what the platform was sent
    reason = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=8, choices=BalanceState.choices, default=BalanceState.PENDING)
    platform_ticket = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    platform_time_before = models.DateTimeField(null=True, blank=True)  # the platform's clock before sending
    sent_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A row per state change (the audit log has one too, with before and after).
    history = HistoricalRecords(get_user=history_user, excluded_fields=["next_check_at", "updated_at"])

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints: ClassVar = [
            # The reference is what finds the operation on the platform after a lost answer.
            models.UniqueConstraint(fields=["reference"], name="balanceop_unique_reference"),
            # One platform ticket is one operation: a look-up can never settle two rows on one deal.
            models.UniqueConstraint(fields=["account", "platform_ticket"], condition=Q(platform_ticket__isnull=False),
                                    name="balanceop_unique_ticket_per_account"),
            models.CheckConstraint(condition=~Q(amount=0), name="balanceop_amount_nonzero"),
            models.CheckConstraint(condition=~Q(state=BalanceState.APPLIED) | Q(platform_ticket__isnull=False),
                                   name="balanceop_applied_has_ticket"),
        ]
        indexes: ClassVar = [
            # Withdrawals wait while an account has an open operation: a tiny partial index.
            models.Index(fields=["account"], condition=Q(state__in=["pending", "unknown"]),
                         name="balanceop_open_idx"),
            # The resolver's queue.
            models.Index(fields=["next_check_at"], condition=Q(state="unknown"), name="balanceop_unknown_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {amount_format(self.amount, self.currency)} ({self.state})"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()

    @property
    def is_open(self) -> bool:
        return self.state in (BalanceState.PENDING, BalanceState.UNKNOWN)


class ClientLeverageLimit(models.Model):
    """A limit on one client's live leverage from outside trading's own rules, one per source: the
    appropriateness questionnaire's result ("kyc.assessed", recorded by trading.handlers). It applies
    on top of the brand's ceiling and the cap rules (trading.policy.leverage_limit): the lowest wins.
    `max_leverage` None: the source sets no limit now (kept so that the latest result is known)."""

    class Source(models.TextChoices):
        APPROPRIATENESS = "appropriateness", _("Appropriateness questionnaire")

    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="leverage_limits",
                               db_index=False)
    source = models.CharField(max_length=32, choices=Source.choices)
    max_leverage = models.PositiveIntegerField(null=True, blank=True)
    # What decided it, as the source named it (the questionnaire's level code), shown in refusals.
    reason = models.CharField(max_length=64, blank=True)
    reference = models.CharField(max_length=64, blank=True)  # the source's own record (a response's code)
    set_at = models.DateTimeField()  # when the source decided it; an older decision never replaces a newer
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            # One limit per source: the latest decision of each source counts.
            models.UniqueConstraint(fields=["client", "source"], name="clientleveragelimit_one_per_source"),
            models.CheckConstraint(condition=Q(max_leverage__isnull=True) | Q(max_leverage__gte=1),
                                   name="clientleveragelimit_leverage_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.source}: 1:{self.max_leverage}"


# Prop-trading challenges live in their own module; imported here so Django finds the models.
from trading.prop_models import (  # noqa: E402
    Challenge as Challenge,
)
from trading.prop_models import (  # noqa: E402
    ChallengeDecision as ChallengeDecision,
)
from trading.prop_models import (  # noqa: E402
    ChallengeEquityPoint as ChallengeEquityPoint,
)
from trading.prop_models import (  # noqa: E402
    ChallengeProduct as ChallengeProduct,
)


class Book(models.TextChoices):
    """Who carries a group's clients' risk: A-book, passed to a liquidity provider (the broker
    earns spread and commission, not the clients' losses); B-book, kept in house (the broker is
    the clients' counterparty)."""

    A = "a", _("A-book (hedged)")
    B = "b", _("B-book (in house)")


class TradingGroup(models.Model):
    """A platform group (an account's `group`) as the administrator describes it: its book.
    Groups without a row are of no stated book; the reporting hub shows them apart."""

    server = models.ForeignKey(PlatformServer, on_delete=models.CASCADE, related_name="groups", db_index=False)
    name = models.CharField(_("group"), max_length=64)
    book = models.CharField(_("book"), max_length=1, choices=Book.choices)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["server_id", "name"]
        constraints: ClassVar = [
            # One book per group of a server: the accounts' published view joins on it and must
            # keep one row per account.
            models.UniqueConstraint(fields=["server", "name"], name="tradinggroup_unique_per_server"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_book_display()})"


# --- lifecycles (crm.lib.states) ----------------------------------------------------------------------

def _balance_refused(old: str, new: str) -> str:
    return gettext("A balance operation that is %(from)s cannot become %(to)s.") % {
        "from": str(BalanceState(old).label).lower(), "to": str(BalanceState(new).label).lower()}


# PENDING until the platform answers: APPLIED (a ticket), FAILED (refused: nothing applied) or UNKNOWN
# (no answer), which only a look-up of the reference settles, as APPLIED or FAILED. Never sent twice.
BALANCE_STATES = StateMachine(
    name="balance operation", model="trading.BalanceOperation", states=BalanceState, state_field="state",
    transitions={
        BalanceState.PENDING: frozenset({BalanceState.APPLIED, BalanceState.FAILED, BalanceState.UNKNOWN}),
        BalanceState.UNKNOWN: frozenset({BalanceState.APPLIED, BalanceState.FAILED}),
        BalanceState.APPLIED: frozenset(),
        BalanceState.FAILED: frozenset(),
    },
    terminal=frozenset({BalanceState.APPLIED, BalanceState.FAILED}),
    error=BalanceOperationTransitionRefused, message=_balance_refused,
)
