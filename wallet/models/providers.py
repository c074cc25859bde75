"""Payment providers and how they are used: the provider configuration (credentials encrypted at
rest), the payment-method rules per brand and country (currencies, limits, fees), the webhook
inbox, the saved settlement-file mappings and the incoming bank wires finance records."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.crypto import FieldCipher, Undecryptable
from crm.lib.money import CurrencyField, Money, MoneyAmountField, amount_format
from crm.lib.states import StateMachine
from crm.lib.webhooks import accepted_once
from crm.models import ReceivedWebhook
from plumbing.context import history_user
from wallet.exceptions import BankWireTransitionRefused, ProviderNotConfigured
from wallet.providers.base import ProviderConfig
from wallet.providers.settlement import ColumnMapping

CIPHER = FieldCipher(salt=b"brokerage-crm/wallet.providers", info=b"payment provider secrets v1",
                     what="payment provider credentials")


class AdapterKind(models.TextChoices):
    SIMULATOR = "simulator", _("PSP simulator")
    BANK_WIRE = "bank_wire", _("Bank wire")
    PRAXIS = "praxis", _("Praxis Cashier")
    COINSPAID = "coinspaid", _("CoinsPaid")
    PAYSAFE = "paysafe", _("Paysafe (Skrill, Neteller)")


class MethodKind(models.TextChoices):
    CARD = "card", _("Card")
    EWALLET = "ewallet", _("E-wallet")
    CRYPTO = "crypto", _("Crypto")
    BANK_WIRE = "bank_wire", _("Bank wire")
    # The e-wallets a client picks by name (through Paysafe: wallet.providers.paysafe).
    SKRILL = "skrill", _("Skrill")
    NETELLER = "neteller", _("Neteller")


class Direction(models.TextChoices):
    DEPOSIT = "deposit", _("Deposit")
    WITHDRAWAL = "withdrawal", _("Withdrawal")


class PaymentProvider(models.Model):
    """A payment provider the brokerage has an account with, and how to reach it. Secrets are
    stored encrypted (crm.lib.crypto with this purpose's salt) and never shown again once saved."""

    code = models.SlugField(_("code"), max_length=40, unique=True,
                            help_text=_("Short name in webhook URLs: /wallet/webhooks/<code>/."))
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("adapter"), max_length=20, choices=AdapterKind.choices)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    base_url = models.URLField(_("API base URL"), max_length=300, blank=True)
    api_key = models.CharField(_("API key"), max_length=200, blank=True)
    api_secret_encrypted = models.TextField(blank=True, editable=False)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    timeout_seconds = models.PositiveSmallIntegerField(_("timeout (s)"), default=10)
    retries = models.PositiveSmallIntegerField(_("retries of idempotent calls"), default=2)
    webhook_tolerance_seconds = models.PositiveIntegerField(_("webhook timestamp tolerance (s)"), default=300)
    # Adapter-specific: for a bank wire the brand's account (beneficiary, iban, bic, bank_name ...).
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user,
                                excluded_fields=["api_secret_encrypted", "webhook_secret_encrypted"])

    class Meta:
        ordering = ["name"]
        permissions = [("manage_providers", "Manage payment providers and methods")]

    def __str__(self) -> str:
        return self.name

    def set_secrets(self, *, api_secret: str | None = None, webhook_secret: str | None = None) -> None:
        if api_secret is not None:
            self.api_secret_encrypted = CIPHER.encrypt(api_secret) if api_secret else ""
        if webhook_secret is not None:
            self.webhook_secret_encrypted = CIPHER.encrypt(webhook_secret) if webhook_secret else ""

    set_secrets.alters_data = True  # type: ignore[attr-defined]  # Django's mark for templates, unknown to typeshed

    def config(self) -> ProviderConfig:
        """The adapter's configuration with the secrets decrypted."""
        try:
            api_secret = CIPHER.decrypt(self.api_secret_encrypted) if self.api_secret_encrypted else ""
            webhook_secret = CIPHER.decrypt(self.webhook_secret_encrypted) if self.webhook_secret_encrypted else ""
        except Undecryptable:
            raise ProviderNotConfigured(gettext("The provider's secrets cannot be decrypted; enter them again.")) from None
        return ProviderConfig(code=self.code, base_url=self.base_url, api_key=self.api_key, api_secret=api_secret,
                              webhook_secret=webhook_secret, timeout=float(self.timeout_seconds),
                              retries=self.retries, webhook_tolerance_seconds=self.webhook_tolerance_seconds,
                              settings=dict(self.settings or {}))

    @property
    def manual_payout(self) -> bool:
        """Finance pays this provider's withdrawals from the bank by hand (no payout API)."""
        from wallet.providers import adapter_class

        cls = adapter_class(self.kind)
        return bool(cls is not None and cls.manual_payout)

    @property
    def standing_addresses(self) -> bool:
        """A deposit's address takes further payments, each a deposit of its own (crypto)."""
        from wallet.providers import adapter_class

        cls = adapter_class(self.kind)
        return bool(cls is not None and cls.standing_addresses)

    def adapter(self) -> Any:
        from wallet.providers import adapter_build

        return adapter_build(self.kind, self.config())


class PaymentMethod(models.Model):
    """A way to pay in or out offered to a brand's clients, in one country or every country
    (country ""); a country's own rule for a method replaces the every-country one. Its currencies,
    with their limits and fees, are ``PaymentMethodCurrency`` rows."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="payment_methods")
    country = models.CharField(_("country"), max_length=2, blank=True,
                               help_text=_("ISO code; empty: every country without a rule of its own."))
    method = models.CharField(_("method"), max_length=20, choices=MethodKind.choices)
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    provider = models.ForeignKey(PaymentProvider, on_delete=models.PROTECT, related_name="methods")
    label = models.CharField(_("label shown to clients"), max_length=120, blank=True)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand", "direction", "order", "method"]
        constraints = [
            # One rule per method and country of a brand and direction: the selector must never
            # have to choose between two rules that both claim the same case.
            models.UniqueConstraint(fields=["brand", "country", "method", "direction"],
                                    name="wallet_method_one_rule_per_country"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} ({self.country or '*'}, {self.get_direction_display()})"


class PaymentMethodCurrency(models.Model):
    """A currency a method takes, its minimum and maximum per operation, and its fee
    (fixed + percent of the amount, in that currency)."""

    method = models.ForeignKey(PaymentMethod, on_delete=models.CASCADE, related_name="currencies")
    currency = CurrencyField()
    min_amount = MoneyAmountField(_("minimum"), default=Decimal(0))
    max_amount = MoneyAmountField(_("maximum"), null=True, blank=True)
    fee_fixed = MoneyAmountField(_("fixed fee"), default=Decimal(0))
    fee_percent = models.DecimalField(_("fee (%)"), max_digits=7, decimal_places=4, default=Decimal(0))
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["method", "currency"], name="wallet_method_currency_once"),
            models.CheckConstraint(condition=Q(min_amount__gte=0) & Q(fee_fixed__gte=0) & Q(fee_percent__gte=0),
                                   name="wallet_method_currency_not_negative"),
            models.CheckConstraint(condition=Q(max_amount__isnull=True) | Q(max_amount__gte=models.F("min_amount")),
                                   name="wallet_method_currency_max_above_min"),
        ]

    def __str__(self) -> str:
        return self.currency


class WebhookOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate")
    REFUSED_BAD_SIGNATURE = "refused:bad_signature", _("Refused: bad signature")
    REFUSED_STALE = "refused:stale", _("Refused: stale timestamp")
    REFUSED_MALFORMED = "refused:malformed", _("Refused: malformed")
    UNKNOWN_PAYMENT = "unknown_payment", _("Unknown payment")
    UNKNOWN_PROVIDER = "unknown_provider", _("Unknown provider")


class WebhookDelivery(ReceivedWebhook):
    """Every notification received from a provider, kept raw with what we made of it. Accepted
    ones are unique per provider and event id: that is how a repeated webhook changes nothing,
    however many copies arrive at once."""

    provider = models.ForeignKey(PaymentProvider, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="webhook_deliveries")
    provider_code = models.CharField(max_length=40)  # as in the URL, also for unknown providers
    kind = models.CharField(max_length=40, blank=True)
    provider_ref = models.CharField(max_length=200, blank=True)
    merchant_ref = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=40, choices=WebhookOutcome.choices)
    # An accepted notification stored to be applied later, in a batch (wallet.webhook_batches): True
    # until it is applied; ``message`` keeps what its adapter read from it (the signature held).
    pending = models.BooleanField(default=False, db_default=False)
    message = models.JSONField(null=True, blank=True)

    class Meta(ReceivedWebhook.Meta):
        constraints = [accepted_once("provider", name="wallet_webhook_accepted_once")]
        indexes = [models.Index(fields=["provider", "merchant_ref"], name="wallet_webhook_merchant_ref"),
                   # The batches' and the sweep's look-up: only rows still to apply are in it.
                   models.Index(fields=["id"], condition=Q(pending=True), name="wallet_webhook_pending")]

    def __str__(self) -> str:
        return f"{self.provider_code} {self.event_id} {self.outcome}"


class SettlementFileType(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class SignConvention(models.TextChoices):
    SIGNED = "signed", _("Amounts carry their sign")
    BY_KIND = "by_kind", _("Amounts are positive; the type says in or out")


class SettlementMapping(models.Model):
    """How to read one provider's settlement report without code: which column holds which field,
    how dates and numbers are written, what the provider's words for the line types mean."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    provider = models.ForeignKey(PaymentProvider, on_delete=models.CASCADE, related_name="settlement_mappings")
    name = models.CharField(_("name"), max_length=120)
    file_type = models.CharField(_("file type"), max_length=4, choices=SettlementFileType.choices,
                                 default=SettlementFileType.CSV)
    header_row = models.PositiveSmallIntegerField(_("header row"), default=1,
                                                  help_text=_("Line of the column names; 0: none (columns by number)."))
    delimiter = models.CharField(_("delimiter"), max_length=1, default=",")
    # {"provider_ref": "Transaction ID", "merchant_ref": "Order", "kind": "Type", "amount": "Gross",
    #  "currency": "Currency", "fee": "Fee", "value_date": "Value date", "batch_id": "Batch"}
    columns = models.JSONField(_("columns"), default=dict)
    date_format = models.CharField(_("date format"), max_length=40, default="%Y-%m-%d")
    decimal_separator = models.CharField(_("decimal separator"), max_length=1, default=".")
    thousands_separator = models.CharField(_("thousands separator"), max_length=1, blank=True)
    sign = models.CharField(_("signs"), max_length=10, choices=SignConvention.choices, default=SignConvention.SIGNED)
    negative_kinds = models.JSONField(_("money-out types"), default=list, blank=True)
    fee_negative = models.BooleanField(_("fees written as negative numbers"), default=False)
    kinds = models.JSONField(_("type names"), default=dict, blank=True)  # {"SALE": "payment", "RFND": "refund"}
    skip_kinds = models.JSONField(_("types to leave out"), default=list, blank=True)
    default_currency = models.CharField(_("currency when the file has none"), max_length=10, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["provider", "name"]
        constraints = [models.UniqueConstraint(fields=["provider", "name"], name="wallet_settlement_mapping_name")]

    def __str__(self) -> str:
        return self.name

    def column_mapping(self) -> ColumnMapping:
        return ColumnMapping(
            columns=dict(self.columns or {}), file_type=self.file_type, header_row=self.header_row,
            delimiter=self.delimiter or ",", date_format=self.date_format,
            decimal_separator=self.decimal_separator or ".", thousands_separator=self.thousands_separator,
            sign=self.sign, negative_kinds=tuple(self.negative_kinds or ("refund", "payout", "chargeback")),
            fee_negative=self.fee_negative, kinds={str(k): str(v) for k, v in (self.kinds or {}).items()},
            default_currency=self.default_currency, skip_kinds=tuple(self.skip_kinds or ()))


class BankWireStatus(models.TextChoices):
    UNMATCHED = "unmatched", _("Unmatched")
    MATCHED = "matched", _("Matched")
    RETURNED = "returned", _("Returned to the payer")


class BankWireIncoming(models.Model):
    """A wire that arrived on the brokerage's account, as finance recorded it from the bank
    statement. The deposit code matches it (wallet.providers.bank_wire.wire_candidates) and
    records the match."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    provider = models.ForeignKey(PaymentProvider, on_delete=models.PROTECT, related_name="incoming_wires")
    amount = MoneyAmountField(_("amount"))
    currency = CurrencyField()
    reference_text = models.CharField(_("reference as written by the payer"), max_length=200, blank=True)
    reference = models.CharField(_("reference"), max_length=20, blank=True, db_index=True)  # normalised, if valid
    payer_name = models.CharField(_("payer"), max_length=200)
    payer_account = models.CharField(_("payer's account"), max_length=64, blank=True)
    value_date = models.DateField(_("value date"))
    bank_transaction_id = models.CharField(_("bank transaction id"), max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=BankWireStatus.choices, default=BankWireStatus.UNMATCHED)
    matched_merchant_ref = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                    related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-value_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallet_wire_amount_positive"),
            # The bank's own transaction id, when given, is recorded once: a statement imported twice
            # does not double a deposit.
            models.UniqueConstraint(fields=["provider", "bank_transaction_id"], condition=~Q(bank_transaction_id=""),
                                    name="wallet_wire_bank_transaction_once"),
        ]

    def __str__(self) -> str:
        return f"{amount_format(self.amount, self.currency)} {self.reference_text}"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


def _wire_refused(old: str, new: str) -> str:
    return gettext("A wire that is %(from)s cannot be %(to)s: it was settled already.") % {
        "from": str(BankWireStatus(old).label).lower(), "to": str(BankWireStatus(new).label).lower()}


# A wire finance recorded is unmatched until it is matched to the deposit it pays or returned to the
# payer, once (a wire matched by mistake is returned by the bank as a new movement, not unmatched).
WIRE_STATES = StateMachine(
    name="incoming wire", model="wallet.BankWireIncoming", states=BankWireStatus,
    transitions={BankWireStatus.UNMATCHED: frozenset({BankWireStatus.MATCHED, BankWireStatus.RETURNED}),
                 BankWireStatus.MATCHED: frozenset(), BankWireStatus.RETURNED: frozenset()},
    terminal=frozenset({BankWireStatus.MATCHED, BankWireStatus.RETURNED}), error=BankWireTransitionRefused,
    message=_wire_refused,
)
