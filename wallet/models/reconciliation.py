"""Reconciliation: a provider's settlement file imported line by line, each line matched to the
ledger's movements on that provider's clearing account (one to one, or one to many for a batched
payout), and what does not agree kept as a break for finance to resolve. Platform breaks (a trading
account's balance deals against its ledger mirror) live in the same queue.

Only wallet.reconciliation writes these tables; lines and matches are written set-based (COPY and
INSERT ... SELECT), never one ORM save per line.
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
from crm.lib.states import StateMachine
from wallet.exceptions import (
    ReconciliationBreakTransitionRefused,
    SettlementImportTransitionRefused,
    SettlementLineTransitionRefused,
)


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class SettlementImport(models.Model):
    """One settlement file of one provider. The same file (by its sha256) is taken once per provider;
    a file whose import failed may be imported again."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    provider = models.ForeignKey("wallet.PaymentProvider", on_delete=models.PROTECT, related_name="settlement_imports")
    # The brand whose money the file is about: the provider's only brand when it serves one (its
    # payment methods and clearing accounts); None for a provider shared by brands, whose files only
    # finance of every brand sees.
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to="settlements/%Y/%m/", max_length=300, blank=True)
    mapping = models.ForeignKey("wallet.SettlementMapping", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")
    mapping_name = models.CharField(_("mapping"), max_length=120)  # the saved one's, or the adapter's own
    status = models.CharField(_("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    error = models.TextField(_("error"), blank=True)
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    matched_count = models.PositiveIntegerField(_("matched"), default=0)
    break_count = models.PositiveIntegerField(_("breaks"), default=0)
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    job = models.ForeignKey("crm.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        permissions: ClassVar = [("reconcile", "Reconcile settlements and resolve breaks")]
        constraints: ClassVar = [
            # The same file twice would match nothing new and report every line as a duplicate:
            # refused up front (wallet.reconciliation checks it first to say so in words).
            models.UniqueConstraint(fields=["provider", "sha256"], condition=~Q(status="failed"),
                                    name="settlementimport_file_once"),
        ]

    def __str__(self) -> str:
        return self.file_name


class LineState(models.TextChoices):
    OPEN = "open", _("Unmatched")
    MATCHED = "matched", _("Matched")
    DUPLICATE = "duplicate", _("Duplicate")


class SettlementFileLine(models.Model):
    """One line of a settlement file as the provider wrote it (amount signed from our side: money in
    positive; fee positive, what the provider kept)."""

    # No foreign-key constraint in the database: an import writes a million lines of its own import
    # in one statement, and a check per line at commit cost more than writing them.
    settlement = models.ForeignKey(SettlementImport, on_delete=models.CASCADE, related_name="lines", db_index=False,
                                   db_constraint=False)
    row = models.PositiveIntegerField()
    provider_ref = models.CharField(max_length=200)
    merchant_ref = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=40)
    amount = MoneyAmountField()
    fee = MoneyAmountField()
    currency = CurrencyField()
    value_date = models.DateField()
    batch_id = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=LineState.choices, default=LineState.OPEN)

    class Meta:
        ordering: ClassVar = ["settlement", "row"]
        indexes: ClassVar = [
            models.Index(fields=["settlement", "row"], name="settlementfileline_row"),
            # Duplicates across files: a reference the provider already settled.
            models.Index(fields=["provider_ref"], name="settlementfileline_ref_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_ref} {amount_format(self.amount, self.currency)}"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


class MatchMethod(models.TextChoices):
    REFERENCE = "reference", _("By reference")
    TOLERANCE = "tolerance", _("By amount and date")
    BATCH = "batch", _("Batched payout")


class ReconciliationMatch(models.Model):
    """A line agreed with a ledger transaction; a batched payout's line has one row per payout."""

    # No foreign-key constraints in the database to the line and the ledger transaction: the import
    # writes both sides in one transaction from the same temporary tables, PostgreSQL refuses to delete
    # a ledger transaction anyway (migration 0002_ledger_sql), and Django cascades a deleted line's
    # matches itself; checked row by row at commit, a million matches cost more than the matching.
    # The deposit and the withdrawal are read from the same ledger transaction's reference, and
    # neither is ever deleted (money's history is kept).
    line = models.ForeignKey(SettlementFileLine, on_delete=models.CASCADE, related_name="matches",
                             db_constraint=False)
    transaction = models.ForeignKey("wallet.LedgerTransaction", on_delete=models.PROTECT, related_name="+",
                                    db_constraint=False)
    # Not indexed either: nothing looks matches up by deposit or withdrawal (a match is found by its
    # line or its ledger transaction), and each index is one more write per matched line.
    deposit = models.ForeignKey("wallet.Deposit", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                db_constraint=False, db_index=False)
    withdrawal = models.ForeignKey("wallet.Withdrawal", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", db_constraint=False, db_index=False)
    method = models.CharField(max_length=10, choices=MatchMethod.choices)
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        constraints: ClassVar = [
            # A movement of money is settled once: a second line claiming it is a duplicate.
            models.UniqueConstraint(fields=["transaction"], name="reconmatch_transaction_once"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} ~ {self.transaction_id}"


class BreakKind(models.TextChoices):
    MISSING_IN_LEDGER = "missing_in_ledger", _("Missing in the ledger")
    MISSING_AT_PROVIDER = "missing_at_provider", _("Missing at the provider")
    AMOUNT_MISMATCH = "amount_mismatch", _("Amount differs")
    FEE_MISMATCH = "fee_mismatch", _("Fee differs")
    CURRENCY_MISMATCH = "currency_mismatch", _("Currency differs")
    DUPLICATE = "duplicate", _("Duplicate")
    PLATFORM_MISMATCH = "platform_mismatch", _("Platform balance differs")


class BreakStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class Resolution(models.TextChoices):
    POST_FEE = "post_fee", _("Post the fee difference")
    WRITE_OFF = "write_off", _("Write the difference off to suspense")
    TIMING = "timing", _("Timing difference: matched later")
    MATCHED = "matched", _("Matched when the movement reached the ledger")
    DUPLICATE = "duplicate", _("Confirmed duplicate: nothing to post")
    CLEARED = "cleared", _("Cleared by a later reconciliation")


class ReconciliationBreak(models.Model):
    """Something the provider's file (or the platform) and the ledger disagree on. Amounts are as
    the provider sees them (money in positive): ``difference = provider_amount - ledger_amount``;
    for a fee, ``provider_fee - ledger_fee``."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    kind = models.CharField(_("kind"), max_length=20, choices=BreakKind.choices)
    status = models.CharField(_("status"), max_length=10, choices=BreakStatus.choices, default=BreakStatus.OPEN)
    provider = models.ForeignKey("wallet.PaymentProvider", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    # Whose money it is (finance limited to brands sees only theirs): the brand of the movement's
    # clearing account, of the trading account's client, or of the file; None: house-wide.
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    settlement = models.ForeignKey(SettlementImport, on_delete=models.CASCADE, null=True, blank=True,
                                   related_name="breaks")
    line = models.ForeignKey(SettlementFileLine, on_delete=models.CASCADE, null=True, blank=True, related_name="breaks")
    transaction = models.ForeignKey("wallet.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    trading_account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+")
    currency = CurrencyField()  # the ledger's (the provider's when the ledger has nothing)
    provider_currency = models.CharField(max_length=10, blank=True)
    provider_amount = MoneyAmountField(null=True, blank=True)
    ledger_amount = MoneyAmountField(null=True, blank=True)
    difference = MoneyAmountField(default=0)
    provider_fee = MoneyAmountField(null=True, blank=True)
    ledger_fee = MoneyAmountField(null=True, blank=True)
    occurred_on = models.DateField()  # the value date (or the ledger's day): the break's age counts from it
    created_at = models.DateTimeField(db_default=models.functions.Now())
    resolution = models.CharField(_("resolution"), max_length=12, choices=Resolution.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    adjustment = models.ForeignKey("wallet.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering: ClassVar = ["occurred_on", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(status="open", resolved_at__isnull=True, resolution="")
                                   | Q(status="resolved", resolved_at__isnull=False) & ~Q(resolution=""),
                                   name="reconbreak_resolved_has_resolution"),
            # A movement is reported missing at the provider once while it stays open, however many
            # files cover its day; a trading account has one open platform break.
            models.UniqueConstraint(fields=["transaction", "kind"], condition=Q(status="open", line__isnull=True),
                                    name="reconbreak_ledger_side_once"),
            models.UniqueConstraint(fields=["trading_account"],
                                    condition=Q(status="open", kind="platform_mismatch"),
                                    name="reconbreak_platform_once"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["status", "provider", "kind", "occurred_on"], name="reconbreak_queue_idx"),
            # The queue of finance limited to brands.
            models.Index(fields=["brand", "status", "occurred_on"], name="reconbreak_brand_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.code}"


def _break_refused(old: str, new: str) -> str:
    return gettext("A break that is %(from)s cannot become %(to)s: it was resolved already.") % {
        "from": str(BreakStatus(old).label).lower(), "to": str(BreakStatus(new).label).lower()}


# A break is open until finance resolves it (wallet.reconciliation.break_resolve) or a later import or
# platform pass clears it; resolved is final (a new difference is a new break). The set-based passes
# (matching again, clearing) resolve in SQL with the same guard: `WHERE status = 'open'`.
BREAK_STATES = StateMachine(
    name="reconciliation break", model="wallet.ReconciliationBreak", states=BreakStatus,
    transitions={BreakStatus.OPEN: frozenset({BreakStatus.RESOLVED}), BreakStatus.RESOLVED: frozenset()},
    terminal=frozenset({BreakStatus.RESOLVED}), error=ReconciliationBreakTransitionRefused, message=_break_refused,
)


def _import_refused(old: str, new: str) -> str:
    return gettext("A settlement import that is %(from)s cannot become %(to)s.") % {
        "from": str(ImportStatus(old).label).lower(), "to": str(ImportStatus(new).label).lower()}


# An import is queued until its job runs it (a job run again after its worker died finds it running
# and runs it again, without a move); it ends done, or failed with the reason and nothing of the file
# kept (the same file may then be imported again: a new import). wallet.reconciliation.settlement_import_run.
IMPORT_STATES = StateMachine(
    name="settlement import", model="wallet.SettlementImport", states=ImportStatus,
    transitions={ImportStatus.QUEUED: frozenset({ImportStatus.RUNNING}),
                 ImportStatus.RUNNING: frozenset({ImportStatus.DONE, ImportStatus.FAILED}),
                 ImportStatus.DONE: frozenset(), ImportStatus.FAILED: frozenset()},
    terminal=frozenset({ImportStatus.DONE, ImportStatus.FAILED}), error=SettlementImportTransitionRefused,
    message=_import_refused,
)


def _line_refused(old: str, new: str) -> str:
    return gettext("A settlement line that is %(from)s cannot become %(to)s.") % {
        "from": str(LineState(old).label).lower(), "to": str(LineState(new).label).lower()}


# A line is written by its import as matched, duplicate or unmatched (open); an unmatched one is
# matched later when its movement reaches the ledger (wallet.reconciliation._rematch_locked, set-based:
# `WHERE state = ANY(LINE_STATES.sources(MATCHED))`). Matched and duplicate lines stay so.
LINE_STATES = StateMachine(
    name="settlement line", model="wallet.SettlementFileLine", states=LineState, state_field="state",
    transitions={LineState.OPEN: frozenset({LineState.MATCHED}), LineState.MATCHED: frozenset(),
                 LineState.DUPLICATE: frozenset()},
    terminal=frozenset({LineState.MATCHED, LineState.DUPLICATE}), error=SettlementLineTransitionRefused,
    message=_line_refused,
)
